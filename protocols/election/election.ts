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
 *  - it ACTS only while its lease is unexpired by its own clock minus skew;
 *    a renewal that reaches no peer does not extend anything, so a cut-off
 *    holder stops when its lease lapses;
 *  - a holder that is no longer the winner hands over (releases) once the
 *    same member has been the winner for handoverSettleMs and the view is
 *    still, not on every newly closer member while the network forms;
 *  - seeing a higher fencing token for its role demotes it at once.
 *
 * Each eligible role is a `RoleSlot` (slot.ts), a state machine with one step
 * per state; this class owns what the slots share: the lease book fed by
 * gossip and DHT reads, the membership view, the lifecycle and the events.
 */
import type { Logger } from 'pino'
import type { PrivateKey } from '@libp2p/interface'
import type { MembershipView } from '../membership/types.js'
import type { ElectionConfig } from './constants.js'
import { compareTokens, leaseEndSeen, leaseStatusSeen, signLease, type Lease, type LeaseStatus, type SignedLease } from './lease.js'
import { rankCandidates } from './rule.js'
import { LeaseBook } from './book.js'
import { LeaseRepair } from './repair.js'
import type { FencingStore } from './fencing.js'
import type { LeaseSource, LeaseTransport } from './transport.js'
import type { ElectionMetrics } from './metrics.js'
import { RoleSlot, type DemoteReason, type SlotHost } from './slot.js'
import { LeaseWriter } from './lease-writer.js'
import { DhtUpkeep } from './dht-upkeep.js'
import { StartSync, pickConnectedMember } from './start-sync.js'
import { GoneMembers } from './gone.js'

export type { DemoteReason } from './slot.js'

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
  /**
   * True when this node was told to join others (bootstrap peers): until it
   * has known another member it is joining, not a one-node cluster, and
   * claims nothing. Absent or false: alone by design, it claims every role.
   */
  joins?: boolean
  now?: () => number
  random?: () => number
}

