/**
 * Signatures over wire payloads. Every signature is domain-separated
 * (`mycel/<domain>/v1` || 0x00 || payload) so a signature made for one
 * message kind can never be replayed as another. Signers are named by their
 * peer id string; the Ed25519 public key is inlined in the peer id, so any
 * node can verify without a lookup.
 */
import { createPublicKey, verify as verifyEd25519 } from 'node:crypto'
import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { InvalidSignatureError } from './errors.js'

const encoder = new TextEncoder()

function domainBytes (domain: string, payload: Uint8Array): Uint8Array {
  const prefix = encoder.encode(`mycel/${domain}/v1`)
  const out = new Uint8Array(prefix.byteLength + 1 + payload.byteLength)
  out.set(prefix, 0)
  out[prefix.byteLength] = 0
  out.set(payload, prefix.byteLength + 1)
  return out
}

export async function signPayload (key: PrivateKey, domain: string, payload: Uint8Array): Promise<Uint8Array> {
  return await key.sign(domainBytes(domain, payload))
}

const keyCache = new Map<string, PublicKey>()
const KEY_CACHE_MAX = 10_000

/** The Ed25519 public key inside a peer id string; throws InvalidSignatureError if it has none. */
export function publicKeyOf (peerId: string): PublicKey {
  let key = keyCache.get(peerId)
  if (key !== undefined) return key
  let parsed
  try {
    parsed = peerIdFromString(peerId)
  } catch {
    throw new InvalidSignatureError(`not a peer id: ${peerId.slice(0, 64)}`)
  }
  if (parsed.publicKey === undefined || parsed.type !== 'Ed25519') {
    throw new InvalidSignatureError(`peer id ${peerId.slice(0, 64)} carries no Ed25519 key`)
  }
  key = parsed.publicKey
  if (keyCache.size >= KEY_CACHE_MAX) keyCache.clear()
  keyCache.set(peerId, key)
  return key
}

/** Throws InvalidSignatureError unless `signature` is `signer`'s over (domain, payload). */
export async function verifyPayload (signer: string, domain: string, payload: Uint8Array, signature: Uint8Array): Promise<void> {
  const key = publicKeyOf(signer)
  let ok = false
  try {
    ok = await key.verify(domainBytes(domain, payload), signature)
  } catch {
    ok = false
  }
  if (!ok) throw new InvalidSignatureError(`bad ${domain} signature from ${signer}`)
}

/** DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): the 32 raw key bytes follow. */
const ED25519_SPKI_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00])

/** Ed25519 signature length, bytes. */
const ED25519_SIGNATURE_BYTES = 64

/**
 * `verifyPayload`, synchronously, for checks that cannot await (the rules
 * replicated config runs on every value: crdt/namespaces.ts). libp2p's
 * `PublicKey.verify` is typed `boolean | Promise<boolean>` (it is
 * synchronous on Node today, not by contract), so this verifies with
 * node:crypto from the raw key in the peer id: the same Ed25519 check.
 */
export function verifyPayloadSync (signer: string, domain: string, payload: Uint8Array, signature: Uint8Array): void {
  const key = publicKeyOf(signer)
  let ok = false
  if (signature.byteLength === ED25519_SIGNATURE_BYTES) {
    try {
      const spki = new Uint8Array(ED25519_SPKI_PREFIX.byteLength + key.raw.byteLength)
      spki.set(ED25519_SPKI_PREFIX, 0)
      spki.set(key.raw, ED25519_SPKI_PREFIX.byteLength)
      ok = verifyEd25519(null, domainBytes(domain, payload), createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }), signature)
    } catch {
      ok = false
    }
  }
  if (!ok) throw new InvalidSignatureError(`bad ${domain} signature from ${signer}`)
}
