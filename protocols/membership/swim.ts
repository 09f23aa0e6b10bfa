/**
 * SWIM membership over libp2p: the composition of the state table (pure
 * rules), the prober, push-pull, the connection keeper and dissemination
 * (piggyback on probes plus the gossipsub topic for updates we originate).
 *
 * Start order: incarnation -> own signed record -> table -> stream handlers
 * -> gossipsub -> connection events -> loops. stop() reverses it; leave()
 * announces a signed `left`, waits for acks from a few members, then stops.
 */
import { setMaxListeners } from 'node:events'
import { TypedEventEmitter } from 'main-event'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { Message } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import type { Logger } from 'pino'
import type { CommonComponents } from '../../lib/components.js'
import type { RequestTransport, RpcHost } from '../../wire/rpc.js'
import { MuxTransport } from '../../wire/rpc-mux.js'
import type { PeerHost } from '../../wire/peers.js'
import type { PubSubHost } from '../../wire/topic.js'
import { isFailStop } from '../../lib/errors.js'
import type { Member, Membership, MembershipEvents } from './types.js'
import { MEMBERSHIP_TOPIC, SEEN_UPDATES_MAX, type MembershipConfig } from './constants.js'
import { SeenUpdates } from './seen-updates.js'
import { MemberTable, type ApplyResult } from './state.js'
import { ConflictReporter } from './identity-conflict.js'
import { BroadcastQueue } from './broadcast-queue.js'
import { Awareness } from './awareness.js'
import { membershipMetrics, type MembershipMetrics } from './metrics.js'
import { decoders, encode, signUpdate, verifyUpdate, type AliveBody, type DeadBody, type LeftBody, type SignedUpdate, type SuspectBody, type Update, type UpdateBody } from './messages.js'
import { rejectReason } from '../../wire/errors.js'
import { shuffled, type Channel, type SwimContext } from './context.js'
import { Prober } from './probe.js'
import { PushPull } from './push-pull.js'
import { Gossiper } from './gossip.js'
import { MemberConnections } from './connections.js'
import { MonitorRings, linkedPeers, type Neighbours, type RingMember } from './overlay.js'
import { fileIncarnationStore, clockIncarnationStore, type IncarnationStore } from './incarnation-store.js'
import { sleep, systemTimekeeper, timeoutSignal, type Timekeeper } from '../../lib/clock.js'
import { OPEN_ADMISSION, type PeerAdmission } from '../../lib/peer-admission.js'
import { OPEN_POLICY, type PeerPolicy } from '../../lib/peer-policy.js'

export interface MembershipInit {
  /** Resolved tunables: `membershipConfig(profile, overrides)`. */
  config: MembershipConfig
  /** Own region; defaults to components.region. */
  region?: string
  /** Roles this node is eligible for. @default [] */
  roles?: string[]
  /** Daemon version string advertised to members. */
  version: string
  /** Data dir for the durable incarnation counter; without it the clock seeds the incarnation. */
  dataDir?: string
  /** Custom incarnation persistence (wins over dataDir). */
  incarnationStore?: IncarnationStore
  /** Addresses to advertise; defaults to the node's own multiaddrs (listen or --announce). */
  addrs?: () => string[]
  /**
   * Admission (protocols/admission). Streams of unadmitted peers never reach
   * membership; this also keeps out records about refused peers that arrive
   * second-hand, and evicts a member once it is refused. @default everyone admitted
   */
  admission?: PeerAdmission
  /**
   * Checks that an update is signed by its originator; throws
   * InvalidSignatureError otherwise. The membership simulator passes one that
   * checks each distinct signed update once for all its nodes
   * (harness/membership-sim/verify-once.ts). @default verifyUpdate of messages.ts
   */
  verifyUpdate?: (body: UpdateBody, raw: SignedUpdate) => Promise<void>
}

/**
 * Where probe, probe-req and push-pull frames go: a libp2p node's streams
 * (`rpc`), or any other `RequestTransport` (the simulator's virtual network).
 */
