/**
 * The election engine: for every role this node is eligible for in its own
 * region it decides, claims, renews, releases and lapses leases; for every
 * other (region, role) it keeps the best lease it has seen.
 *
 * The rule (docs/roles.md has the full argument):
 *  - winner = the alive eligible member of the region closest by XOR to the
 *    role key, in this node's membership view;
 *  - a node claims only when it is the winner, has observed for the learn
 *    period, and no other holder's lease is in force (expiry + skew);
 *  - a new claim takes term = 1 + the highest term it has ever seen (book,
 *    persisted fencing state, own pending claim) and acts only after the
 *    claim reached a peer and no higher token showed up within claimSettle;
 *  - it ACTS only while its lease is unexpired by its own clock minus skew
 *    AND it is still the winner; a renewal that reaches no peer does not
 *    extend anything, so a cut-off holder stops when its lease lapses;
 *  - seeing a higher fencing token for its role demotes it at once.
 */
import type { Logger } from 'pino'
import type { PrivateKey } from '@libp2p/interface'
import type { MembershipView } from '../membership/types.js'
import type { ElectionConfig } from './constants.js'
import { compareTokens, leaseStatus, signLease, type Lease, type LeaseStatus, type SignedLease } from './lease.js'
import { rankCandidates } from './rule.js'
import { LeaseBook } from './book.js'
import { LeaseRepair } from './repair.js'
import type { FencingStore } from './fencing.js'
import type { LeaseSource, LeaseTransport } from './transport.js'
import type { ElectionMetrics } from './metrics.js'
import { sleep } from '../../lib/clock.js'

export type DemoteReason = 'lease-lapsed' | 'not-winner' | 'superseded' | 'stopping'

export interface ElectedDetail { region: string, role: string, term: number, lease: Lease }
export interface DemotedDetail { region: string, role: string, term: number, reason: DemoteReason }

export interface ElectionEvents {
  'role:elected': CustomEvent<ElectedDetail>
  'role:demoted': CustomEvent<DemotedDetail>
  /** The best known lease of some (region, role) changed. */
  'lease:update': CustomEvent<Lease>
}

export interface ElectionEngineInit {
  config: ElectionConfig
  /** Roles this node may hold. */
  eligible: readonly string[]
  /** Every role name (views list them all). */
  roles: readonly string[]
  now?: () => number
  random?: () => number
}

export interface ElectionEngineComponents {
  peerId: string
  privateKey: PrivateKey
  region: string
  logger: Logger
  membership: Pick<MembershipView, 'self' | 'members' | 'addEventListener' | 'removeEventListener'>
  transport: LeaseTransport
  fencing: FencingStore
  metrics: ElectionMetrics
}

interface Slot {
  role: string
  /** Our latest lease that reached at least one peer. */
  held?: SignedLease
  /** Term of a claim not yet confirmed; reused on retry so failures do not inflate terms. */
  pendingTerm?: number
  acting: boolean
  /** The step already set the next timer (shorter than the renew interval). */
  rescheduled?: boolean
  running: boolean
  /** The run in progress, awaited by stop(). */
  current?: Promise<void>
  again: boolean
  putting: boolean
  /** When this node last read the role from the DHT before claiming a term. */
  resolvedAt?: number
  /** Term and time of our last lease that reached the DHT. */
  lastPut?: { term: number, at: number }
  timer?: ReturnType<typeof setTimeout>
  lapseTimer?: ReturnType<typeof setTimeout>
}

export interface SlotView {
  region: string
  role: string
  holder?: string
  term?: number
  issuedAt?: number
  expiresAt?: number
  status: LeaseStatus | 'none'
}

export interface LocalView {
  role: string
  eligible: boolean
  acting: boolean
  term?: number
  winner?: string
  candidates: string[]
}

