/**
 * The engine's lease sync at start (lease-sync.ts): once another member is
 * alive and connected, ask a random one (of the own region first) for every
 * lease it knows; never one this node would have to dial (a formation of N
 * agents would pay a handshake per joiner). Until an answer carries a lease of the own region: again on the
 * next membership change after a failure, or after a backoff (1 s, doubling,
 * at most `maxBackoffMs`) — a member that started with us has none yet, and
 * a cold-started region elects its first holders while its gossip mesh is
 * still forming, so a claim can pass a node by; renewals, a renew interval
 * apart, would be the next word. One pull at a time.
 */
import type { Logger } from 'pino'
import type { MembershipView } from '../membership/types.js'
import type { SignedLease } from './lease.js'
import type { ElectionMetrics } from './metrics.js'

const FIRST_BACKOFF_MS = 1_000

export interface StartSyncInit {
  pull: (peer: string, signal: AbortSignal) => Promise<SignedLease[]>
  membership: Pick<MembershipView, 'members'>
  /** Peers this node holds a connection to. */
  connected: () => string[]
  self: string
  region: string
  maxBackoffMs: number
  random: () => number
  /** Every lease of an answer, in order (the engine observes each, source `sync`). */
  take: (leases: SignedLease[]) => void
  logger: Logger
  metrics: Pick<ElectionMetrics, 'syncs'>
}

/**
 * A random alive member this node holds a connection to, of its own region
 * if any is (lease sync asks it; never one it would have to dial).
 */
export function pickConnectedMember (o: Pick<StartSyncInit, 'membership' | 'connected' | 'self' | 'region' | 'random'>): string | undefined {
  const connected = new Set(o.connected())
  const alive = o.membership.members().filter(m => m.peerId !== o.self && m.state === 'alive' && connected.has(m.peerId))
  if (alive.length === 0) return undefined
  const own = alive.filter(m => m.region === o.region)
  const from = own.length > 0 ? own : alive
  return from[Math.floor(o.random() * from.length)].peerId
}

export class StartSync {
  private done = false
  private inFlight = false
  private backoffMs = FIRST_BACKOFF_MS
  private timer: ReturnType<typeof setTimeout> | undefined

  constructor (private readonly init: StartSyncInit) {}

  /** Try now, unless done, a pull is in flight, or a retry is already scheduled. */
  poke (signal: AbortSignal): void {
    if (this.done || this.inFlight || this.timer !== undefined || signal.aborted) return
    const { region } = this.init
    const peer = pickConnectedMember(this.init)
    if (peer === undefined) return
    this.inFlight = true
    this.init.pull(peer, signal).then((leases) => {
      this.init.metrics.syncs.inc({ reason: 'start', result: 'ok' })
      this.init.logger.debug({ peer, leases: leases.length }, 'leases synced')
      if (signal.aborted) return
      this.init.take(leases)
      if (leases.some(sl => sl.lease.region === region)) this.done = true
      else this.retry(signal)
    }, (err: unknown) => {
      this.init.metrics.syncs.inc({ reason: 'start', result: 'failed' })
      this.init.logger.debug({ err, peer }, 'lease sync failed; retrying')
      if (!signal.aborted) this.retry(signal)
    }).finally(() => { this.inFlight = false })
  }

  private retry (signal: AbortSignal): void {
    this.timer = setTimeout(() => { this.timer = undefined; this.poke(signal) }, this.backoffMs)
    this.timer.unref?.()
    this.backoffMs = Math.min(2 * this.backoffMs, this.init.maxBackoffMs)
  }

  stop (): void {
    clearTimeout(this.timer)
    this.timer = undefined
  }
}
