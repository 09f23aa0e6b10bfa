import { expect } from 'chai'
import fc from 'fast-check'
import { generateKeyPair, generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromMultihash, peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { decode as decodeDigest } from 'multiformats/hashes/digest'
import { PeerIdCache, peerIdOf } from '../../wire/peer-ids.js'
import { publicKeyOf } from '../../wire/signing.js'
import { PROPERTY_RUNS } from '../helpers/wire-evolution.js'

async function idFromSeed (seed: Uint8Array): Promise<string> {
  return peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', seed)).toString()
}

/** Distinct valid Ed25519 ids without a key generation each: the identity multihash of a made-up 32-byte key. */
const template = peerIdFromString('12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA').toMultihash().bytes
function madeUpId (i: number): string {
  const mh = template.slice()
  new DataView(mh.buffer, mh.byteLength - 4).setUint32(0, i)
  return peerIdFromMultihash(decodeDigest(mh)).toString()
}


describe('peer ids parsed once (wire/peer-ids.ts)', () => {
  it('gives the peer id libp2p parses, one object per Ed25519 id string', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ minLength: 32, maxLength: 32 }), async seed => {
      const id = await idFromSeed(seed)
      const ours = peerIdOf(id)
      const theirs = peerIdFromString(id)
      expect(ours.equals(theirs)).to.equal(true)
      expect(ours.toString()).to.equal(id)
      expect(ours.type).to.equal('Ed25519')
      expect(Buffer.from(ours.publicKey?.raw ?? []).equals(Buffer.from(theirs.publicKey?.raw ?? [1]))).to.equal(true)
      expect(peerIdOf(id)).to.equal(ours)
    }), { numRuns: PROPERTY_RUNS })
  })

  it('throws what libp2p throws for a string that is not a peer id, every time', () => {
    const looksLikeOne = fc.tuple(fc.constantFrom('', '1', 'Q', '12D3KooW', '16Uiu2', 'bafz', 'Qm'), fc.string({ maxLength: 60 })).map(([p, s]) => p + s)
    fc.assert(fc.property(looksLikeOne, s => {
      let expected: string | undefined
      try { peerIdFromString(s) } catch (err) { expected = (err as Error).name }
      fc.pre(expected !== undefined)
      for (let i = 0; i < 2; i++) expect(() => peerIdOf(s)).to.throw().with.property('name', expected)
    }), { numRuns: PROPERTY_RUNS })
  })

  it('keeps no id of another kind, and signatures still refuse them, every time', async () => {
    // RSA (a sha256 multihash, Qm…) and secp256k1 (16Uiu2…): libp2p parses both, no mycel node has either.
    const otherKinds = ['QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N', peerIdFromPrivateKey(await generateKeyPair('secp256k1')).toString()]
    const cache = new PeerIdCache(8)
    for (const id of otherKinds) {
      const first = cache.of(id)
      expect(first.toString()).to.equal(id)
      expect(first.type).to.not.equal('Ed25519')
      expect(cache.of(id)).to.not.equal(first)
      for (let i = 0; i < 2; i++) expect(() => publicKeyOf(id)).to.throw().with.property('name', 'InvalidSignatureError')
    }
    expect(cache.size).to.equal(0)
  })

  it('is cleared when full: the ids after it are kept, the ones before parsed again, the answers right', () => {
    const cache = new PeerIdCache(16)
    const first = cache.of(madeUpId(0))
    for (let i = 1; i < 16; i++) cache.of(madeUpId(i))
    expect(cache.size).to.equal(16)
    expect(cache.of(madeUpId(0))).to.equal(first)
    const seventeenth = cache.of(madeUpId(16))
    expect(cache.size).to.equal(1)
    expect(cache.of(madeUpId(16))).to.equal(seventeenth)
    const again = cache.of(madeUpId(0))
    expect(again).to.not.equal(first)
    expect(again.equals(first)).to.equal(true)
    expect(again.toString()).to.equal(madeUpId(0))
  })
})