export type MembershipStreams = { rpc: RpcHost, transport?: undefined } | { transport: RequestTransport, rpc?: undefined }

export type MembershipComponents = Pick<CommonComponents, 'peerId' | 'privateKey' | 'region' | 'logger' | 'registry' | 'faults'> & MembershipStreams & {
  /** Timers, timestamps and durations. @default the real clock (lib/clock.ts systemTimekeeper) */
  clock?: Timekeeper
  /** Uniform random numbers in [0, 1) (probe order, helpers, jitter). @default Math.random */
  random?: () => number
  /** Connections to members, dials, own addresses, connection events. */
  peers: PeerHost
  /** The membership topic: updates are checked before gossipsub forwards them; own ones are published. */
  pubsub: PubSubHost
}

export class Swim extends TypedEventEmitter<MembershipEvents> implements Membership {
  readonly metrics: MembershipMetrics
  private readonly cfg: MembershipConfig
  private readonly log: Logger
  private readonly codec
  private readonly store: IncarnationStore
  private readonly awareness: Awareness
  private readonly queue: BroadcastQueue
  /** Exact copies already judged are dropped undecoded (seen-updates.ts). */
  private readonly seen = new SeenUpdates(SEEN_UPDATES_MAX)
  private table?: MemberTable
  private readonly rings: MonitorRings
  /** Our ring neighbours under the current member set; dropped when that set changes (ringChanged). */
  private ring?: Neighbours
  /** The member set the rings are drawn over (alive and suspect, self included); dropped with `ring`. */
  private ringView?: RingMember[]
  /** `ringView` by id: each member's region in it. */
  private ringRegions?: Map<string, string>
  private ctx?: SwimContext
  private prober?: Prober
  private pushPull?: PushPull
  private gossiper?: Gossiper
  private conns?: MemberConnections
  private shutdown?: AbortController
  private maintenance?: Promise<void>
  private selfChain: Promise<void> = Promise.resolve()
  private meta: { region: string, roles: string[], version: string, addrs?: string[] }
  private readonly admission: PeerAdmission
  private unsubscribeRefusals?: () => void
  private policy: PeerPolicy = OPEN_POLICY
  private offPolicy?: () => void
  private readonly conflicts: ConflictReporter
  private readonly clock: Timekeeper
  private readonly random: () => number
  private readonly transport: RequestTransport
  /** The request mux over `rpc`, when this instance made it (closed on stop). */
  private readonly mux?: MuxTransport
  private readonly verify: (body: UpdateBody, raw: SignedUpdate) => Promise<void>

  constructor (private readonly init: MembershipInit, private readonly components: MembershipComponents) {
    super()
    this.cfg = init.config
    this.clock = components.clock ?? systemTimekeeper
    this.random = components.random ?? Math.random
    this.verify = init.verifyUpdate ?? verifyUpdate
    this.log = components.logger.child({ component: 'membership' })
    // Probes and push-pull digests as frames on one stream per peer (wire/rpc-mux.ts).
    if (components.transport !== undefined) this.transport = components.transport
    else this.transport = this.mux = new MuxTransport(components.rpc, {}, { logger: this.log, registry: components.registry })
    this.codec = decoders(this.cfg)
    this.store = init.incarnationStore ?? (init.dataDir !== undefined ? fileIncarnationStore(init.dataDir) : clockIncarnationStore(this.clock.now))
    this.awareness = new Awareness(this.cfg.awarenessMaxMultiplier)
    this.queue = new BroadcastQueue(this.cfg.retransmitMult, this.cfg.piggybackQueueMax)
    this.rings = new MonitorRings(components.peerId, this.cfg.monitorRings, this.cfg.regionRings)
    this.meta = { region: init.region ?? components.region, roles: [...(init.roles ?? [])], version: init.version }
    this.admission = init.admission ?? OPEN_ADMISSION
    this.metrics = membershipMetrics(components.registry, {
      counts: () => this.table?.countByState() ?? { alive: 0, suspect: 0, dead: 0, left: 0, revoked: 0 },
      health: () => this.awareness.healthScore(),
      incarnation: () => this.table?.selfIncarnation ?? 0
    })
    this.conflicts = new ConflictReporter(this.log, this.metrics.identityConflicts, this.cfg.identityConflictLogMs, this.cfg.maxMembers)
  }

