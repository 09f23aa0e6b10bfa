/**
 * Per-peer offence counters, kept by every node (issue 15 item 6): what a
 * peer did that no honest mycel agent does — a handshake that failed, a bad
 * signature, a rejected gossip message or config envelope, an equivocation, a
 * replay, an admission refusal. Each node publishes its top offenders in its
 * signed health report; the region's security manager sums them
 * (managers/security/aggregate.ts) and turns a peer over a threshold into a
 * finding. Counting never decides anything by itself: enforcement stays the
 * admission policy's (docs/security.md "Security monitoring").
 *
 * Memory is bounded two ways:
 *  - **window**: counts live in two consecutive windows of `windowMs` (the
 *    current and the previous one); a peer's count is their sum, so an
 *    offence is remembered for one to two windows. A window, not a decay:
 *    reports and thresholds speak in whole offences ("20 rejected envelopes
 *    in the last 15-30 minutes"), which an operator can check in the logs,
 *    and a quiet peer's entry disappears entirely instead of lingering at a
 *    fraction of an offence.
 *  - **peers**: at most `maxPeers` entries. A new peer in a full table
 *    evicts the entry with the fewest offences (ties: the one seen least
 *    recently) and starts at its own count. Counts are never inflated (unlike
 *    space-saving sketches, a newcomer does not inherit the evicted count):
 *    a finding accuses a peer only of offences it committed here. A stream of
 *    fresh peer ids (cheap to make) churns the smallest entries and cannot
 *    push out a peer with more offences than them.
 *
 * Lower layers (wire/topic.ts, protocols) record through `offenceSink(registry)`:
 * the agent attaches its counters to its metrics registry, which every
 * component already receives, so a hook is one line and no constructor
 * changes; without an attached table (unit tests, tools) offences are dropped.
 */
import type { Registry } from 'prom-client'
import { z } from 'zod'
import { metricsOn } from './metrics.js'
import type { RefusalReason } from './peer-admission.js'
import { defineTunables, tunable } from './tunables.js'

export const OFFENCE_KINDS = ['failed_handshake', 'bad_signature', 'rejected_envelope', 'equivocation', 'replay', 'admission_refusal'] as const
export type OffenceKind = typeof OFFENCE_KINDS[number]

export type OffenceCounts = Partial<Record<OffenceKind, number>>

export interface OffenceSink {
  /** `peer` committed `n` (default 1) offences of `kind` now. Never throws. */
  record: (peer: string, kind: OffenceKind, n?: number) => void
}

/**
 * The offence an admission refusal counts as: the peer could not prove it
 * belongs to this network (`failed_handshake`), presented a join token
 * already used up (`replay`), or the committed policy refused it
 * (`admission_refusal`: not allowed, revoked, a token expired or unusable).
 */
export function offenceOfRefusal (reason: RefusalReason): OffenceKind {
  switch (reason) {
    case 'genesis_mismatch': case 'peer_without_genesis': case 'peer_has_genesis': case 'no_handshake': case 'bad_handshake':
      return 'failed_handshake'
    case 'token_used':
      return 'replay'
    default:
      return 'admission_refusal'
  }
}

/** Drops everything: for components built without counters. */
export const NO_OFFENCES: OffenceSink = { record: () => {} }

export interface OffenceConfig {
  /** Most peers counted at once; bounds memory (~200 bytes each). */
  maxPeers: number
  /** Length of one counting window, ms; an offence counts for one to two windows. */
  windowMs: number
}

export const offenceTunables = defineTunables<OffenceConfig>({
  module: 'offences',
  schema: z.strictObject({ maxPeers: tunable.positive(), windowMs: tunable.positive() }),
  profiles: {
    // 256 peers: far more than misbehave at once in a healthy network, ~50 KiB.
    // 15 min: long enough to see a slow prober, short enough that a fixed peer clears within half an hour.
    lan: { maxPeers: 256, windowMs: 15 * 60_000 },
    // Lossy links make honest failures (timeouts in a handshake) more common: same window, thresholds differ.
    wan: { maxPeers: 256, windowMs: 30 * 60_000 },
    // Tests watch a finding appear and clear within a minute.
    test: { maxPeers: 64, windowMs: 30_000 }
  }
})

/** One peer's offences over the current and the previous window. */
export interface PeerOffenceSummary {
  peer: string
  kinds: OffenceCounts
  /** Sum over kinds. */
  total: number
  /** Unix ms of the first offence still counted (the entry's creation). */
  firstSeen: number
  /** Unix ms of the latest offence. */
  lastSeen: number
}