export interface ElectionEngineComponents {
  peerId: string
  privateKey: PrivateKey
  region: string
  logger: Logger
  membership: Pick<MembershipView, 'self' | 'members' | 'addEventListener' | 'removeEventListener' | 'lastContact'>
  transport: LeaseTransport
  fencing: FencingStore
  metrics: ElectionMetrics
  /**
   * Peers this node holds a connection to: lease sync asks only one of them,
   * never opening a connection of its own (a formation of N would pay a
   * handshake per joiner). Without it (unit tests) nobody is asked.
   */
  connected?: () => string[]
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
  private readonly upkeep: DhtUpkeep
  private readonly slots = new Map<string, RoleSlot>()
  private controller: AbortController | undefined
  private stopping = false
  private startedAt = 0
  private readonly lastHolder = new Map<string, string>()
  private readonly now: () => number
  private readonly random: () => number
  private lastViewChange = 0
  private viewSignature = ''
  /** Whether this node has known another member since it started (`joins`). */
  private joined = false
  /** When membership declared each member dead or gone, in this node's view (lease.ts `leaseStatusSeen`). */
  private readonly gone = new GoneMembers()
  private readonly onMembership = (): void => {
    const members = this.c.membership.members()
    this.noteJoined(members)
    const sig = members.filter(m => m.region === this.c.region && m.state === 'alive').map(m => m.peerId).sort().join(',')
    if (sig !== this.viewSignature) {
      this.viewSignature = sig
      this.lastViewChange = this.now()
    }
    this.gone.note(members, this.now())
    if (this.controller !== undefined) this.startSync?.poke(this.controller.signal)
    for (const slot of this.slots.values()) slot.wake()
  }
  /** Lease sync at start, when the transport can (start-sync.ts). */
  private startSync: StartSync | undefined

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
    this.upkeep = new DhtUpkeep({
      config: init.config,
      region: c.region,
      roles: init.roles,
      book: this.book,
      now: this.now,
      jittered: (ms) => this.jittered(ms),
      resolve: async (region, role, signal) => await this.resolve(region, role, signal, 'upkeep'),
      ask: async (signal) => { await this.askPeer(signal, 'upkeep') },
      lastViewChange: () => this.lastViewChange
    })
  }

  get started (): boolean { return this.controller !== undefined }

  start (): void {
    if (this.controller !== undefined) return
    const controller = new AbortController()
    this.controller = controller
    this.startedAt = this.now()
    this.lastViewChange = this.startedAt
    // Members already dead when we start count as gone from now: later than
    // whoever declared them, so no lease lapses early by it. What an earlier
    // run of this engine noted is stale: a member may have come back and gone
    // again while it was stopped.
    this.gone.clear()
    this.gone.note(this.c.membership.members(), this.now())
    if (this.init.joins === true && !this.noteJoined(this.c.membership.members())) {
      this.c.logger.info('joining: no role is claimed before another member is met')
    }
    const host = this.slotHost(controller.signal, this.startedAt + this.init.config.learnPeriodMs)
    for (const role of this.init.eligible) {
      const writer = new LeaseWriter({
        config: this.init.config,
        peerId: this.c.peerId,
        membership: this.c.membership,
        transport: this.c.transport,
        metrics: this.c.metrics,
        logger: this.c.logger,
        now: this.now,
        signal: controller.signal
      })
      this.slots.set(role, new RoleSlot(role, host, writer))
    }
    this.repair.start()
    this.c.transport.start((sl, source) => { this.observe(sl, source) })
    const { transport } = this.c
    if (transport.serve !== undefined && transport.pull !== undefined) {
      transport.serve(() => this.book.entries().map(sl => sl.record))
        .catch((err) => { this.c.logger.warn({ err }, 'could not serve lease sync') })
      this.startSync = new StartSync({
        pull: async (peer, signal) => await transport.pull!(peer, signal),
        membership: this.c.membership,
        connected: this.c.connected ?? (() => []),
        self: this.c.peerId,
        region: this.c.region,
        maxBackoffMs: this.init.config.renewIntervalMs,
        random: this.random,
        take: (leases) => { for (const sl of leases) this.observe(sl, 'sync') },
        logger: this.c.logger,
        metrics: this.c.metrics
      })
      this.startSync.poke(controller.signal)
    }
    for (const ev of MEMBERSHIP_EVENTS) this.c.membership.addEventListener(ev, this.onMembership)
    for (const slot of this.slots.values()) slot.start(this.init.config.learnPeriodMs)
    this.upkeep.start(controller.signal)
  }

  /** Stop acting, hand the roles over (release) and stop every timer. */
  async stop (): Promise<void> {
    const controller = this.controller
    if (controller === undefined || this.stopping) return
    this.stopping = true
    // Every holder stops acting first; then cancel DHT reads and puts and let
    // the steps in progress finish, so the release below is each lease's last word.
    const halted = [...this.slots.values()].map(async slot => { await slot.halt() })
    controller.abort()
    this.repair.stop()
    this.upkeep.stop()
    this.startSync?.stop()
    this.startSync = undefined
    await Promise.allSettled(halted)
    await Promise.allSettled([...this.slots.values()].map(async slot => { await slot.releaseIfHeld() }))
    this.slots.clear()
    for (const ev of MEMBERSHIP_EVENTS) this.c.membership.removeEventListener(ev, this.onMembership)
    this.c.transport.stop()
    this.controller = undefined
    this.stopping = false
  }

  /** True while this node may act for `role` in its region. */
  isActing (role: string): boolean {
    // The slot checks the lease's expiry on every call, not only by its lapse
    // timer: a blocked event loop must not let an action through after the lease ran out.
    return this.slots.get(role)?.acting === true
  }

  /** The term this node acts in for `role`, if it acts. */
  actingTerm (role: string): number | undefined {
    return this.isActing(role) ? this.slots.get(role)?.held?.lease.term : undefined
  }

  /**
   * Closest-first alive eligible candidates for `role` of `region` (the own
   * region unless given). Every member's signed alive record carries the
   * roles it may hold and membership reaches every region, so any node ranks
   * any region's candidates from its own view, by the rule the winner is
   * picked with; nothing is looked up.
   */
  candidates (role: string, region: string = this.c.region): string[] {
    const self = this.c.membership.self()
    const cands = this.c.membership.members()
      .filter(m => m.peerId !== self.peerId && m.state === 'alive' && m.region === region)
      .map(m => ({ peerId: m.peerId, region: m.region, roles: m.roles }))
    if (region === this.c.region && this.init.eligible.includes(role)) cands.push({ peerId: this.c.peerId, region, roles: [role] })
    return rankCandidates(region, role, cands)
  }

  /**
   * A lease's status in this node's view: its expiry, and, once membership
   * declared its holder dead or gone, the contact lapse after that
   * (lease.ts `leaseStatusSeen`). Our own leases are judged by the slot.
   */
  status (lease: Lease, now: number, skew = this.init.config.maxClockSkewMs): LeaseStatus {
    return leaseStatusSeen(lease, now, skew, this.init.config.contactLapseMs, this.gone.at(lease.holder))
  }

  /** Latch `joined` once any other member is known (membership events, start); returns it. */
  private noteJoined (members: ReadonlyArray<{ peerId: string }>): boolean {
    if (!this.joined && members.some(m => m.peerId !== this.c.peerId)) {
      this.joined = true
      if (this.init.joins === true) this.c.logger.info('joined: roles may be claimed')
    }
    return this.joined
  }

  /**
   * When some member last heard this node, by round-trip evidence
   * (membership's `lastContact`: the send time of the latest answered probe);
   * 0 when none answered yet; undefined when it knows no other member (a
   * one-node cluster needs no contact). A membership view without it (unit
   * tests) is judged by its members' `lastSeen`.
   */
  private lastContact (): number | undefined {
    const others = this.c.membership.members().filter(m => m.peerId !== this.c.peerId)
    // A node told to join that has not met anyone yet: no contact (the slot
    // waits as a cut-off node does), not a one-node cluster. A joiner on a
    // loaded network can take longer than its learn period to get in, and
    // it used to claim every role alone, then release each to the network
    // once it had joined: a gossip message and a DHT walk a role
    // (docs/roles.md, "A joiner is not a one-node cluster").
    if (others.length === 0) return this.init.joins === true && !this.joined ? 0 : undefined
    if (this.c.membership.lastContact !== undefined) return this.c.membership.lastContact() ?? 0
    return Math.max(...others.map(m => m.lastSeen))
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
        out.push({ region, role, holder, term, issuedAt, expiresAt, status: this.status(sl.lease, now) })
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

  /**
   * A look at a connected member's book before this node walks the DHT, for a
   * claim (slot.ts) or a role gone quiet (dht-upkeep.ts): every lease that
   * member knows, taken as lease sync's are. Nothing to ask without lease
   * sync or a connected member; a failed pull is counted and logged, never
   * thrown.
   */
  private async askPeer (signal: AbortSignal, reason: 'claim' | 'upkeep'): Promise<void> {
    const { transport } = this.c
    if (transport.pull === undefined) return
    const peer = pickConnectedMember({ membership: this.c.membership, connected: this.c.connected ?? (() => []), self: this.c.peerId, region: this.c.region, random: this.random })
    if (peer === undefined) return
    try {
      const leases = await transport.pull(peer, signal)
      this.c.metrics.syncs.inc({ reason, result: 'ok' })
      // Checked records, taken even if the asker gave up waiting: they can only stop a claim or a read.
      for (const sl of leases) this.observe(sl, 'sync')
    } catch (err) {
      this.c.metrics.syncs.inc({ reason, result: 'failed' })
      this.c.logger.debug({ err, peer, reason }, 'lease sync before a DHT read failed')
    }
  }

  /** Read (region, role) from the DHT, merge it into the book, return the best record. */
  async resolve (region: string, role: string, signal?: AbortSignal, reason: 'claim' | 'upkeep' | 'api' = 'api'): Promise<{ lease?: Lease, status: LeaseStatus | 'none', records: number }> {
    this.c.metrics.dhtReads.inc({ reason })
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
    return { lease: best.lease, status: this.status(best.lease, this.now()), records: found.length }
  }

  /**
   * Seconds without a lease in force for an own-region role (0 while one is):
   * since the best known lease stopped being in force in this node's view
   * (`leaseEndSeen`: its expiry, its release, or the contact lapse after its
   * holder was declared gone), or since this engine started if it knows none.
   */
  holderlessSeconds (role: string): number {
    const sl = this.book.get(this.c.region, role)
    const end = sl === undefined ? this.startedAt : leaseEndSeen(sl.lease, 0, this.init.config.contactLapseMs, this.gone.at(sl.lease.holder))
    return Math.max(0, (this.now() - Math.max(end, this.startedAt)) / 1000)
  }

  /** `mycel_election_holderless_seconds`, read when the metrics are scraped. */
  holderless (): Array<{ region: string, role: string, seconds: number }> {
    return this.init.roles.map(role => ({ region: this.c.region, role, seconds: this.holderlessSeconds(role) }))
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
    slot.observed(sl)
    if (holder !== this.c.peerId) slot.wake()
  }

  /** What the slots share, for one run of the engine (start to stop). */
  private slotHost (signal: AbortSignal, learnUntil: number): SlotHost {
    const { config } = this.init
    const { region, peerId, metrics, logger } = this.c
    return {
      config,
      region,
      self: peerId,
      book: this.book,
      logger,
      signal,
      learnUntil,
      now: this.now,
      lastViewChange: () => this.lastViewChange,
      lastContact: () => this.lastContact(),
      inForceUntil: (lease) => leaseEndSeen(lease, config.maxClockSkewMs, config.contactLapseMs, this.gone.at(lease.holder)),
      winner: (role) => this.winner(role),
      fencedTerm: (role) => this.c.fencing.highest(region, role)?.term ?? 0,
      holderlessSeconds: (role) => this.holderlessSeconds(role),
      askPeer: async (sig) => { await this.askPeer(sig, 'claim') },
      resolve: async (role, sig) => await this.resolve(region, role, sig, 'claim'),
      sign: async (lease) => await signLease(lease, this.c.privateKey),
      observe: (signed) => { this.observe(signed, 'self') },
      renewDelay: () => this.jittered(config.renewIntervalMs),
      unreachable: (role, term, renewing) => {
        metrics.renewFailures.inc({ region, role, reason: 'unreachable' })
        logger.info({ role, term, renewing }, 'lease claim/renewal reached no peer')
      },
      elected: (lease) => {
        const { role, term } = lease
        metrics.termsClaimed.inc({ region, role })
        metrics.isHolder.set({ region, role }, 1)
        logger.info({ region, role, term, expiresAt: lease.expiresAt }, 'elected: acting for role')
        this.dispatchEvent(new CustomEvent('role:elected', { detail: { region, role, term, lease } }))
      },
      demoted: (role, term, reason) => {
        metrics.isHolder.set({ region, role }, 0)
        metrics.demotions.inc({ region, role, reason })
        logger.info({ region, role, term, reason }, 'demoted: stopped acting for role')
        this.dispatchEvent(new CustomEvent('role:demoted', { detail: { region, role, term, reason } }))
      }
    }
  }

  private jittered (ms: number): number {
    return Math.round(ms * (1 + this.init.config.jitter * (this.random() * 2 - 1)))
  }
}

/**
 * Every change of a known member's record comes with `member:update`, next
 * to its state event (suspect, dead, left, alive); a member the
 * table did not hold (new, or back after being reaped or evicted) comes with
 * `member:join` alone (one back from `left` with both).
 * Listening to the state events too looked at the view twice per change
 * (members listed and sorted, every slot woken), and while a network forms
 * changes arrive by the thousand.
 */
const MEMBERSHIP_EVENTS = ['member:join', 'member:update'] as const