export class ElectionEngine extends EventTarget {
  readonly book = new LeaseBook()
  private readonly repair: LeaseRepair
  private readonly slots = new Map<string, Slot>()
  private controller: AbortController | undefined
  private stopping = false
  private learnUntil = 0
  private startedAt = 0
  private readonly lastHeld = new Map<string, number>()
  private readonly lastHolder = new Map<string, string>()
  private dhtTimer: ReturnType<typeof setTimeout> | undefined
  private provideTimer: ReturnType<typeof setTimeout> | undefined
  private gaugeTimer: ReturnType<typeof setInterval> | undefined
  private readonly now: () => number
  private readonly random: () => number
  private lastViewChange = 0
  private viewSignature = ''
  private readonly onMembership = (): void => {
    const sig = this.c.membership.members().filter(m => m.region === this.c.region && m.state === 'alive').map(m => m.peerId).sort().join(',')
    if (sig !== this.viewSignature) {
      this.viewSignature = sig
      this.lastViewChange = this.now()
    }
    this.stepAll()
  }

  constructor (private readonly init: ElectionEngineInit, private readonly c: ElectionEngineComponents) {
    super()
    this.now = init.now ?? Date.now
    this.random = init.random ?? Math.random
    this.repair = new LeaseRepair({
      book: this.book,
      gossip: async (sl) => await this.c.transport.gossip(sl),
      renewIntervalMs: init.config.renewIntervalMs,
      maxClockSkewMs: init.config.maxClockSkewMs,
      now: this.now,
      random: this.random,
      onRestated: (sl) => {
        this.c.metrics.restated.inc({ region: sl.lease.region, role: sl.lease.role })
        this.c.logger.info({ region: sl.lease.region, role: sl.lease.role, term: sl.lease.term, holder: sl.lease.holder }, 'restated a lease: a lower fencing token was still asserted')
      }
    })
  }

  get started (): boolean { return this.controller !== undefined }

  start (): void {
    if (this.controller !== undefined) return
    this.controller = new AbortController()
    this.startedAt = this.now()
    this.learnUntil = this.startedAt + this.init.config.learnPeriodMs
    this.lastViewChange = this.startedAt
    for (const role of this.init.eligible) this.slots.set(role, { role, acting: false, running: false, again: false, putting: false })
    this.repair.start()
    this.c.transport.start((sl, source) => { this.observe(sl, source) })
    for (const ev of ['member:join', 'member:update', 'member:suspect', 'member:dead', 'member:left', 'member:alive'] as const) {
      this.c.membership.addEventListener(ev, this.onMembership)
    }
    for (const slot of this.slots.values()) this.schedule(slot, this.init.config.learnPeriodMs)
    this.dhtTimer = setTimeout(() => { void this.refreshFromDht() }, this.jittered(this.init.config.dhtRefreshMs))
    // Spread the first announcements: a cold-starting network of N nodes
    // would otherwise run 5N provider walks within the same seconds.
    this.provideTimer = setTimeout(() => { void this.provideAll() }, this.init.config.learnPeriodMs + Math.round(this.random() * this.init.config.provideSpreadMs))
    this.gaugeTimer = setInterval(() => { this.updateGauges() }, 1_000)
    this.gaugeTimer.unref?.()
  }

  private updateGauges (): void {
    for (const role of this.init.roles) this.c.metrics.holderless.set({ region: this.c.region, role }, this.holderlessSeconds(role))
  }

  /** Stop acting, hand the roles over (release) and stop every timer. */
  async stop (): Promise<void> {
    const controller = this.controller
    if (controller === undefined || this.stopping) return
    this.stopping = true
    for (const slot of this.slots.values()) {
      clearTimeout(slot.timer)
      clearTimeout(slot.lapseTimer)
      if (slot.acting) this.demote(slot, 'stopping')
    }
    // Cancel settle waits and DHT puts, and let in-flight steps finish, so
    // the release below is each lease's last word.
    controller.abort()
    this.repair.stop()
    await Promise.allSettled([...this.slots.values()].map(async s => await s.current))
    const releases: Array<Promise<void>> = []
    for (const slot of this.slots.values()) {
      if (slot.held !== undefined && leaseStatus(slot.held.lease, this.now(), 0) === 'active') releases.push(this.release(slot))
    }
    await Promise.allSettled(releases)
    for (const slot of this.slots.values()) clearTimeout(slot.timer)
    this.slots.clear()
    clearTimeout(this.dhtTimer)
    clearTimeout(this.provideTimer)
    clearInterval(this.gaugeTimer)
    for (const ev of ['member:join', 'member:update', 'member:suspect', 'member:dead', 'member:left', 'member:alive'] as const) {
      this.c.membership.removeEventListener(ev, this.onMembership)
    }
    this.c.transport.stop()
    this.controller = undefined
    this.stopping = false
  }