interface Entry {
  cur: OffenceCounts
  prev: OffenceCounts
  firstSeen: number
  lastSeen: number
}

function sum (c: OffenceCounts): number {
  let n = 0
  for (const v of Object.values(c)) n += v
  return n
}

const total = (e: Entry): number => sum(e.cur) + sum(e.prev)

export class PeerOffences implements OffenceSink {
  private readonly entries = new Map<string, Entry>()
  private windowStart: number
  private readonly offences
  private readonly dropped

  constructor (private readonly config: OffenceConfig, registry?: Registry, private readonly now: () => number = Date.now) {
    this.windowStart = now()
    const m = metricsOn(registry)
    this.offences = m.counter({ name: 'mycel_security_offences_total', help: 'Offences of peers seen by this node, by kind (failed_handshake, bad_signature, rejected_envelope, equivocation, replay, admission_refusal)', labelNames: ['kind'] as const })
    this.dropped = m.counter({ name: 'mycel_security_offence_peers_evicted_total', help: 'Peers whose offence counts were dropped because the table was full (the fewest offences go first)' })
  }

  record (peer: string, kind: OffenceKind, n = 1): void {
    if (!Number.isSafeInteger(n) || n <= 0 || !OFFENCE_KINDS.includes(kind)) return
    const now = this.now()
    this.rotate(now)
    this.offences.inc({ kind }, n)
    let e = this.entries.get(peer)
    if (e === undefined) {
      if (this.entries.size >= this.config.maxPeers) this.evictSmallest()
      e = { cur: {}, prev: {}, firstSeen: now, lastSeen: now }
      this.entries.set(peer, e)
    }
    e.cur[kind] = (e.cur[kind] ?? 0) + n
    e.lastSeen = Math.max(e.lastSeen, now)
  }

  /** The `limit` peers with the most offences (ties: the latest seen first, then by id). */
  top (limit: number): PeerOffenceSummary[] {
    this.rotate(this.now())
    const all = [...this.entries].map(([peer, e]) => this.summary(peer, e))
    all.sort((a, b) => b.total - a.total || b.lastSeen - a.lastSeen || (a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0))
    return all.slice(0, Math.max(0, limit))
  }

  get (peer: string): PeerOffenceSummary | undefined {
    this.rotate(this.now())
    const e = this.entries.get(peer)
    return e === undefined ? undefined : this.summary(peer, e)
  }

  /** Peers counted now (at most `maxPeers`). */
  size (): number {
    this.rotate(this.now())
    return this.entries.size
  }

  private summary (peer: string, e: Entry): PeerOffenceSummary {
    const kinds: OffenceCounts = {}
    for (const k of OFFENCE_KINDS) {
      const v = (e.cur[k] ?? 0) + (e.prev[k] ?? 0)
      if (v > 0) kinds[k] = v
    }
    return { peer, kinds, total: sum(kinds), firstSeen: e.firstSeen, lastSeen: e.lastSeen }
  }

  /** Move to the window `now` falls in: the current window becomes the previous one, or both clear after a quiet gap. */
  private rotate (now: number): void {
    const passed = Math.floor((now - this.windowStart) / this.config.windowMs)
    if (passed <= 0) return
    this.windowStart += passed * this.config.windowMs
    for (const [peer, e] of this.entries) {
      e.prev = passed === 1 ? e.cur : {}
      e.cur = {}
      if (sum(e.prev) === 0) this.entries.delete(peer)
    }
  }

  private evictSmallest (): void {
    let victim: string | undefined
    let victimTotal = Infinity
    let victimSeen = Infinity
    for (const [peer, e] of this.entries) {
      const t = total(e)
      if (t < victimTotal || (t === victimTotal && e.lastSeen < victimSeen)) {
        victim = peer
        victimTotal = t
        victimSeen = e.lastSeen
      }
    }
    if (victim !== undefined) {
      this.entries.delete(victim)
      this.dropped.inc()
    }
  }
}

const attached = new WeakMap<Registry, OffenceSink>()

/** Make `offences` the sink every component on `registry` records into (the agent, once). */
export function attachOffences (registry: Registry, offences: OffenceSink): void {
  attached.set(registry, offences)
}

/** The sink attached to `registry`, or one that drops everything. */
export function offenceSink (registry: Registry | undefined): OffenceSink {
  return (registry !== undefined ? attached.get(registry) : undefined) ?? NO_OFFENCES
}
