import { expect } from 'chai'
import fc from 'fast-check'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromMultihash, peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { decode as decodeDigest } from 'multiformats/hashes/digest'
import { peerIdOf } from '../../wire/peer-ids.js'
import { PROPERTY_RUNS } from '../helpers/wire-evolution.js'

async function idFromSeed (seed: Uint8Array): Promise<string> {
  return peerIdFromPrivateKey(await generateKeyPairFromSeed('Ed25519', seed)).toString()
}

describe('peer ids parsed once (wire/peer-ids.ts)', () => {
  it('gives the peer id libp2p parses, one object per id string', async () => {
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
    fc.assert(fc.property(fc.string({ maxLength: 60 }), s => {
      let expected: string | undefined
      try { peerIdFromString(s) } catch (err) { expected = (err as Error).name }
      fc.pre(expected !== undefined)
      for (let i = 0; i < 2; i++) expect(() => peerIdOf(s)).to.throw().with.property('name', expected)
    }), { numRuns: PROPERTY_RUNS })
  })

  it('keeps answering right past its bound (cleared when full, parsed again)', async () => {
    const first = await idFromSeed(new Uint8Array(32).fill(1))
    const held = peerIdOf(first)
    for (let i = 0; i < 10_050; i++) expect(peerIdOf(madeUpId(i)).toString()).to.equal(madeUpId(i))
    const again = peerIdOf(first)
    expect(again.equals(held)).to.equal(true)
    expect(again.toString()).to.equal(first)
  })
})

/** Distinct valid ids without a key generation each: the identity multihash of a made-up 32-byte Ed25519 key. */
const template = peerIdFromString('12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA').toMultihash().bytes
function madeUpId (i: number): string {
  const mh = template.slice()
  new DataView(mh.buffer, mh.byteLength - 4).setUint32(0, i)
  return peerIdFromMultihash(decodeDigest(mh)).toString()
}