  /** True while this node may act for `role` in its region. */
  isActing (role: string): boolean {
    const slot = this.slots.get(role)
    if (slot?.acting !== true || slot.held === undefined) return false
    // Checked again here, not only by the lapse timer: a blocked event loop
    // must not let an action through after the lease ran out.
    return leaseStatus(slot.held.lease, this.now(), this.init.config.maxClockSkewMs, true) === 'active'
  }

  /** The term this node acts in for `role`, if it acts. */
  actingTerm (role: string): number | undefined {
    return this.isActing(role) ? this.slots.get(role)?.held?.lease.term : undefined
  }

  /** Closest-first alive eligible candidates of the own region for `role`. */
  candidates (role: string): string[] {
    const region = this.c.region
    const self = this.c.membership.self()
    const cands = this.c.membership.members()
      .filter(m => m.peerId !== self.peerId && m.state === 'alive' && m.region === region)
      .map(m => ({ peerId: m.peerId, region: m.region, roles: m.roles }))
    if (this.init.eligible.includes(role)) cands.push({ peerId: this.c.peerId, region, roles: [role] })
    return rankCandidates(region, role, cands)
  }

  winner (role: string): string | undefined {
    return this.candidates(role)[0]
  }

  /** Every known region's leases as this node sees them. */
  view (): SlotView[] {
    const regions = new Set<string>([this.c.region, ...this.book.regions()])
    for (const m of this.c.membership.members()) regions.add(m.region)
    const now = this.now()
    const out: SlotView[] = []
    for (const region of [...regions].sort()) {
      for (const role of this.init.roles) {
        const sl = this.book.get(region, role)
        if (sl === undefined) { out.push({ region, role, status: 'none' }); continue }
        const { holder, term, issuedAt, expiresAt } = sl.lease
        out.push({ region, role, holder, term, issuedAt, expiresAt, status: leaseStatus(sl.lease, now, this.init.config.maxClockSkewMs) })
      }
    }
    return out
  }

  local (): LocalView[] {
    return this.init.roles.map(role => {
      const cands = this.candidates(role)
      return {
        role,
        eligible: this.init.eligible.includes(role),
        acting: this.isActing(role),
        term: this.actingTerm(role),
        winner: cands[0],
        candidates: cands
      }
    })
  }

  /** Read (region, role) from the DHT, merge it into the book, return the best record. */
  async resolve (region: string, role: string, signal?: AbortSignal): Promise<{ lease?: Lease, status: LeaseStatus | 'none', records: number }> {
    const timeout = AbortSignal.timeout(this.init.config.dhtTimeoutMs)
    const sig = signal === undefined ? timeout : AbortSignal.any([signal, timeout])
    // Our own lease found only in our own store is a claim or renewal that
    // reached nobody (kad-dht stores a put locally before it looks for
    // peers): nobody else knows it, so it is no lease, and taking it would
    // make this book, and this fence, disagree with everyone else's for good.
    const found = (await this.c.transport.get(region, role, sig)).filter(f => !(f.from === this.c.peerId && f.lease.holder === this.c.peerId))
    for (const f of found) this.observe({ lease: f.lease, record: f.record }, 'dht')
    let best: SignedLease | undefined
    for (const sl of found) if (best === undefined || compareTokens(sl.lease, best.lease) > 0 || (compareTokens(sl.lease, best.lease) === 0 && sl.lease.issuedAt > best.lease.issuedAt)) best = sl
    if (best === undefined) return { status: 'none', records: 0 }
    return { lease: best.lease, status: leaseStatus(best.lease, this.now(), this.init.config.maxClockSkewMs), records: found.length }
  }

  async providers (region: string, role: string, signal?: AbortSignal): Promise<string[]> {
    const timeout = AbortSignal.timeout(this.init.config.dhtTimeoutMs)
    return await this.c.transport.findProviders(region, role, signal === undefined ? timeout : AbortSignal.any([signal, timeout]))
  }

  /** Seconds without a lease in force for an own-region role (0 while one is). */
  holderlessSeconds (role: string): number {
    const sl = this.book.get(this.c.region, role)
    const now = this.now()
    if (sl !== undefined && leaseStatus(sl.lease, now, 0) === 'active') {
      this.lastHeld.set(role, now)
      return 0
    }
    const since = Math.max(this.lastHeld.get(role) ?? this.startedAt, sl !== undefined && sl.lease.expiresAt <= now ? sl.lease.expiresAt : 0, this.startedAt)
    return Math.max(0, (now - since) / 1000)
  }

