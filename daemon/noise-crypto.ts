/**
 * The crypto Noise runs on: @chainsafe/libp2p-noise's own Node
 * implementation, with its X25519 keys kept as node:crypto KeyObjects.
 *
 * Why: a libp2p connection costs ≈ 54 ms of CPU (both sides), and a CPU
 * profile of connections between two nodes put ≈ 15 % of that in building
 * key objects: the stock implementation imports both keys from DER for
 * every Diffie-Hellman (three per side per XX handshake; the static key and
 * the ephemeral one are each imported again every time) and runs HKDF in
 * JavaScript. Here a key pair generated (ephemeral) or derived (static) is
 * remembered as KeyObjects, a remote public key is imported once per
 * handshake, and HKDF is node's (RFC 5869 HKDF-SHA256 with the chaining key
 * as salt and no info, which is Noise's HKDF for three outputs). The wire
 * bytes are the same: the unit test runs handshakes against the stock
 * implementation and checks every result over generated keys.
 *
 * The caches are keyed by the key's bytes, not only by the array object
 * that carried them, so a buffer reused by a caller can never map to a
 * stale key: a lookup compares the 32 bytes.
 */
import { createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, type KeyObject } from 'node:crypto'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { equals as bytesEqual } from 'uint8arrays/equals'
import type { ICryptoInterface } from '@chainsafe/libp2p-noise'

/** DER prefixes of an X25519 PKCS#8 private key and SPKI public key (RFC 8410); the 32 raw bytes follow. */
const PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20])
const SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x03, 0x21, 0x00])
const KEY_BYTES = 32
/** Noise's HKDF yields three 32-byte outputs. */
const HKDF_BYTES = 96
const NO_INFO = new Uint8Array(0)

/** A key as Noise passes it: one array, or a list of chunks (noise's own uint8arraylist). */
type KeyBytes = Parameters<ICryptoInterface['generateX25519SharedKey']>[0]

interface Remembered { bytes: Uint8Array, key: KeyObject }

/**
 * Key objects by the array that carries the key: a private key stays
 * remembered as long as Noise holds its array (the static key for the
 * node's life, an ephemeral key for one handshake), a public key likewise.
 */
class KeyObjects {
  private readonly byArray = new WeakMap<Uint8Array, Remembered>()

  constructor (private readonly importKey: (raw: Uint8Array) => KeyObject) {}

  remember (array: Uint8Array, key: KeyObject): void {
    this.byArray.set(array, { bytes: Uint8Array.from(array), key })
  }

  of (value: KeyBytes): KeyObject {
    if (!(value instanceof Uint8Array)) return this.importKey(value.subarray())
    const known = this.byArray.get(value)
    if (known !== undefined && bytesEqual(known.bytes, value)) return known.key
    const key = this.importKey(value)
    this.remember(value, key)
    return key
  }
}

const privateKeys = new KeyObjects(raw => createPrivateKey({ key: der(PKCS8_PREFIX, raw), format: 'der', type: 'pkcs8' }))
const publicKeys = new KeyObjects(raw => createPublicKey({ key: der(SPKI_PREFIX, raw), format: 'der', type: 'spki' }))

export const noiseCrypto: ICryptoInterface = {
  ...defaultCrypto,

  getHKDF (ck: Uint8Array, ikm: Uint8Array): [Uint8Array, Uint8Array, Uint8Array] {
    const okm = new Uint8Array(hkdfSync('sha256', ikm, ck, NO_INFO, HKDF_BYTES))
    return [okm.subarray(0, KEY_BYTES), okm.subarray(KEY_BYTES, 2 * KEY_BYTES), okm.subarray(2 * KEY_BYTES)]
  },

  generateX25519KeyPair () {
    const pair = generateKeyPairSync('x25519')
    const privateKey = raw(pair.privateKey.export({ format: 'der', type: 'pkcs8' }), PKCS8_PREFIX)
    const publicKey = raw(pair.publicKey.export({ format: 'der', type: 'spki' }), SPKI_PREFIX)
    privateKeys.remember(privateKey, pair.privateKey)
    return { publicKey, privateKey }
  },

  generateX25519KeyPairFromSeed (seed: Uint8Array) {
    const key = privateKeys.of(seed)
    const publicKey = raw(createPublicKey(key).export({ format: 'der', type: 'spki' }), SPKI_PREFIX)
    return { publicKey, privateKey: seed }
  },

  generateX25519SharedKey (privateKey: KeyBytes, publicKey: KeyBytes): Uint8Array {
    return diffieHellman({ privateKey: privateKeys.of(privateKey), publicKey: publicKeys.of(publicKey) })
  }
}

function der (prefix: Uint8Array, key: Uint8Array): Buffer {
  if (key.byteLength !== KEY_BYTES) throw new RangeError(`an X25519 key is ${KEY_BYTES} bytes, not ${key.byteLength}`)
  return Buffer.concat([prefix, key], prefix.byteLength + KEY_BYTES)
}

function raw (encoded: Buffer, prefix: Uint8Array): Uint8Array {
  return new Uint8Array(encoded.subarray(prefix.byteLength))
}
