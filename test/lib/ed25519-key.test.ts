/**
 * lib/ed25519-key.ts: the cached-KeyObject signer makes exactly libp2p's
 * signatures (Ed25519 is deterministic), and its verification agrees with
 * libp2p's on valid and damaged signatures.
 */
import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { Uint8ArrayList } from 'uint8arraylist'
import { ed25519PublicKeyObject, fastSigningKey, verifyEd25519With } from '../../lib/ed25519-key.js'

describe('fastSigningKey', () => {
  it('signs exactly as libp2p does and libp2p verifies it, for any message', async () => {
    const key = await generateKeyPair('Ed25519')
    const fast = fastSigningKey(key)
    const pub = ed25519PublicKeyObject(key.publicKey.raw)
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 2048 }), async (msg) => {
      const mine = await fast.sign(msg)
      assert.deepEqual(Buffer.from(mine), Buffer.from(await key.sign(msg)))
      assert.equal(await key.publicKey.verify(msg, mine), true)
      assert.equal(verifyEd25519With(pub, msg, mine), true)
    }), { numRuns: 200 })
  })

  it('is still the key to libp2p: type, raw, public key, equality, instanceof; wrapping twice is a no-op', async () => {
    const key = await generateKeyPair('Ed25519')
    const fast = fastSigningKey(key)
    assert.equal(fast.type, 'Ed25519')
    assert.deepEqual(fast.raw, key.raw)
    assert.ok(fast.publicKey.equals(key.publicKey))
    assert.ok(fast.equals(key))
    assert.ok(fast instanceof (key.constructor as new (...a: unknown[]) => unknown))
    assert.equal(fastSigningKey(fast), fast)
    // A Uint8ArrayList message, as libp2p's Noise passes, signs the same bytes.
    const list = new Uint8ArrayList(Uint8Array.of(1, 2), Uint8Array.of(3))
    assert.deepEqual(Buffer.from(await fast.sign(list)), Buffer.from(await key.sign(Uint8Array.of(1, 2, 3))))
  })

  it('honours an aborted signal', async () => {
    const fast = fastSigningKey(await generateKeyPair('Ed25519'))
    assert.throws(() => fast.sign(Uint8Array.of(1), { signal: AbortSignal.abort() }))
  })
})

describe('verifyEd25519With', () => {
  it('refuses any damaged signature or message, never throwing', async () => {
    const key = await generateKeyPair('Ed25519')
    const pub = ed25519PublicKeyObject(key.publicKey.raw)
    const msg = Uint8Array.of(9, 8, 7)
    const sig = await key.sign(msg)
    fc.assert(fc.property(fc.nat({ max: 63 }), fc.integer({ min: 1, max: 255 }), (i, x) => {
      const bad = Uint8Array.from(sig)
      bad[i] = bad[i]! ^ x
      assert.equal(verifyEd25519With(pub, msg, bad), false)
    }))
    assert.equal(verifyEd25519With(pub, Uint8Array.of(9, 8, 6), sig), false)
    assert.equal(verifyEd25519With(pub, msg, sig.subarray(0, 63)), false)
    assert.equal(verifyEd25519With(pub, msg, new Uint8Array(0)), false)
    assert.throws(() => ed25519PublicKeyObject(new Uint8Array(31)), TypeError)
  })
})