  // ---- incoming leases ----

  private observe (sl: SignedLease, source: LeaseSource): void {
    const { region, role, term, holder } = sl.lease
    // Any valid lease proves its holder existed in that term: older tokens are stale.
    this.c.fencing.check(region, role, { term, holder })
    const changed = this.book.observe(sl)
    // Someone still asserting a lower token than we know gets told (repair.ts).
    if (source === 'gossip') this.repair.heard(sl)
    if (!changed) return
    this.c.metrics.currentTerm.set({ region, role }, this.book.maxTerm(region, role))
    const key = `${region}/${role}`
    if (this.lastHolder.get(key) !== holder) {
      if (this.lastHolder.has(key) || source !== 'self') this.c.metrics.holderChanges.inc({ region, role })
      this.lastHolder.set(key, holder)
    }
    this.dispatchEvent(new CustomEvent('lease:update', { detail: sl.lease }))
    if (region !== this.c.region) return
    const slot = this.slots.get(role)
    if (slot === undefined) return
    if (slot.acting && slot.held !== undefined && compareTokens(sl.lease, slot.held.lease) > 0) {
      this.c.logger.warn({ region, role, term, holder, ourTerm: slot.held.lease.term }, 'role superseded by a higher fencing token')
      this.demote(slot, 'superseded')
    }
    if (holder !== this.c.peerId) this.schedule(slot, 0)
  }

  // ---- the per-role loop ----

  private stepAll (): void {
    for (const slot of this.slots.values()) this.schedule(slot, 0)
  }

  private schedule (slot: Slot, delayMs: number): void {
    if (this.controller === undefined || this.stopping) return
    clearTimeout(slot.timer)
    slot.timer = setTimeout(() => { slot.current = this.run(slot) }, delayMs)
  }

  private jittered (ms: number): number {
    return Math.round(ms * (1 + this.init.config.jitter * (this.random() * 2 - 1)))
  }

  private async run (slot: Slot): Promise<void> {
    if (slot.running) { slot.again = true; return }
    slot.running = true
    try {
      do {
        slot.again = false
        await this.step(slot)
      } while (slot.again && !this.stopping && this.controller !== undefined)
    } catch (err) {
      this.c.logger.warn({ err, role: slot.role }, 'election step failed')
    } finally {
      slot.running = false
      if (slot.rescheduled === true) slot.rescheduled = false
      else if (!this.stopping && this.slots.get(slot.role) === slot) this.schedule(slot, this.jittered(this.init.config.renewIntervalMs))
    }
  }

