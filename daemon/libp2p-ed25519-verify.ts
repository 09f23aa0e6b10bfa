/**
 * libp2p's Ed25519 signature checks with one node:crypto KeyObject per
 * public key, made once.
 *
 * `@libp2p/crypto` (5.1) builds a KeyObject from a JWK for every signature
 * an `Ed25519PublicKey` verifies: the key base64url-encoded, parsed and
 * imported again each time. gossipsub checks the origin's signature on every
 * message it receives (StrictSign), Noise the remote's identity on every
 * handshake, identify the signed peer record: while a network forms, that
 * import was as costly as the signature checks themselves (≈ 2.5 % of an
 * agent's CPU, docs/performance.md, twenty-fifth pass). mycel's own checks
 * already use cached key objects (wire/signing.ts, lib/ed25519-key.ts); this
 * gives libp2p's the same.
 *
 * The check is the same Ed25519 verification over the same bytes, so every
 * verdict is the library's. Keys and signatures of another length go to the
 * library's own method, which throws as it always did. The cache holds at
 * most `MAX_KEYS` keys and starts over when full (a key costs one import to
 * make again). test/daemon/libp2p-ed25519-verify.test.ts checks the
 * verdicts against node's own import of the same key over generated keys,
 * messages and altered signatures, on whichever version is installed: an
 * upgrade of @libp2p/crypto that changed what `verify` means fails it.
 * Upstream, the fix belongs in `Ed25519PublicKey.verify`.
 */
import { verify as verifyEd25519, type KeyObject } from 'node:crypto'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import type { PublicKey } from '@libp2p/interface'
import { ED25519_SIGNATURE_BYTES, ed25519PublicKeyObject } from '../lib/ed25519-key.js'

const PUBLIC_KEY_BYTES = 32
/** Distinct keys remembered: far more than the peers a node talks to; a flood of new keys only costs their imports. */
export const MAX_KEYS = 4_096

const INSTALLED = Symbol.for('mycel.libp2p-ed25519-verify')

type Verify = PublicKey['verify']

const keyObjects = new Map<string, KeyObject>()

function keyObjectFor (raw: Uint8Array): KeyObject {
  // latin1 maps each byte to one character: the 32 bytes themselves are the key.
  const id = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('latin1')
  let key = keyObjects.get(id)
  if (key === undefined) {
    key = ed25519PublicKeyObject(raw)
    if (keyObjects.size >= MAX_KEYS) keyObjects.clear()
    keyObjects.set(id, key)
  }
  return key
}

/** How many key objects are remembered (tests). */
export function rememberedKeys (): number {
  return keyObjects.size
}

/**
 * Put the cached-key check on `@libp2p/crypto`'s Ed25519 public keys, once
 * per process: every instance, made before or after, shares the prototype.
 */
export function installEd25519VerifyKeyCache (): void {
  const proto = Object.getPrototypeOf(publicKeyFromRaw(new Uint8Array(PUBLIC_KEY_BYTES))) as Record<PropertyKey, unknown> & { verify: Verify }
  if (proto[INSTALLED] === true) return
  const original = proto.verify
  // Nothing to wrap: a library whose keys verify elsewhere keeps its own way.
  if (typeof original !== 'function') return
  const verify: Verify = function (this: PublicKey, data, sig, options) {
    const raw = this.raw
    if (!(raw instanceof Uint8Array) || raw.byteLength !== PUBLIC_KEY_BYTES || !(sig instanceof Uint8Array) || sig.byteLength !== ED25519_SIGNATURE_BYTES) {
      return original.call(this, data, sig, options)
    }
    options?.signal?.throwIfAborted()
    return verifyEd25519(null, data instanceof Uint8Array ? data : data.subarray(), keyObjectFor(raw), sig)
  }
  Object.defineProperty(proto, 'verify', { value: verify, writable: true, configurable: true })
  Object.defineProperty(proto, INSTALLED, { value: true })
}
