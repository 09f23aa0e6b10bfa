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
 * agent's CPU, docs/performance.md, twenty-fifth pass). This gives libp2p's
 * checks the key objects mycel's own use (wire/signing.ts): one per key,
 * from `cachedEd25519PublicKeyObject` (lib/ed25519-key.ts).
 *
 * The check is the same Ed25519 verification over the same bytes, so every
 * verdict is the library's. Keys and signatures of another length go to the
 * library's own method, which throws as it always did.
 * test/daemon/libp2p-ed25519-verify.test.ts checks the verdicts against
 * node's own import of the same key over generated keys, messages and
 * altered signatures, on whichever version is installed: an upgrade of
 * @libp2p/crypto that changed what `verify` means fails it.
 * Upstream, the fix belongs in `Ed25519PublicKey.verify`.
 */
import { verify as verifyEd25519 } from 'node:crypto'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import type { PublicKey } from '@libp2p/interface'
import { ED25519_PUBLIC_KEY_BYTES, ED25519_SIGNATURE_BYTES, cachedEd25519PublicKeyObject } from '../lib/ed25519-key.js'

const INSTALLED = Symbol.for('mycel.libp2p-ed25519-verify')

type Verify = PublicKey['verify']

/**
 * Put the cached-key check on `@libp2p/crypto`'s Ed25519 public keys, once
 * per process: every instance, made before or after, shares the prototype.
 */
export function installEd25519VerifyKeyCache (): void {
  const proto = Object.getPrototypeOf(publicKeyFromRaw(new Uint8Array(ED25519_PUBLIC_KEY_BYTES))) as Record<PropertyKey, unknown> & { verify: Verify }
  if (proto[INSTALLED] === true) return
  const original = proto.verify
  // Nothing to wrap: a library whose keys verify elsewhere keeps its own way.
  if (typeof original !== 'function') return
  const verify: Verify = function (this: PublicKey, data, sig, options) {
    const raw = this.raw
    if (!(raw instanceof Uint8Array) || raw.byteLength !== ED25519_PUBLIC_KEY_BYTES || !(sig instanceof Uint8Array) || sig.byteLength !== ED25519_SIGNATURE_BYTES) {
      return original.call(this, data, sig, options)
    }
    options?.signal?.throwIfAborted()
    return verifyEd25519(null, data instanceof Uint8Array ? data : data.subarray(), cachedEd25519PublicKeyObject(raw), sig)
  }
  Object.defineProperty(proto, 'verify', { value: verify, writable: true, configurable: true })
  Object.defineProperty(proto, INSTALLED, { value: true })
}