  private async step (slot: Slot): Promise<void> {
    if (this.stopping) return
    const cfg = this.init.config
    const region = this.c.region
    const self = this.c.peerId
    const now = this.now()
    if (slot.acting && !this.isActing(slot.role)) this.demote(slot, 'lease-lapsed')
    if (this.winner(slot.role) !== self) {
      if (slot.acting) this.demote(slot, 'not-winner')
      if (slot.held !== undefined && leaseStatus(slot.held.lease, now, 0) === 'active') await this.release(slot)
      return
    }
    if (now < this.learnUntil) return
    const best = this.book.get(region, slot.role)
    if (best !== undefined && best.lease.holder !== self && leaseStatus(best.lease, now, cfg.maxClockSkewMs) === 'active') {
      // Someone else's lease is in force: wait for its lapse or release.
      if (slot.acting) this.demote(slot, 'superseded')
      return
    }
    const renewing = slot.acting && slot.held !== undefined && (best === undefined || compareTokens(best.lease, slot.held.lease) === 0)
    if (!renewing) {
      // Do not start a new term on a view that is still moving (cold start,
      // flapping members); a role holderless for two leases claims anyway.
      const unsettled = cfg.viewSettleMs - (now - this.lastViewChange)
      if (unsettled > 0 && this.holderlessSeconds(slot.role) * 1000 < 2 * cfg.leaseMs) {
        this.schedule(slot, unsettled + 10)
        slot.rescheduled = true
        return
      }
    }
    let term: number
    if (renewing && slot.held !== undefined) {
      term = slot.held.lease.term
    } else {
      // About to start a new term: learn the term history from the DHT first
      // (a lease gossiped before we joined), once per claim attempt series,
      // and again when the region's view changed since: members back from a
      // partition bring terms claimed while we were cut off, whose gossip
      // (a successor's release, say) may have passed before our mesh formed.
      if (slot.resolvedAt === undefined || now - slot.resolvedAt > cfg.leaseMs || slot.resolvedAt < this.lastViewChange) {
        slot.resolvedAt = now
        const signal = AbortSignal.any([this.controller?.signal ?? AbortSignal.abort(), AbortSignal.timeout(Math.min(cfg.dhtTimeoutMs, cfg.claimSettleMs * 3))])
        await this.resolve(region, slot.role, signal).catch(() => undefined)
        if (this.stopping || this.controller === undefined) return
        const found = this.book.get(region, slot.role)
        if (found !== undefined && found.lease.holder !== self && leaseStatus(found.lease, this.now(), cfg.maxClockSkewMs) === 'active') return
      }
      const seen = Math.max(this.book.maxTerm(region, slot.role), this.c.fencing.highest(region, slot.role)?.term ?? 0, slot.held?.lease.term ?? 0)
      term = slot.pendingTerm !== undefined && slot.pendingTerm > seen ? slot.pendingTerm : seen + 1
      slot.pendingTerm = term
    }
    const lease: Lease = { v: 1, region, role: slot.role, holder: self, term, issuedAt: now, expiresAt: now + cfg.leaseMs }
    const signed = await signLease(lease, this.c.privateKey)
    if (!(await this.publish(signed, slot))) {
      this.c.metrics.renewFailures.inc({ region, role: slot.role, reason: 'unreachable' })
      this.c.logger.info({ role: slot.role, term, renewing }, 'lease claim/renewal reached no peer')
      return
    }
    slot.held = signed
    this.observe(signed, 'self')
    if (renewing) { if (slot.acting) this.armLapse(slot); return }
    // A new term: give a competing claim of the same or higher term time to arrive.
    await sleep(cfg.claimSettleMs, this.controller?.signal)
    if (this.stopping || this.controller === undefined) return
    const after = this.book.get(region, slot.role)
    if (after !== undefined && compareTokens(after.lease, lease) > 0) {
      this.c.logger.info({ role: slot.role, term, winner: after.lease.holder }, 'lost a concurrent claim')
      return
    }
    if (this.winner(slot.role) !== self || leaseStatus(lease, this.now(), cfg.maxClockSkewMs, true) !== 'active') return
    slot.pendingTerm = undefined
    this.activate(slot, signed)
  }

  /**
   * Gossip first (fast), DHT put in the background (authoritative). The
   * claim counts when at least one peer got it; a node that knows of no
   * other member at all (a one-node cluster) needs nobody.
   */
  private async publish (signed: SignedLease, slot: Slot): Promise<boolean> {
    const cfg = this.init.config
    const { region, role } = signed.lease
    const recipients = await this.c.transport.gossip(signed).catch(() => 0)
    const others = this.c.membership.members().filter(m => m.peerId !== this.c.peerId)
    const alone = others.length === 0
    // Cut off from every member we know: a DHT put could only write our own
    // store, leaving a record of a claim nobody saw, which this node would
    // later serve to others as if it had been made.
    if (recipients === 0 && !alone && !others.some(m => m.state === 'alive' || m.state === 'suspect')) return false
    const last = slot.lastPut
    const routine = last !== undefined && last.term === signed.lease.term && this.now() - last.at < cfg.dhtPutIntervalMs
    if (recipients > 0 && (slot.putting || routine)) return true
    slot.putting = true
    const signal = AbortSignal.any([this.controller?.signal ?? AbortSignal.abort(), AbortSignal.timeout(cfg.dhtTimeoutMs)])
    const at = this.now()
    const put = this.c.transport.put(signed, signal)
      .catch((err) => { this.c.logger.debug({ err, role }, 'lease DHT put failed'); return 0 })
      .then((acks) => {
        slot.putting = false
        if (acks > 0) slot.lastPut = { term: signed.lease.term, at }
        else if (!alone) this.c.metrics.renewFailures.inc({ region, role, reason: 'dht' })
        return acks
      })
    if (recipients > 0 || alone) return true
    return (await put) > 0
  }