  async start (): Promise<void> {
    if (this.shutdown !== undefined && !this.shutdown.signal.aborted) return
    const shutdown = new AbortController()
    // Every in-flight probe, gossip round and dial listens on it.
    setMaxListeners(Infinity, shutdown.signal)
    this.shutdown = shutdown
    const { peers, pubsub, peerId } = this.components
    let inc: number
    let self: Update<AliveBody>
    try {
      inc = this.store.start()
      self = await this.signAlive(inc)
    } catch (err) {
      shutdown.abort()
      throw err
    }
    // A new table: no verdict of the last run holds (seen-updates.ts).
    this.seen.clear()
    const table = new MemberTable(this.cfg, this.clock, self, {
      onRefute: (incarnation, reason) => { this.refute(incarnation, reason) },
      onSuspicionTimeout: (id, incarnation) => { this.declareDead(id, incarnation) },
      onNews: (member, raw, drive) => { this.queue.enqueue(member, raw, drive) },
      emit: (event, member) => { this.onMemberEvent(event, member) },
      onConflict: (conflict) => { this.conflicts.report(conflict, this.clock.now()) },
      // Verdicts held against that entry may turn (seen-updates.ts); its addresses are written again if it returns.
      onForget: (id) => {
        this.seen.clear()
        this.conns?.forgetAddrs(id)
      },
      observers: (id) => this.observersOf(id).length
    }, () => this.awareness.scaleTimeout(1))
    this.table = table
    this.dropRing()
    const ctx: SwimContext = {
      cfg: this.cfg,
      transport: this.transport,
      clock: this.clock,
      random: this.random,
      peers,
      selfId: peerId,
      table,
      queue: this.queue,
      awareness: this.awareness,
      metrics: this.metrics,
      log: this.log,
      codec: this.codec,
      signal: shutdown.signal,
      ingest: async (raw, channel, from) => await this.ingest(raw, channel, from),
      // estimateN walks the table: skip it for the usual empty queue.
      piggyback: () => this.queue.size === 0 ? [] : this.queue.take(this.cfg.piggybackMaxBytes, table.estimateN()),
      suspect: async (id, incarnation, refused) => { await this.raiseSuspicion(id, incarnation, refused) },
      probeSoon: (id) => { this.prober?.probeSoon(id) },
      neighbours: () => this.overlay(),
      observersOf: (id) => this.observersOf(id),
      settleSelf: async () => { await this.selfChain }
    }
    this.ctx = ctx
    this.prober = new Prober(ctx)
    this.pushPull = new PushPull(ctx)
    this.conns = new MemberConnections(ctx, this.pushPull)
    this.gossiper = new Gossiper(ctx, this.prober)
    await this.prober.start()
    await this.pushPull.start()

    pubsub.topicValidators.set(MEMBERSHIP_TOPIC, async (_peer: PeerId, msg: Message) => await this.validateGossip(msg))
    pubsub.subscribe(MEMBERSHIP_TOPIC)

    this.conns.start()
    this.unsubscribeRefusals = this.admission.onRefused((peer, refusal) => {
      // Revoked peers stay listed as `revoked` (never resurrected); others are forgotten.
      if (refusal.reason === 'revoked') {
        if (this.table?.revoke(peer) === true) this.log.warn({ peer }, `member revoked: ${refusal.detail}`)
      } else if (this.table?.evict(peer) === true) this.log.warn({ peer, reason: refusal.reason }, 'member refused by admission, removed from membership')
    })
    peers.addEventListener('self:peer:update', this.onSelfUpdate)
    this.queue.enqueue(peerId, self.raw)
    this.publish(self.raw)
    this.gossiper.start()
    this.maintenance = this.maintain(shutdown.signal)
    this.log.info({ incarnation: inc, region: this.meta.region }, 'membership started')
  }

