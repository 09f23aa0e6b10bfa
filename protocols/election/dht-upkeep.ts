/**
 * The election's DHT work besides claims: re-reading the own region's roles
 * whose gossip went quiet. Candidates are not announced in the DHT: the
 * membership view already lists them (docs/roles.md, "Candidates come from
 * membership, not DHT provider records").
 *
 * A connected member's book is asked first (lease sync: one request on a link
 * this node holds) and the DHT is read only for the roles still quiet after
 * it. Gossip goes quiet at one node far more often than a holder vanishes: a
 * mesh still forming, a starved host, renewals late under load. Every DHT
 * read walks to the same ~K peers closest to the role's key and dials those it
 * is not connected to; while a network of 100 formed, reads like these were
 * ≈ 5,000 kad-dht requests in two minutes, four in five failing in the
 * handshake (docs/performance.md, nineteenth pass).
 *
 * While the region's view moves (its alive members changed within the last
 * `dhtRefreshMs`: joins, suspicions, and this engine's start), a quiet role
 * whose lease this node still holds in force is not read from the DHT until
 * that lease lapses (lan: 30 s after it went quiet). Renewals arrive late
 * there because hosts are busy and meshes still forming, and every reader
 * walking to the peers closest to the key is what a forming network can least
 * afford (225 such reads by 73 agents in `join-100`'s first 150 s, twenty-
 * fourth pass). The member is still asked. A holder that is gone is not this
 * path's to find: membership declares it and its lease ends with it. What the
 * wait delays is a node's repair of a term whose gossip it missed (until then
 * it ignores the new holder's actions), by at most what remains of the lease.
 */
import type { ElectionConfig } from './constants.js'
import { leaseStatus, type SignedLease } from './lease.js'
import type { LeaseBook } from './book.js'

export interface DhtUpkeepInit {
  config: ElectionConfig
  region: string
  /** Every role name. */
  roles: readonly string[]
  book: LeaseBook
  now: () => number
  /** `ms` with the configured jitter. */
  jittered: (ms: number) => number
  /** Read (region, role) from the DHT into the book. */
  resolve: (region: string, role: string, signal: AbortSignal) => Promise<unknown>
  /**
   * Take one connected member's leases into the book (lease sync), bounded
   * by the caller's signal; never throws. Absent: the DHT is read at once.
   */
  ask?: (signal: AbortSignal) => Promise<void>
  /** When the own region's set of alive members last changed in this node's view (as `SlotHost`'s); absent: a still view. */
  lastViewChange?: () => number
}

export class DhtUpkeep {
  private refreshTimer: ReturnType<typeof setTimeout> | undefined
  private signal: AbortSignal | undefined

  constructor (private readonly init: DhtUpkeepInit) {}

  /** Until `signal` aborts; `stop` clears the timer. */
  start (signal: AbortSignal): void {
    const cfg = this.init.config
    this.signal = signal
    this.refreshTimer = setTimeout(() => { void this.refresh() }, this.init.jittered(cfg.dhtRefreshMs))
  }

  stop (): void {
    clearTimeout(this.refreshTimer)
    this.signal = undefined
  }

  private async refresh (): Promise<void> {
    const signal = this.signal
    if (signal === undefined) return
    const { config: cfg, book, region, now } = this.init
    // Gossip carries every renewal; the DHT is read only for roles it has
    // gone quiet on (cold start, missed messages, a holder that vanished).
    const quietFor = 2 * cfg.renewIntervalMs
    // A role never seen has nothing to repair: its winner reads the DHT
    // itself before claiming a new term (slot.ts), and its first lease is gossiped.
    const quiet = (): SignedLease[] => this.init.roles.flatMap(role => {
      const sl = book.get(region, role)
      return sl !== undefined && now() - sl.lease.issuedAt > quietFor && leaseStatus(sl.lease, now(), 0) !== 'released' ? [sl] : []
    })
    if (quiet().length > 0 && this.init.ask !== undefined) {
      // As long as the DHT read it may save: nothing waits on the upkeep, and a
      // member starved for a second (a forming network of 100 on two cores) is
      // still far cheaper than a walk. A claimant's ask is bounded by
      // `claimSettleMs` instead: its claim waits on it.
      await this.init.ask(AbortSignal.any([signal, AbortSignal.timeout(cfg.dhtTimeoutMs)]))
      if (signal.aborted) return
    }
    // A moving view defers the read of a role whose known lease is still in force.
    const lastViewChange = this.init.lastViewChange?.()
    const moving = lastViewChange !== undefined && now() - lastViewChange < cfg.dhtRefreshMs
    const due = quiet().filter(sl => !moving || leaseStatus(sl.lease, now(), 0) !== 'active')
    await Promise.allSettled(due.map(async sl => await this.init.resolve(region, sl.lease.role, signal)))
    if (!signal.aborted) this.refreshTimer = setTimeout(() => { void this.refresh() }, this.init.jittered(cfg.dhtRefreshMs))
  }
}