  private async release (slot: Slot): Promise<void> {
    const held = slot.held
    if (held === undefined) return
    const now = Math.max(this.now(), held.lease.issuedAt + 1)
    const lease: Lease = { ...held.lease, issuedAt: now, expiresAt: now }
    const signed = await signLease(lease, this.c.privateKey)
    slot.held = signed
    this.observe(signed, 'self')
    await this.c.transport.gossip(signed).catch(() => 0)
    const signal = AbortSignal.timeout(Math.min(this.init.config.dhtTimeoutMs, 2_000))
    await this.c.transport.put(signed, signal).catch(() => 0)
    this.c.logger.info({ role: slot.role, term: lease.term }, 'lease released')
  }

  private activate (slot: Slot, signed: SignedLease): void {
    if (slot.acting || this.stopping) return
    slot.acting = true
    const { region, role, term } = signed.lease
    this.armLapse(slot)
    this.c.metrics.termsClaimed.inc({ region, role })
    this.c.metrics.isHolder.set({ region, role }, 1)
    this.c.logger.info({ region, role, term, expiresAt: signed.lease.expiresAt }, 'elected: acting for role')
    this.dispatchEvent(new CustomEvent('role:elected', { detail: { region, role, term, lease: signed.lease } }))
  }

  private demote (slot: Slot, reason: DemoteReason): void {
    if (!slot.acting) return
    slot.acting = false
    clearTimeout(slot.lapseTimer)
    const region = this.c.region
    const term = slot.held?.lease.term ?? 0
    this.c.metrics.isHolder.set({ region, role: slot.role }, 0)
    this.c.metrics.demotions.inc({ region, role: slot.role, reason })
    this.c.logger.info({ region, role: slot.role, term, reason }, 'demoted: stopped acting for role')
    this.dispatchEvent(new CustomEvent('role:demoted', { detail: { region, role: slot.role, term, reason } }))
  }

  private armLapse (slot: Slot): void {
    clearTimeout(slot.lapseTimer)
    const held = slot.held
    if (held === undefined) return
    const ms = held.lease.expiresAt - this.init.config.maxClockSkewMs - this.now()
    slot.lapseTimer = setTimeout(() => {
      if (slot.acting && !this.isActing(slot.role)) this.demote(slot, 'lease-lapsed')
      this.schedule(slot, 0)
    }, Math.max(0, ms))
  }

  // ---- DHT upkeep ----

  private async refreshFromDht (): Promise<void> {
    const signal = this.controller?.signal
    if (signal === undefined) return
    // Gossip carries every renewal; the DHT is read only for roles it has
    // gone quiet on (cold start, missed messages, a holder that vanished).
    const quietFor = 2 * this.init.config.renewIntervalMs
    // A role never seen has nothing to repair: its winner reads the DHT
    // itself before claiming a new term (step), and its first lease is gossiped.
    const quiet = this.init.roles.filter(role => {
      const sl = this.book.get(this.c.region, role)
      return sl !== undefined && this.now() - sl.lease.issuedAt > quietFor && leaseStatus(sl.lease, this.now(), 0) !== 'released'
    })
    await Promise.allSettled(quiet.map(async role => await this.resolve(this.c.region, role, signal)))
    if (this.controller !== undefined && !this.stopping) this.dhtTimer = setTimeout(() => { void this.refreshFromDht() }, this.jittered(this.init.config.dhtRefreshMs))
  }

  private async provideAll (): Promise<void> {
    const signal = this.controller?.signal
    if (signal === undefined) return
    let failed = false
    await Promise.allSettled(this.init.eligible.map(async role => {
      const sig = AbortSignal.any([signal, AbortSignal.timeout(this.init.config.dhtTimeoutMs)])
      await this.c.transport.provide(this.c.region, role, sig).catch((err) => {
        failed = true
        this.c.logger.debug({ err, role }, 'provide failed')
      })
    }))
    // A provide made before the routing table filled reached nobody: retry soon.
    const next = failed ? this.init.config.dhtRefreshMs : this.init.config.provideIntervalMs
    if (this.controller !== undefined && !this.stopping) this.provideTimer = setTimeout(() => { void this.provideAll() }, this.jittered(next))
  }
}