  async stop (): Promise<void> {
    const shutdown = this.shutdown
    if (shutdown === undefined || shutdown.signal.aborted) return
    shutdown.abort()
    this.conns?.stop()
    this.unsubscribeRefusals?.()
    this.unsubscribeRefusals = undefined
    this.components.peers.removeEventListener('self:peer:update', this.onSelfUpdate)
    const pubsub = this.components.pubsub
    try {
      pubsub.topicValidators.delete(MEMBERSHIP_TOPIC)
      pubsub.unsubscribe(MEMBERSHIP_TOPIC)
    } catch { /* the node may already be stopping */ }
    await Promise.all([this.prober?.stop(), this.pushPull?.stop(), this.gossiper?.stop(), this.maintenance])
    await this.mux?.close()
    await this.selfChain
    this.offPolicy?.()
    this.offPolicy = undefined
    this.table?.close()
    this.queue.clear()
  }

  /**
   * Apply the network's admission policy from now on (the agent attaches it
   * once critical config runs): revoked peers become `revoked` members for
   * good, peers it does not allow (or not in the region they claim) are
   * forgotten, and records about either are dropped whoever passes them on.
   */
  attachPolicy (policy: PeerPolicy): void {
    this.offPolicy?.()
    this.policy = policy
    this.offPolicy = policy.onChange(() => { this.applyPolicy() })
    this.applyPolicy()
  }

  private applyPolicy (): void {
    const table = this.table
    if (table === undefined) return
    for (const m of table.members()) {
      if (m.peerId === this.components.peerId.toString()) continue
      const standing = this.policy.standing(m.peerId, m.region)
      if (standing === 'revoked') {
        if (table.revoke(m.peerId)) this.log.warn({ peer: m.peerId }, `member revoked: ${this.policy.explain(m.peerId)}`)
      } else if (standing === 'not-allowed' && m.state !== 'revoked') {
        if (table.evict(m.peerId)) this.log.warn({ peer: m.peerId, region: m.region }, `member not allowed, removed from membership: ${this.policy.explain(m.peerId)}`)
      }
    }
  }

  self (): Member {
    if (this.table !== undefined) return this.table.self()
    // Before start: what we will announce, so status pages can render.
    return { peerId: this.components.peerId, state: 'alive', incarnation: 0, region: this.meta.region, roles: [...this.meta.roles], addrs: [], version: this.meta.version, lastSeen: this.clock.now() }
  }
  members (): Member[] { return this.table?.members() ?? [] }
  lastContact (): number | undefined { return this.table?.lastContact() }
  get (peerId: string): Member | undefined { return this.table?.get(peerId) }

  alivePeers (): Member[] {
    const t = this.table
    if (t === undefined) return []
    return t.ids(['alive']).map(id => t.get(id)).filter((m): m is Member => m !== undefined)
  }

  neighbours (): string[] {
    return linkedPeers(this.overlay())
  }

  subjects (): string[] {
    return [...this.overlay().subjects]
  }

  /**
   * Our place in the monitoring rings over the alive and suspect members,
   * recomputed only after that set changed (every change of state or region
   * emits a member event, see onMemberEvent and ringChanged).
   */
  private overlay (): Neighbours {
    if (this.table === undefined) return { subjects: [], observers: [] }
    this.ring ??= this.rings.neighbours(this.ringMembers())
    return this.ring
  }

  /** The members that probe `id` under the current view (the rings over the alive and suspect members). */
  private observersOf (id: string): string[] {
    if (this.table === undefined) return []
    return this.rings.neighboursOf(id, this.ringMembers()).observers
  }

