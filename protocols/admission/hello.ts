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
import { MAX_HELLO_BYTES } from './constants.js'

/** The network an agent belongs to; undefined when it runs without a genesis. */
export interface NetworkIdentity {
  /** sha256 of the genesis file's canonical encoding. */
  genesis: Uint8Array
  networkId: string
}

export interface Hello extends Traced { v: 1, genesis: Uint8Array | null, networkId: string | null }

const helloSchema: z.ZodType<Hello> = z.object({
  v: z.literal(1),
  genesis: bytes(32).refine(b => b.byteLength === 32, { message: 'a genesis hash is 32 bytes' }).nullable(),
  networkId: z.string().min(1).max(128).nullable(),
  ...traced
}).refine(h => (h.genesis === null) === (h.networkId === null), { message: 'genesis and networkId come together' })

export function encodeHello (network: NetworkIdentity | undefined): Uint8Array {
  return encodeCbor({ v: 1, genesis: network?.genesis ?? null, networkId: network?.networkId ?? null } satisfies Hello)
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
