/**
 * Signatures over wire payloads. Every signature is domain-separated
 * (`mycel/<domain>/v1` || 0x00 || payload) so a signature made for one
 * message kind can never be replayed as another. Signers are named by their
 * peer id string; the Ed25519 public key is inlined in the peer id, so any
 * node can verify without a lookup.
 */
import type { KeyObject } from 'node:crypto'
import type { PrivateKey, PublicKey } from '@libp2p/interface'
import { peerIdOf } from './peer-ids.js'
import { InvalidSignatureError } from './errors.js'
import { cachedEd25519PublicKeyObject, verifyEd25519With } from '../lib/ed25519-key.js'

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

/**
 * The Ed25519 public key inside a peer id string (the id parsed once,
 * peer-ids.ts); throws InvalidSignatureError if it has none.
 */
export function publicKeyOf (peerId: string): PublicKey {
  let parsed
  try {
    parsed = peerIdOf(peerId)
  } catch {
    throw new InvalidSignatureError(`not a peer id: ${peerId.slice(0, 64)}`)
  }
  if (parsed.publicKey === undefined || parsed.type !== 'Ed25519') {
    throw new InvalidSignatureError(`peer id ${peerId.slice(0, 64)} carries no Ed25519 key`)
  }
  return parsed.publicKey
}

/**
 * The node:crypto KeyObject of the Ed25519 key inside a peer id, made once
 * per key (lib/ed25519-key.ts's one cache of them): libp2p's
 * PublicKey.verify rebuilds one from a JWK on every call (lib/ed25519-key.ts
 * says why that matters). Throws InvalidSignatureError if the peer id
 * carries no Ed25519 key.
 */
function keyObjectOf (signer: string): KeyObject {
  return cachedEd25519PublicKeyObject(publicKeyOf(signer).raw)
}

/** Throws InvalidSignatureError unless `signature` is `signer`'s over (domain, payload). */
export async function verifyPayload (signer: string, domain: string, payload: Uint8Array, signature: Uint8Array): Promise<void> {
  verifyPayloadSync(signer, domain, payload, signature)
}

/**
 * `verifyPayload`, synchronously, for checks that cannot await (the rules
 * replicated config runs on every value: crdt/namespaces.ts). Both verify
 * with the signer's cached node:crypto key: the same Ed25519 check.
 */
export function verifyPayloadSync (signer: string, domain: string, payload: Uint8Array, signature: Uint8Array): void {
  if (!verifyEd25519With(keyObjectOf(signer), domainBytes(domain, payload), signature)) throw new InvalidSignatureError(`bad ${domain} signature from ${signer}`)
}
