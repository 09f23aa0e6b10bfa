/**
 * Exact copies of updates this node has already judged. An update reaches a
 * member many times: once per gossipsub mesh peer, on probes, acks and gossip
 * rounds, and in every push-pull, which carries every record. Forming a
 * network of 100 agents in namespaces, each agent was handed ≈ 1,800 stale
 * copies of alive and suspect records in 170 s against ≈ 220 new ones, and
 * decoding and validating the bodies took ≈ 4 % of the running agents' CPU
 * (docs/performance.md, seventeenth pass). A copy of a suspicion this node
 * already counted even had its signature checked again before the
 * confirmation was found to add nothing.
 *
 * An update whose bytes (body and signature) equal those of one judged
 * before gets the same verdict again, `stale`, without being decoded. The
 * caller keeps only verdicts that hold as long as the member's entry does:
 * updates applied, refuted or confirmed after their signature checked, and
 * updates judged stale by order against an entry it holds. It clears the set
 * whenever an entry goes (reaped, evicted) or membership restarts,
 * the only ways such a verdict can turn: a reaped member's old record is
 * news again once its tombstone expires, an evicted one once it is admitted
 * again. Unknown subjects, a full table, records stale against a tombstone
 * and rejected updates are never kept.
 *
 * Keyed by the signature, holding a SHA-256 digest of the body, so that a
 * different body under a known signature is judged afresh and a hostile
 * peer's large bodies cost no memory here. Bounded: the oldest entry goes
 * first.
 *
 * An update first learned by probe and then delivered by gossipsub is
 * `stale` there, and the topic validator would not forward it: the flood
 * would stop at every member that a probe reached first. `gossipCopy` lets
 * the caller forward that first gossipsub copy of an update it applied.
 */
import { createHash } from 'node:crypto'
import { equals as bytesEqual } from 'uint8arrays/equals'
import type { SignedUpdate } from './messages.js'

interface Entry {
  digest: Uint8Array
  /** Applied here (not merely stale): its first gossipsub copy is worth forwarding. */
  news: boolean
  /** A gossipsub copy was seen (and forwarded if news). */
  gossiped: boolean
}

/** Where an update sits in the set: its signature as a string, and its body's digest. */
interface Id { key: string, digest: Uint8Array }

export class SeenUpdates {
  private readonly entries = new Map<string, Entry>()
  /**
   * Each update's id, made once: the topic validator looks a gossipsub copy
   * up, `ingest` looks it up again and adds it after its signature check,
   * all on the same decoded object (never changed once decoded), and the
   * body digest is the work.
   */
  private readonly ids = new WeakMap<SignedUpdate, Id>()

  constructor (private readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`SeenUpdates: max must be a positive integer, got ${max}`)
  }

  get size (): number {
    return this.entries.size
  }

  /** Whether exactly these bytes were judged before. */
  has (raw: SignedUpdate): boolean {
    return this.find(raw) !== undefined
  }

  /**
   * What a gossipsub copy of `raw` is: `unseen` (judge it), `forward` (news
   * here that gossipsub brings for the first time: pass it on; once per
   * update), or `seen` (a copy of one judged before). One lookup for the
   * topic validator's hot path.
   */
  gossipCopy (raw: SignedUpdate): 'unseen' | 'forward' | 'seen' {
    const e = this.find(raw)
    if (e === undefined) return 'unseen'
    const first = !e.gossiped && e.news
    e.gossiped = true
    return first ? 'forward' : 'seen'
  }

  /**
   * Remember `raw` as judged: `news` if it was applied here, and
   * `viaGossip` if it came by gossipsub (its first copy there is then past).
   */
  add (raw: SignedUpdate, news: boolean, viaGossip: boolean): void {
    const { key, digest } = this.idOf(raw)
    this.entries.delete(key)
    this.entries.set(key, { digest, news, gossiped: viaGossip })
    if (this.entries.size > this.max) {
      const oldest = this.entries.keys().next()
      if (oldest.done !== true) this.entries.delete(oldest.value)
    }
  }

  clear (): void {
    this.entries.clear()
  }

  private find (raw: SignedUpdate): Entry | undefined {
    const { key, digest } = this.idOf(raw)
    const e = this.entries.get(key)
    return e !== undefined && bytesEqual(e.digest, digest) ? e : undefined
  }

  private idOf (raw: SignedUpdate): Id {
    let id = this.ids.get(raw)
    if (id === undefined) {
      id = {
        key: Buffer.from(raw.s.buffer, raw.s.byteOffset, raw.s.byteLength).toString('latin1'),
        digest: createHash('sha256').update(raw.b).digest()
      }
      this.ids.set(raw, id)
    }
    return id
  }
}