  private ringMembers (): RingMember[] {
    if (this.ringView !== undefined) return this.ringView
    const t = this.table as MemberTable
    const members: RingMember[] = [{ id: this.components.peerId, region: t.self().region }]
    for (const id of t.ids(['alive', 'suspect'])) {
      const m = t.get(id)
      if (m !== undefined) members.push({ id, region: m.region })
    }
    this.ringView = members
    this.ringRegions = new Map(members.map(m => [m.id, m.region]))
    return members
  }

  private dropRing (): void {
    this.ring = undefined
    this.ringView = undefined
    this.ringRegions = undefined
  }

  /**
   * Whether `member`'s new record changes the set the rings are drawn over:
   * it entered or left alive-or-suspect, or moved region. Most member events
   * do neither: a suspicion and its refutation (alive and suspect are both
   * on the rings), a new incarnation, new addresses or roles. While a
   * network forms they come by the thousand (each suspicion of a starved
   * member is applied and refuted everywhere), and each used to redraw the
   * rings (K + R sorts of the member set) for every listener that asks.
   */
  private ringChanged (member: Member): boolean {
    const regions = this.ringRegions
    if (regions === undefined) return false
    const onRings = member.state === 'alive' || member.state === 'suspect'
    const region = regions.get(member.peerId)
    return onRings ? region !== member.region : region !== undefined
  }

  randomAlive (n: number, filter?: (m: Member) => boolean): Member[] {
    const out: Member[] = []
    for (const m of shuffled(this.alivePeers(), this.random)) {
      if (out.length >= n) break
      if (filter === undefined || filter(m)) out.push(m)
    }
    return out
  }

  updateSelf (patch: Partial<Pick<Member, 'roles' | 'version' | 'addrs'>>): void {
    if (patch.roles !== undefined) this.meta.roles = [...patch.roles]
    if (patch.version !== undefined) this.meta.version = patch.version
    if (patch.addrs !== undefined) this.meta.addrs = [...patch.addrs]
    const table = this.table
    if (table === undefined || table.leaving) return
    this.publishSelf(table.bumpSelf())
  }

  async leave (signal?: AbortSignal): Promise<void> {
    const table = this.table
    const ctx = this.ctx
    if (table === undefined || ctx === undefined || ctx.signal.aborted || table.leaving) {
      await this.stop()
      return
    }
    await this.selfChain
    const left = await signUpdate<LeftBody>(this.components.privateKey, { v: 1, t: 'left', id: this.components.peerId, inc: table.selfIncarnation, ts: this.clock.now() })
    table.setSelfLeft(left)
    this.queue.enqueue(this.components.peerId, left.raw)
    this.publish(left.raw)
    // Hand the leave to a few members directly and wait for their acks; they
    // spread it further by piggyback even if gossipsub has no mesh yet.
    // Our observers first: they are connected and would otherwise suspect us.
    const linked = this.overlay().observers
    const others = shuffled(table.ids(['alive']).filter(id => !linked.includes(id)), this.random)
    const targets = [...shuffled(linked, this.random), ...others].slice(0, Math.max(1, this.cfg.indirectChecks))
    const deadline = AbortSignal.any([timeoutSignal(this.cfg.leaveTimeoutMs, this.clock), ...(signal !== undefined ? [signal] : [])])
    await Promise.race([
      Promise.all(targets.map(async id => await this.prober?.ping(id, this.cfg.leaveTimeoutMs, { extra: [left.raw] }))),
      sleep(this.cfg.leaveTimeoutMs, deadline, this.clock)
    ])
    this.log.info({ incarnation: left.body.inc, told: targets.length }, 'left the cluster')
    await this.stop()
  }

  // ---- dissemination -------------------------------------------------------

