/**
 * Ed25519 signing and verification with node:crypto key objects built once.
 *
 * Why: @libp2p/crypto's Ed25519 keys rebuild a node:crypto KeyObject from a
 * JWK on every sign() and verify(); a CPU profile of an idle agent showed
 * that (getKeyObjectHandleFromJwk) costing more than the signatures
 * themselves, on every lease renewal, health report, gossip publication
 * (StrictSign) and verification. The signatures are the same bytes: Ed25519
 * is deterministic (RFC 8032), so a key signed here and one signed by
 * libp2p produce identical signatures, which the unit test checks.
 */
import { createPrivateKey, createPublicKey, sign as signEd25519, verify as verifyEd25519, type KeyObject } from 'node:crypto'
import type { PrivateKey } from '@libp2p/interface'

/** Ed25519 seed (private scalar source) length, bytes; libp2p's raw private key is seed || public key. */
const SEED_BYTES = 32
/** Raw Ed25519 public key length, bytes. */
export const ED25519_PUBLIC_KEY_BYTES = 32
/** Ed25519 signature length, bytes. */
export const ED25519_SIGNATURE_BYTES = 64
/** DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): the 32 raw key bytes follow. */
const ED25519_SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00])

const FAST = Symbol('mycel.fastEd25519')

/**
 * `key` with a sign() that uses one KeyObject made now; every other property
 * (type, raw, publicKey, equals) is the key's own, and instanceof still
 * holds, so libp2p (Noise, gossipsub, the DHT) takes it as the key itself.
 * Keys of another type come back unchanged.
 */
export function fastSigningKey (key: PrivateKey): PrivateKey {
  if (key.type !== 'Ed25519' || (key as unknown as Record<symbol, unknown>)[FAST] === true) return key
  const raw = key.raw
  const keyObject = createPrivateKey({
    format: 'jwk',
    key: { kty: 'OKP', crv: 'Ed25519', d: Buffer.from(raw.subarray(0, SEED_BYTES)).toString('base64url'), x: Buffer.from(raw.subarray(SEED_BYTES, SEED_BYTES + ED25519_PUBLIC_KEY_BYTES)).toString('base64url') }
  })
  const fast = Object.create(Object.getPrototypeOf(key) as object, Object.getOwnPropertyDescriptors(key)) as PrivateKey & Record<symbol, unknown>
  Object.defineProperty(fast, FAST, { value: true })
  fast.sign = (message, options) => {
    options?.signal?.throwIfAborted()
    return signEd25519(null, message instanceof Uint8Array ? message : message.subarray(), keyObject)
  }
  return fast
}

/** A KeyObject for a raw 32-byte Ed25519 public key. Throws on a key of another length. */
export function ed25519PublicKeyObject (raw: Uint8Array): KeyObject {
  if (raw.byteLength !== ED25519_PUBLIC_KEY_BYTES) throw new TypeError(`an Ed25519 public key is ${ED25519_PUBLIC_KEY_BYTES} bytes, not ${raw.byteLength}`)
  const spki = new Uint8Array(ED25519_SPKI_PREFIX.byteLength + ED25519_PUBLIC_KEY_BYTES)
  spki.set(ED25519_SPKI_PREFIX, 0)
  spki.set(raw, ED25519_SPKI_PREFIX.byteLength)
  return createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' })
}

/**
 * Key objects made once per public key, for every check in the process
 * (wire/signing.ts, libp2p's through daemon/libp2p-ed25519-verify.ts).
 * Bounded: far more keys than the peers a node talks to; full, it starts
 * over, and a flood of new keys only costs their imports.
 */
export const MAX_CACHED_PUBLIC_KEYS = 10_000
const publicKeyObjects = new Map<string, KeyObject>()

/** `ed25519PublicKeyObject`, made once per key (the 32 bytes themselves are the cache key). Throws on a key of another length. */
export function cachedEd25519PublicKeyObject (raw: Uint8Array): KeyObject {
  // latin1 maps each byte to one character.
  const id = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('latin1')
  let key = publicKeyObjects.get(id)
  if (key === undefined) {
    key = ed25519PublicKeyObject(raw)
    if (publicKeyObjects.size >= MAX_CACHED_PUBLIC_KEYS) publicKeyObjects.clear()
    publicKeyObjects.set(id, key)
  }
  return key
}

/** How many key objects `cachedEd25519PublicKeyObject` holds (tests). */
export function cachedPublicKeyObjects (): number {
  return publicKeyObjects.size
}

/** Whether `signature` is a valid Ed25519 signature by `key` over `data`; false (never a throw) for malformed input. */
export function verifyEd25519With (key: KeyObject, data: Uint8Array, signature: Uint8Array): boolean {
  if (signature.byteLength !== ED25519_SIGNATURE_BYTES) return false
  try {
    return verifyEd25519(null, data, key, signature)
  } catch {
    return false
  }
}
