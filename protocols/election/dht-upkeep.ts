/**
 * The election's DHT work besides claims: re-reading the own region's roles
 * whose gossip went quiet, and announcing this node as a provider (a
 * candidate) of every role it is eligible for.
 */
import type { Logger } from 'pino'
import type { ElectionConfig } from './constants.js'
import { leaseStatus } from './lease.js'
import type { LeaseBook } from './book.js'
import type { LeaseTransport } from './transport.js'

export interface DhtUpkeepInit {
  config: ElectionConfig
  region: string
  /** Every role name. */
  roles: readonly string[]
  /** Roles this node may hold: the ones it provides. */
  eligible: readonly string[]
  book: LeaseBook
  transport: Pick<LeaseTransport, 'provide'>
  logger: Logger
  now: () => number
  random: () => number
  /** `ms` with the configured jitter. */
  jittered: (ms: number) => number
  /** Read (region, role) from the DHT into the book. */
  resolve: (region: string, role: string, signal: AbortSignal) => Promise<unknown>
}

export class DhtUpkeep {
  private refreshTimer: ReturnType<typeof setTimeout> | undefined
  private provideTimer: ReturnType<typeof setTimeout> | undefined
  private signal: AbortSignal | undefined

  constructor (private readonly init: DhtUpkeepInit) {}

  /** Until `signal` aborts; `stop` clears the timers. */
  start (signal: AbortSignal): void {
    const cfg = this.init.config
    this.signal = signal
    this.refreshTimer = setTimeout(() => { void this.refresh() }, this.init.jittered(cfg.dhtRefreshMs))
    // Spread the first announcements: a cold-starting network of N nodes
    // would otherwise run 5N provider walks within the same seconds.
    this.provideTimer = setTimeout(() => { void this.provideAll() }, cfg.learnPeriodMs + Math.round(this.init.random() * cfg.provideSpreadMs))
  }

  stop (): void {
    clearTimeout(this.refreshTimer)
    clearTimeout(this.provideTimer)
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
    const quiet = this.init.roles.filter(role => {
      const sl = book.get(region, role)
      return sl !== undefined && now() - sl.lease.issuedAt > quietFor && leaseStatus(sl.lease, now(), 0) !== 'released'
    })
    await Promise.allSettled(quiet.map(async role => await this.init.resolve(region, role, signal)))
    if (!signal.aborted) this.refreshTimer = setTimeout(() => { void this.refresh() }, this.init.jittered(cfg.dhtRefreshMs))
  }

  private async provideAll (): Promise<void> {
    const signal = this.signal
    if (signal === undefined) return
    const cfg = this.init.config
    let failed = false
    await Promise.allSettled(this.init.eligible.map(async role => {
      const sig = AbortSignal.any([signal, AbortSignal.timeout(cfg.dhtTimeoutMs)])
      await this.init.transport.provide(this.init.region, role, sig).catch((err) => {
        failed = true
        this.init.logger.debug({ err, role }, 'provide failed')
      })
    }))
    // A provide made before the routing table filled reached nobody: retry soon.
    const next = failed ? cfg.dhtRefreshMs : cfg.provideIntervalMs
    if (!signal.aborted) this.provideTimer = setTimeout(() => { void this.provideAll() }, this.init.jittered(next))
  }
}