  /**
   * Decode, order, verify and apply one update from the network. Never throws.
   * `from` is the peer that handed the records over in a push-pull or a probe:
   * its own record is first-hand when it comes in a push-pull, or in a probe
   * from a peer we do not hold as alive: a joiner, or a member back from the
   * dead, whose first probe beat its first exchange, or a suspect refuting in
   * its ack (Lifeguard's buddy system). Its own publication may have reached
   * nobody: a joiner has no mesh yet, and a suspect is suspected because its
   * links fail. The member that learns it first-hand publishes it on gossipsub
   * and drives gossip rounds for it; where it has spread already the copy
   * goes no further (the topic validator ignores what is not news). A live
   * member's later records (metadata) travel on its own mesh.
   * What gossipsub delivered, and what else a push-pull brought, only rides
   * along on probes. What came by probe drives this node's gossip rounds, as
   * in memberlist, only while this node has no live member in its membership
   * mesh (`inMesh`); otherwise gossipsub brings it here too, and its first
   * gossipsub copy is forwarded though it is no news here (`validateGossip`).
   * Exact copies of updates judged before are dropped first (seen-updates.ts).
   */
  private async ingest (raw: SignedUpdate, channel: Channel, from?: string): Promise<ApplyResult | 'rejected'> {
    const table = this.table
    if (table === undefined) return 'rejected'
    if (this.seen.has(raw)) return this.duplicate()
    const viaGossip = channel === 'gossip'
    let body: UpdateBody
    try {
      body = this.codec.body(raw)
    } catch (err) {
      this.metrics.messages.inc({ type: 'update', result: rejectReason(err) })
      this.log.debug({ err: (err as Error).message, channel }, 'dropped malformed membership update')
      return 'rejected'
    }
    // A peer this node refused is no member, whoever passes its record on.
    if (body.t === 'alive' && (this.admission.refusal(body.id) !== undefined || this.policy.standing(body.id, body.region) !== 'admitted')) {
      this.metrics.messages.inc({ type: body.t, result: 'refused_peer' })
      return 'stale'
    }
    const verdict = table.classify(body)
    // Cheap ordering first: stale and unknown updates never cost a signature
    // check, except a stale record that differs from the one we hold, which
    // may be a second process with the same identity (identity-conflict.ts).
    if (verdict === 'stale' && table.differsFromHeld(body, raw)) {
      if (await this.verify(body, raw).then(() => true, () => false)) {
        // Passed on once, so the twins see each other's records too.
        if (table.observe({ body, raw } as Update)) this.queue.enqueue(`conflict:${body.id}`, raw)
      }
    }
    if (verdict === 'stale' || verdict === 'unknown' || verdict === 'full') {
      this.metrics.messages.inc({ type: body.t, result: verdict })
      // Stale against an entry we hold stays so while we hold it; against a tombstone it does not.
      if (verdict === 'stale' && table.holds(body.id)) this.seen.add(raw, false, viaGossip)
      return verdict
    }
    try {
      await this.verify(body, raw)
    } catch (err) {
      this.metrics.messages.inc({ type: body.t, result: rejectReason(err) })
      this.log.debug({ err: (err as Error).message, channel, about: body.id }, 'dropped membership update with a bad signature')
      return 'rejected'
    }
    const firstHand = from !== undefined && body.id === from && (channel === 'pushpull' || (channel === 'probe' && table.get(body.id)?.state !== 'alive'))
    const result = table.apply({ body, raw } as Update, firstHand || (channel === 'probe' && !this.inMesh()))
    if (result !== 'unknown' && result !== 'full') this.seen.add(raw, result !== 'stale', viaGossip)
    if (result === 'applied' && firstHand) this.publish(raw)
    this.metrics.messages.inc({ type: body.t, result: result === 'applied' ? 'ok' : result })
    if (result === 'applied' && body.t === 'suspect') this.metrics.suspicions.inc({ origin: 'remote' })
    return result
  }

