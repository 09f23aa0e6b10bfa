/**
 * One (namespace, writer) stream: the writer's envelopes in that namespace,
 * numbered 1, 2, 3... without gaps. Holds the accepted prefix (to serve
 * anti-entropy and to tell duplicates from equivocation) and a bounded
 * buffer of envelopes that arrived ahead of a gap.
 */
import type { Envelope } from './envelope.js'
import type { CausalNeeds } from './update-check.js'

export interface HeldEnvelope {
  envelope: Envelope
  bytes: Uint8Array
  /** Items (client, end clock) the update deletes: they must exist before it applies. */
  needs: CausalNeeds
}

export class Stream {
  /** Canonical bytes of accepted envelopes; entry i has seq i + 1. */
  readonly entries: Uint8Array[] = []
  /** Verified envelopes waiting for a gap below them to fill (or for items they delete), by seq. */
  readonly held = new Map<number, HeldEnvelope>()
  /** The writer signed envelope `seq` and we refuse its content: nothing above it can apply (Replica.stopStream). */
  stopped: { seq: number, reason: string } | undefined

  constructor (readonly ns: string, readonly writer: string) {}

  /** Highest contiguous sequence number held. */
  get head (): number { return this.entries.length }

  /** Bytes of the accepted envelope `seq`, if any. */
  at (seq: number): Uint8Array | undefined { return this.entries[seq - 1] }
}
