/**
 * Wire format and rule of the admission handshake. Each side sends
 *   {v: 1, genesis: <32-byte genesis hash> | null, networkId: <string> | null}
 * (both null when the agent runs without a genesis). The rule is equality:
 * a peer is admitted only if its genesis is ours, or if neither side has
 * one. The hello is a statement, not a proof of authority: the connection
 * is Noise-authenticated, so it is the peer's own statement, and everything
 * critical it could send is still checked against the genesis (signed,
 * certified). Admission keeps apart networks that must not mix; keeping
 * out a hostile agent that claims our genesis is the job of the admission
 * policy in critical config. The hello is an unsigned frame: it ignores
 * fields it does not know and reserves the trace context `tc`
 * (docs/wire.md).
 */
import { z } from 'zod'
import { equals } from 'uint8arrays/equals'
import { hex } from '../../lib/bytes.js'
import { bytes, decodeCbor, encodeCbor } from '../../wire/codec.js'
import type { Refusal } from '../../lib/peer-admission.js'
import { traced, type Traced } from '../../wire/trace-context.js'
import { MAX_HELLO_BYTES, MAX_JOIN_BYTES } from './constants.js'

/** The network an agent belongs to; undefined when it runs without a genesis. */
export interface NetworkIdentity {
  /** sha256 of the genesis file's canonical encoding. */
  genesis: Uint8Array
  networkId: string
}

export interface Hello extends Traced {
  v: 1
  genesis: Uint8Array | null
  networkId: string | null
  /** Height of the sender's committed critical config: a peer further on may hold a policy we have not seen yet. */
  height?: number
  /** A joining agent's token redemption (a signed critical entry, policy/join-token.ts), sent until it is admitted. */
  join?: Uint8Array
  /** In an answer: why the answering node refuses the asker, so the asker can say so. */
  refused?: { reason: string, detail: string }
}

const helloSchema: z.ZodType<Hello> = z.object({
  v: z.literal(1),
  genesis: bytes(32).refine(b => b.byteLength === 32, { message: 'a genesis hash is 32 bytes' }).nullable(),
  networkId: z.string().min(1).max(128).nullable(),
  height: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  join: bytes(MAX_JOIN_BYTES).optional(),
  refused: z.object({ reason: z.string().max(64), detail: z.string().max(1024) }).optional(),
  ...traced
}).refine(h => (h.genesis === null) === (h.networkId === null), { message: 'genesis and networkId come together' })

export function encodeHello (network: NetworkIdentity | undefined, extra: Pick<Hello, 'height' | 'join' | 'refused'> = {}): Uint8Array {
  const hello: Hello = { v: 1, genesis: network?.genesis ?? null, networkId: network?.networkId ?? null }
  if (extra.height !== undefined) hello.height = extra.height
  if (extra.join !== undefined) hello.join = extra.join
  if (extra.refused !== undefined) hello.refused = { reason: extra.refused.reason, detail: extra.refused.detail.slice(0, 1024) }
  return encodeCbor(hello)
}

/** Throws only the named wire errors (MalformedMessageError, OversizedMessageError, UnsupportedVersionError). */
export function decodeHello (data: Uint8Array): Hello {
  return decodeCbor(data, helloSchema, MAX_HELLO_BYTES)
}

/** undefined: admit. Otherwise why not, in one sentence naming both sides. */
export function judgeHello (ours: NetworkIdentity | undefined, theirs: Hello): Omit<Refusal, 'at'> | undefined {
  if (ours === undefined && theirs.genesis === null) return undefined
  if (ours !== undefined && theirs.genesis !== null && equals(ours.genesis, theirs.genesis)) return undefined
  if (ours === undefined) {
    return { reason: 'peer_has_genesis', detail: `it belongs to network ${theirs.networkId ?? '?'} (genesis ${short(theirs.genesis)}) and this agent runs without a genesis (--genesis)` }
  }
  if (theirs.genesis === null) {
    return { reason: 'peer_without_genesis', detail: `it runs without a genesis and this agent belongs to network ${ours.networkId} (genesis ${short(ours.genesis)})` }
  }
  return {
    reason: 'genesis_mismatch',
    detail: `its genesis ${short(theirs.genesis)} (network ${theirs.networkId ?? '?'}) differs from ours ${short(ours.genesis)} (network ${ours.networkId})`
  }
}

function short (b: Uint8Array | null): string { return b === null ? 'none' : hex(b).slice(0, 16) }