  private async validateGossip (msg: Message): Promise<TopicValidatorResult> {
    this.metrics.bytes.inc({ channel: 'gossip', direction: 'received' }, msg.data.byteLength)
    let raw: SignedUpdate
    try {
      raw = this.codec.gossip(msg.data)
    } catch (err) {
      this.metrics.gossip.inc({ topic: MEMBERSHIP_TOPIC, result: rejectReason(err) })
      return TopicValidatorResult.Reject
    }
    // The first gossipsub copy of an update that reached us by probe first goes on
    // through the mesh: ignored here, the flood would stop at every such member.
    const copy = this.seen.gossipCopy(raw)
    if (copy === 'forward') {
      this.metrics.gossip.inc({ topic: MEMBERSHIP_TOPIC, result: 'forwarded' })
      return TopicValidatorResult.Accept
    }
    const result = copy === 'seen' ? this.duplicate() : await this.ingest(raw, 'gossip')
    this.metrics.gossip.inc({ topic: MEMBERSHIP_TOPIC, result: result === 'applied' ? 'accepted' : result })
    if (result === 'rejected') return TopicValidatorResult.Reject
    return result === 'applied' || result === 'confirmed' || result === 'refuted' ? TopicValidatorResult.Accept : TopicValidatorResult.Ignore
  }

  /** An exact copy of an update judged before (seen-updates.ts): counted, and `stale` again. */
  private duplicate (): 'stale' {
    this.metrics.messages.inc({ type: 'update', result: 'duplicate' })
    return 'stale'
  }

  /**
   * Whether gossipsub carries the membership topic to this node: it has a
   * live member among its mesh peers on it. Every update is published there
   * by whoever made it (a joiner's first record, and a suspect's refutation,
   * also by the member it first told), so a node in the mesh gets what
   * reached it by probe from gossipsub too, and need not send rounds of its
   * own for it (gossip.ts).
   */
  private inMesh (): boolean {
    const table = this.table
    const mesh = this.components.pubsub.getMeshPeers?.(MEMBERSHIP_TOPIC) ?? []
    // A mesh peer counts only while it is a live member: gossipsub keeps a
    // peer across a partition until its connection goes.
    return table !== undefined && mesh.some(p => table.get(String(p))?.state === 'alive')
  }

  /** Publish an update we originated, or a joiner's first-hand record, on the membership topic (best effort). */
  private publish (raw: SignedUpdate): void {
    if (this.shutdown === undefined) return
    const data = encode(raw)
    this.metrics.bytes.inc({ channel: 'gossip', direction: 'sent' }, data.byteLength)
    this.components.pubsub.publish(MEMBERSHIP_TOPIC, data).catch(err => {
      this.log.debug({ err: (err as Error).message }, 'membership publish failed')
    })
  }

  // ---- effects requested by the state table ----------------------------------

  private refute (incarnation: number, reason: UpdateBody): void {
    if (reason.t === 'suspect' || reason.t === 'dead') {
      // Lifeguard: being suspected hints that we are the slow one.
      this.awareness.applyDelta(1)
      this.log.info({ incarnation, accuser: reason.from, claim: reason.t }, 'refuting suspicion about ourselves')
    }
    this.publishSelf(incarnation)
  }

  /** Persist, sign, install and spread our alive record at `incarnation` (serialized). */
  private publishSelf (incarnation: number): void {
    this.selfChain = this.selfChain.then(async () => {
      const table = this.table
      if (table === undefined || table.leaving || incarnation < table.selfIncarnation) return
      this.store.save(incarnation)
      const u = await this.signAlive(incarnation)
      table.setSelf(u)
      this.queue.enqueue(this.components.peerId, u.raw)
      this.publish(u.raw)
    }).catch(err => {
      this.log.error({ err }, 'could not publish own alive record')
      // The incarnation could not be made durable: it is never used, so we
      // cannot refute suspicion and peers will declare us dead (fail-stop as
      // seen from outside); /readyz says why.
      if (isFailStop(err)) this.components.faults?.report('membership', err)
    })
  }

  private declareDead (id: string, inc: number): void {
    this.log.info({ peer: id, incarnation: inc }, 'suspicion expired, member is dead')
    signUpdate<DeadBody>(this.components.privateKey, { v: 1, t: 'dead', id, inc, from: this.components.peerId, ts: this.clock.now() })
      .then(u => {
        if (this.table?.attachLocalDead(u) === true) {
          this.queue.enqueue(id, u.raw)
          this.publish(u.raw)
        }
      })
      .catch(err => { this.log.error({ err }, 'could not sign dead claim') })
  }

