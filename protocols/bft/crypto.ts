/**
 * What validators sign and how hashes are formed. Every signature is
 * domain-separated (wire/signing.ts) and covers the network's
 * genesis hash (`chain`), so a vote can be replayed neither as another kind
 * of message nor on another network. Signing and verification are injected
 * (`BftSigner`, `Verifier`) so the simulator can swap ed25519 for a cheap
 * stand-in; the daemon always uses ed25519.
 *
 * Evolution (docs/wire.md rule 1): an entry's signature and a block's hash
 * cover every field they carry, known to this release or not. A vote's and a
 * proposal's signature cover the fixed fields below: a certificate keeps only
 * (validator, signature) per precommit and must be able to rebuild what each
 * validator signed, so a field added to a vote or proposal is carried and
 * passed on, but unsigned; one that must be signed needs a new signing
 * domain (`bft-vote/v2`).
 */
import { createHash } from 'node:crypto'
import type { PrivateKey } from '@libp2p/interface'
import { hex } from '../../lib/bytes.js'
import { encodeCbor } from '../../wire/codec.js'
import { signPayload, verifyPayload } from '../../wire/signing.js'
import type { Block, Entry, VoteType } from './types.js'

export const VOTE_DOMAIN = 'bft-vote'
export const PROPOSAL_DOMAIN = 'bft-proposal'
export const ENTRY_DOMAIN = 'bft-entry'

export function sha256 (data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest())
}

/** Hex of hashes and ids: lib/bytes.ts's, re-exported for the BFT's modules. */
export { hex }

export function bytesEqual (a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b
  return a.byteLength === b.byteLength && Buffer.compare(a, b) === 0
}

const hashCache = new WeakMap<Block, Uint8Array>()

/** sha256 of the block's deterministic CBOR; cached per object (blocks are never mutated). */
export function blockHash (block: Block): Uint8Array {
  let h = hashCache.get(block)
  if (h === undefined) {
    h = sha256(encodeCbor(block))
    hashCache.set(block, h)
  }
  return h
}

export function voteSignBytes (chain: Uint8Array, type: VoteType, height: number, round: number, hash: Uint8Array | null): Uint8Array {
  return encodeCbor({ chain, type, height, round, block: hash })
}

export function proposalSignBytes (chain: Uint8Array, height: number, round: number, validRound: number, hash: Uint8Array): Uint8Array {
  return encodeCbor({ chain, height, round, validRound, block: hash })
}

/** What an admin signs: the chain and every field of the entry but its signature, those this release does not know included. */
export function entrySignBytes (chain: Uint8Array, e: Omit<Entry, 'signature'>): Uint8Array {
  const { signature: _signature, ...fields } = e as Partial<Entry>
  return encodeCbor({ ...fields, chain })
}

/** Stable identity of an entry (replay detection, API lookups). */
export function entryId (chain: Uint8Array, e: Entry): string { return hex(sha256(entrySignBytes(chain, e))) }

export interface BftSigner {
  /** Peer id string of the signing key. */
  readonly id: string
  sign: (domain: string, payload: Uint8Array) => Promise<Uint8Array>
}

/** Resolves false (never throws) unless `sig` is `signer`'s over (domain, payload). */
export type Verifier = (signer: string, domain: string, payload: Uint8Array, sig: Uint8Array) => Promise<boolean>

export function ed25519Signer (privateKey: PrivateKey, id: string): BftSigner {
  return { id, sign: async (domain, payload) => await signPayload(privateKey, domain, payload) }
}

/**
 * ed25519 verification with a small cache: the same vote arrives several
 * times (rebroadcasts, duplicates) and verifying costs ~60 µs.
 */
export function ed25519Verifier (cacheSize = 4096): Verifier {
  const ok = new Set<string>()
  return async (signer, domain, payload, sig) => {
    const k = `${signer}|${domain}|${hex(sha256(payload))}|${hex(sig)}`
    if (ok.has(k)) return true
    try {
      await verifyPayload(signer, domain, payload, sig)
    } catch {
      return false
    }
    if (ok.size >= cacheSize) ok.clear()
    ok.add(k)
    return true
  }
}

export async function signEntry (signer: BftSigner, chain: Uint8Array, e: { key: string, value: string | null, nonce: Uint8Array, expiresAt: number, grant?: Uint8Array }): Promise<Entry> {
  const unsigned = { key: e.key, value: e.value, admin: signer.id, nonce: e.nonce, expiresAt: e.expiresAt, ...(e.grant !== undefined ? { grant: e.grant } : {}) }
  return { ...unsigned, signature: await signer.sign(ENTRY_DOMAIN, entrySignBytes(chain, unsigned)) }
}
