/**
 * Read repair of lease books: a node that hears a holder still asserting a
 * fencing token LOWER than the best it knows for that (region, role) restates
 * its best record on the lease topic.
 *
 * Why (docs/roles.md, "Views after a heal"): a lease travels once, when its
 * holder states it. A higher term that only part of the network saw (claimed
 * on one side of a partition, or witnessed only by DHT stores, then released
 * or lapsed) is never stated again, while the old holder, which never saw it,
 * keeps renewing its lower term forever: its renewals keep its own role from
 * going quiet, so nothing re-reads the DHT either. The nodes that know better
 * hear those renewals; one of them speaking up is what makes the old holder
 * learn of the higher term (and stop: `superseded`) and every view agree.
 *
 * Of the many nodes that know better, usually one speaks: each waits a random
 * delay (below RESTATE_SPREAD × renew interval) and stays quiet when a
 * statement of the same or a higher token reaches it first (Trickle's
 * suppression, RFC 6206). A role is restated at most once per renew interval
 * by one node, so a restatement that got lost is retried at the old holder's
 * next renewal.
 */
import { compareTokens, leaseStatus, type SignedLease } from './lease.js'
import type { LeaseBook } from './book.js'
import { RESTATE_SPREAD } from './constants.js'

export interface LeaseRepairInit {
  book: LeaseBook
  /** Publish a record on the lease topic. */
  gossip: (sl: SignedLease) => Promise<number>
  renewIntervalMs: number
  maxClockSkewMs: number
  now: () => number
  random: () => number
  /** Called for each restatement sent. */
  onRestated?: (sl: SignedLease) => void
}

/** Bound on remembered restatement times (one per (region, role)), like the book's. */
const MAX_REMEMBERED = 20_000

export class LeaseRepair {
  private readonly pending = new Map<string, ReturnType<typeof setTimeout>>()
  private readonly restatedAt = new Map<string, number>()
  private stopped = true

  constructor (private readonly init: LeaseRepairInit) {}

  start (): void {
    this.stopped = false
  }

  /**
   * A statement heard on the lease topic, after the book has taken it (or
   * not). Schedules a restatement when it is a live lower token; cancels a
   * scheduled one when someone else stated the same or a higher token.
   */
  heard (sl: SignedLease): void {
    if (this.stopped) return
    const { region, role } = sl.lease
    const key = `${region}/${role}`
    const best = this.init.book.get(region, role)
    if (best === undefined) return
    const order = compareTokens(sl.lease, best.lease)
    if (order >= 0) {
      // The best token is on the topic already (its holder renewed, another
      // node restated it, or it is new): whoever needed it has it too.
      this.cancel(key)
      return
    }
    // A lapsed lower token asserts nothing; only a live one means a node acts, or may, on a superseded term.
    const now = this.init.now()
    if (leaseStatus(sl.lease, now, this.init.maxClockSkewMs) !== 'active') return
    if (this.pending.has(key)) return
    const last = this.restatedAt.get(key)
    if (last !== undefined && now - last < this.init.renewIntervalMs) return
    const delay = Math.floor(this.init.random() * this.init.renewIntervalMs * RESTATE_SPREAD)
    this.pending.set(key, setTimeout(() => { this.restate(key, region, role) }, delay))
  }

  stop (): void {
    this.stopped = true
    for (const t of this.pending.values()) clearTimeout(t)
    this.pending.clear()
  }

  private cancel (key: string): void {
    const t = this.pending.get(key)
    if (t === undefined) return
    clearTimeout(t)
    this.pending.delete(key)
  }

  private restate (key: string, region: string, role: string): void {
    this.pending.delete(key)
    if (this.stopped) return
    // The book's best now, which is at least what was known when the lower token was heard.
    const best = this.init.book.get(region, role)
    if (best === undefined) return
    if (this.restatedAt.size >= MAX_REMEMBERED) this.restatedAt.clear()
    this.restatedAt.set(key, this.init.now())
    this.init.onRestated?.(best)
    void this.init.gossip(best).catch(() => 0)
  }
}