  private async raiseSuspicion (id: string, inc: number, refused: boolean): Promise<void> {
    const u = await signUpdate<SuspectBody>(this.components.privateKey, { v: 1, t: 'suspect', id, inc, from: this.components.peerId, ts: this.clock.now(), refused })
    const result = this.table?.apply(u)
    if (result === 'applied' || result === 'confirmed') {
      if (result === 'applied') {
        this.metrics.suspicions.inc({ origin: 'local' })
        this.log.info({ peer: id, incarnation: inc, refused }, 'member suspected')
      }
      this.publish(u.raw)
    }
  }

  private onMemberEvent (event: keyof MembershipEvents, member: Member): void {
    if (this.ringChanged(member)) this.dropRing()
    if (event === 'member:join' || event === 'member:update') {
      if (member.state === 'alive') void this.conns?.learnAddrs(member.peerId, member.addrs)
    }
    if (event === 'member:dead' || event === 'member:left') this.conns?.forgetAddrs(member.peerId)
    if (event === 'member:join' || event === 'member:dead' || event === 'member:left' || event === 'member:alive') {
      this.log.info({ peer: member.peerId, incarnation: member.incarnation, state: member.state }, event)
    }
    this.safeDispatchEvent(event, { detail: member })
  }

  private async maintain (signal: AbortSignal): Promise<void> {
    let lastReconnect = this.clock.now()
    while (!signal.aborted) {
      await sleep(this.cfg.maintenanceIntervalMs, signal, this.clock)
      if (signal.aborted) return
      try {
        this.table?.reap()
        this.conns?.maintain()
        // When most of our view is dead, we are more likely the isolated one:
        // try to reach a dead member every tick instead of every reconnect interval.
        const counts = this.table?.countByState()
        const isolated = counts !== undefined && counts.dead > counts.alive - 1
        if (this.clock.now() - lastReconnect >= (isolated ? this.cfg.maintenanceIntervalMs : this.cfg.reconnectIntervalMs)) {
          lastReconnect = this.clock.now()
          const dead = shuffled(this.table?.ids(['dead']) ?? [], this.random)[0]
          if (dead !== undefined) void this.pushPull?.sync(dead, true)
        }
      } catch (err) {
        this.log.warn({ err }, 'membership maintenance failed')
      }
    }
  }

  /** Our listen/announce addresses changed: advertise the new set (unless pinned by init or updateSelf). */
  private readonly onSelfUpdate = (): void => {
    const table = this.table
    if (table === undefined || table.leaving || this.meta.addrs !== undefined || this.init.addrs !== undefined) return
    const now = this.currentAddrs()
    const had = table.selfRecord().body.addrs
    if (now.length === had.length && now.every(a => had.includes(a))) return
    this.log.info({ addrs: now }, 'own addresses changed, re-announcing')
    this.publishSelf(table.bumpSelf())
  }

  private currentAddrs (): string[] {
    const addrs = this.meta.addrs ?? this.init.addrs?.() ?? this.components.peers.getMultiaddrs().map(a => stripPeerId(a.toString()))
    return [...new Set(addrs)].slice(0, 16)
  }

  private async signAlive (inc: number): Promise<Update<AliveBody>> {
    const addrs = this.currentAddrs()
    return await signUpdate<AliveBody>(this.components.privateKey, {
      v: 1,
      t: 'alive',
      id: this.components.peerId,
      inc,
      region: this.meta.region,
      roles: this.meta.roles,
      addrs,
      ver: this.meta.version,
      ts: this.clock.now()
    })
  }
}

function stripPeerId (addr: string): string {
  const i = addr.indexOf('/p2p/')
  return i === -1 ? addr : addr.slice(0, i)
}
