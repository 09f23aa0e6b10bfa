/**
 * libp2p's Ed25519 checks with cached key objects (daemon/libp2p-ed25519-verify.ts):
 * the same verdict as the library's own method over generated keys,
 * messages and signatures, for keys made before and after it is installed;
 * one key object per key, shared with mycel's own checks and bounded; an aborted signal and odd
 * lengths still refused as the library refuses them.
 */
import assert from 'node:assert/strict'
import { createPublicKey, verify as nodeVerify } from 'node:crypto'
import fc from 'fast-check'
import { generateKeyPair, publicKeyFromRaw } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { Uint8ArrayList } from 'uint8arraylist'
import { installEd25519VerifyKeyCache } from '../../daemon/libp2p-ed25519-verify.js'
import { MAX_CACHED_PUBLIC_KEYS, cachedPublicKeyObjects } from '../../lib/ed25519-key.js'

/** The library's check, as it was: the key imported from a JWK for this one signature. */
function reference (raw: Uint8Array, data: Uint8Array, sig: Uint8Array): boolean {
  const key = createPublicKey({ format: 'jwk', key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') } })
  return nodeVerify(null, data, key, sig)
}

describe('libp2p Ed25519 verification with cached key objects', () => {
  let keys: PrivateKey[]
  let early: ReturnType<typeof publicKeyFromRaw>

  before(async () => {
    keys = await Promise.all(Array.from({ length: 4 }, async () => await generateKeyPair('Ed25519')))
    // Made before the install: the prototype is shared, so it gets the new check too.
    early = publicKeyFromRaw(keys[0].publicKey.raw)
    installEd25519VerifyKeyCache()
    installEd25519VerifyKeyCache()
  })

  it('gives the library\'s verdict on good, altered and foreign signatures (generated)', async () => {
    await fc.assert(fc.asyncProperty(
      fc.nat({ max: 3 }), fc.nat({ max: 3 }), fc.uint8Array({ maxLength: 300 }),
      fc.constantFrom('good', 'flip-sig', 'flip-data', 'other-key'),
      fc.nat(),
      async (signer, checker, data, how, at) => {
        const sig = await keys[signer].sign(data)
        let msg = data
        let s = sig
        let key = publicKeyFromRaw(keys[signer].publicKey.raw)
        if (how === 'flip-sig') { s = Uint8Array.from(sig); s[at % s.length] ^= 1 }
        if (how === 'flip-data' && data.length > 0) { msg = Uint8Array.from(data); msg[at % msg.length] ^= 0x80 }
        if (how === 'other-key') key = publicKeyFromRaw(keys[checker].publicKey.raw)
        const got = await key.verify(msg, s)
        assert.equal(got, reference(key.raw, msg, s))
        if (how === 'good') assert.equal(got, true)
        // Data in pieces, as libp2p's streams hand it over.
        const list = new Uint8ArrayList(msg.subarray(0, msg.length >> 1), msg.subarray(msg.length >> 1))
        assert.equal(await key.verify(list, s), got)
      }), { numRuns: 200 })
  })

  it('applies to keys made before it was installed, and keeps one key object per key', async () => {
    const data = Uint8Array.from([1, 2, 3])
    assert.equal(await early.verify(data, await keys[0].sign(data)), true)
    const fresh = await generateKeyPair('Ed25519')
    const sig = await fresh.sign(data)
    const n0 = cachedPublicKeyObjects()
    assert.equal(await fresh.publicKey.verify(data, sig), true)
    assert.equal(cachedPublicKeyObjects(), n0 + 1, 'a new key: one key object')
    for (let i = 0; i < 10; i++) assert.equal(await publicKeyFromRaw(fresh.publicKey.raw).verify(data, sig), true)
    assert.equal(cachedPublicKeyObjects(), n0 + 1, 'the same key again, through other instances: no new key object')
  })

  it('stays bounded: a flood of keys starts the cache over', () => {
    const data = Uint8Array.from([7])
    const sig = new Uint8Array(64)
    let most = 0
    for (let i = 0; i <= MAX_CACHED_PUBLIC_KEYS; i++) {
      const raw = new Uint8Array(32)
      new DataView(raw.buffer).setUint32(0, i + 1)
      raw[31] = 0x5a
      assert.equal(publicKeyFromRaw(raw).verify(data, sig), false)
      most = Math.max(most, cachedPublicKeyObjects())
    }
    assert.equal(most, MAX_CACHED_PUBLIC_KEYS)
    assert.ok(cachedPublicKeyObjects() < MAX_CACHED_PUBLIC_KEYS, `${cachedPublicKeyObjects()} keys after the flood`)
  })

  it('throws on an aborted signal before checking, as the library does', async () => {
    const data = Uint8Array.from([1])
    const sig = await keys[2].sign(data)
    assert.throws(() => publicKeyFromRaw(keys[2].publicKey.raw).verify(data, sig, { signal: AbortSignal.abort() }), /abort/i)
  })

  it('refuses a signature of the wrong length as the library does', () => {
    const key = publicKeyFromRaw(keys[1].publicKey.raw)
    assert.throws(() => key.verify(Uint8Array.from([1]), new Uint8Array(63)), /64 bytes/)
  })
})
