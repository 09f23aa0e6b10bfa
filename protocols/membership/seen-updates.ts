/**
 * Exact copies of updates this node has already judged. An update reaches a
 * member many times: once per gossipsub mesh peer, on probes, acks and gossip
 * rounds, and in every push-pull, which carries every record. Forming a
 * network of 100 agents in namespaces, each agent was handed ≈ 4,300 stale
 * copies of alive and suspect records in three minutes against ≈ 500 new
 * ones, and decoding and validating each body took 3 % of the agents' CPU
 * (docs/performance.md, seventeenth pass). A copy of a suspicion this node
 * already counted even had its signature checked again before the
 * confirmation was found to add nothing.
 *
 * An update whose bytes (body and signature) equal those of one judged
 * before gets the same verdict again, `stale`, without being decoded:
 * incarnations only grow and a suspicion only ages, so what was stale, or
 * already applied, stays so. Only verdicts that cannot change are kept:
 * updates that were applied, refuted or confirmed after their signature
 * checked, and updates judged stale by order. Unknown subjects, a full table
 * and rejected updates are not kept (the first two may be news later; a
 * rejected body must not shadow a good one with the same signature, which a
 * peer could craft from a record it relays).
 *
 * Keyed by the signature (64 bytes, unique per signed body), holding a copy of
 * the body so that a different body under a known signature is judged
 * afresh. Bounded: the oldest entry goes first.
 */
import { equals as bytesEqual } from 'uint8arrays/equals'
import type { SignedUpdate } from './messages.js'

export class SeenUpdates {
  private readonly bodies = new Map<string, Uint8Array>()

  constructor (private readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`SeenUpdates: max must be a positive integer, got ${max}`)
  }

  get size (): number {
    return this.bodies.size
  }

  /** Whether exactly these bytes were judged before. */
  has (raw: SignedUpdate): boolean {
    const body = this.bodies.get(keyOf(raw.s))
    return body !== undefined && bytesEqual(body, raw.b)
  }

  /** Remember `raw` as judged (see above for which verdicts qualify). */
  add (raw: SignedUpdate): void {
    const key = keyOf(raw.s)
    this.bodies.delete(key)
    // A copy: `raw.b` is often a view into a whole push-pull message.
    this.bodies.set(key, raw.b.slice())
    if (this.bodies.size > this.max) {
      const oldest = this.bodies.keys().next()
      if (oldest.done !== true) this.bodies.delete(oldest.value)
    }
  }
}

function keyOf (sig: Uint8Array): string {
  return Buffer.from(sig.buffer, sig.byteOffset, sig.byteLength).toString('latin1')
}
