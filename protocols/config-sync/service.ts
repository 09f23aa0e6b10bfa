/**
 * The replicated configuration service of one agent: the durable store
 * (crdt/), gossip of new envelopes, anti-entropy with ring subjects,
 * acknowledgements for `waitFor`, snapshots, metrics and the admin API.
 *
 * Start order: open the store (replays the log) → serve the sync protocol →
 * subscribe to gossip → listen to membership → timers. Stop is the reverse;
 * the store closes last, after a final fsync.
 */
import { join } from 'node:path'
import { peerIdOf } from '../../wire/peer-ids.js'
import type { PeerId } from '@libp2p/interface'
import * as Y from 'yjs'
import type { CommonComponents } from '../../lib/components.js'
import type { Startable } from '../../lib/lifecycle.js'
import { jittered } from '../../lib/clock.js'
import { offenceSink } from '../../lib/peer-offences.js'
import type { RpcHost } from '../../wire/rpc.js'
import type { Tracer } from '../../wire/tracing.js'
import type { PubSubHost } from '../../wire/topic.js'
import type { Member, Membership, MembershipView } from '../membership/types.js'
import { ConfigStore } from '../../crdt/store.js'
import type { AccessPolicy } from '../../crdt/access.js'
import { compileNamespaces, namespacesSectionSchema, type BuiltinNamespaces, type NamespaceRules, type NamespacesSection } from '../../crdt/namespaces.js'
import type { ChangeEvent, IngestOrigin, IngestResult } from '../../crdt/replica.js'
import type { Envelope } from '../../crdt/envelope.js'
import type { ConfigSyncConfig } from './constants.js'
import { configMetrics, type ConfigMetrics } from './metrics.js'
import { AckTracker } from './acks.js'
import { AntiEntropy } from './anti-entropy.js'
import { ConfigGossip } from './gossip.js'
import { AckTimeoutError } from './errors.js'
import { ConfigWatchers } from './watch.js'
import { CONFIG_WRITE_SPAN, EnvelopeSpans } from './tracing.js'

export interface ConfigServiceInit {
  config: ConfigSyncConfig
  /** The agent config file's `namespaces:` section (ACL, schema, limits). */
  namespaces?: NamespacesSection
  /** Replaces the file-based ACL (the BFT-committed one, later). */
  access?: AccessPolicy
  /** Namespaces this release defines, with their value rules in code: the same on every node of the release, so writer and receivers agree. */
  builtins?: BuiltinNamespaces
}

export type ConfigServiceComponents = Pick<CommonComponents, 'peerId' | 'privateKey' | 'dataDir' | 'logger' | 'registry' | 'faults'> & {
  /** The anti-entropy protocol, both ways. */
  rpc: RpcHost
  /** The config topic: new envelopes, checked before gossipsub forwards them. */
  pubsub: PubSubHost
  /**
   * Live members to sync with and acknowledgements to wait for; departures
   * drop acks. Rounds start toward `subjects()`, the members this node dials
   * and keeps a connection to anyway (membership's monitoring rings), see
   * `partner`.
   */
  membership: Pick<MembershipView, 'alivePeers' | 'randomAlive' | 'addEventListener' | 'removeEventListener'> & Pick<Membership, 'subjects'>
  /** Spans of traced writes, ours and received (tracing.ts); none: nothing is traced and envelopes carry no `tc`. */
  tracer?: Tracer
}

export interface WriteOptions {
  deleted?: boolean
  /** Wait until this many other members hold the write durably. */
  waitFor?: number
  timeoutMs?: number
  signal?: AbortSignal
  /**
   * Trace this write (with a tracer): it records a span and its envelope
   * carries the span's traceparent, so every receiver records its hops too.
   * `parent` is the W3C traceparent of the operation it belongs to (an API
   * caller's header, a rollout's); absent or invalid, a new trace starts.
   * Writes without it (the roles' periodic records) are not traced: a span
   * on every node for each would crowd the log stores.
   */
  trace?: { parent?: string }
}

export interface WriteResult {
  /** Undefined when nothing was written (deleting an absent key). */
  envelope?: Envelope
  acked: string[]
  /** The write's span, when traced: its trace id is what `mycel trace` follows. */
  trace?: { traceId: string, traceparent: string }
}

export function configService (init: ConfigServiceInit): (components: ConfigServiceComponents) => ConfigService {
  return (components) => new ConfigService(init, components)
}

export class ConfigService implements Startable {
  readonly metrics: ConfigMetrics
  readonly acks = new AckTracker()
  /** Watch streams of the admin API (bounded; see watch.ts). */
  readonly watchers: ConfigWatchers
  private store_: ConfigStore | undefined
  private rules: NamespaceRules | undefined
  private ae: AntiEntropy | undefined
  private gossip: ConfigGossip | undefined
  private shutdown: AbortController | undefined
  private aeTimer: NodeJS.Timeout | undefined
  private snapTimer: NodeJS.Timeout | undefined
  private readonly syncing = new Map<string, Promise<unknown>>()
  private readonly gapTimers = new Map<string, NodeJS.Timeout>()
  /**
   * A member that joins or comes back is synced at once by the members that
   * probe it (it is their subject), not by the ones it probes: those it
   * syncs with itself as its subjects. Each ring link gets one round, started
   * by the side that dials that link anyway (see `partner`).
   */
  private readonly onMember = (e: CustomEvent<Member>): void => {
    if (this.c.membership.subjects().includes(e.detail.peerId)) this.syncSoon(e.detail.peerId)
  }
  /** A member that left or died no longer acknowledges anything; forget what it told us (bounded memory under churn). */
  private readonly onGone = (e: CustomEvent<Member>): void => { this.acks.forget(e.detail.peerId) }
  private readonly log
  private readonly spans: EnvelopeSpans | undefined

  constructor (private readonly init: ConfigServiceInit, private readonly c: ConfigServiceComponents) {
    this.log = c.logger.child({ component: 'config' })
    this.spans = c.tracer !== undefined ? new EnvelopeSpans(c.tracer, init.config.traceMaxAgeMs) : undefined
    this.metrics = configMetrics(c.registry, {
      namespaces: () => this.store_ === undefined
        ? []
        : this.store_.replica.namespaces().map(ns => ({
          ns,
          bytes: Y.encodeStateAsUpdate(this.store_?.replica.doc(ns) as Y.Doc).byteLength,
          keys: this.store_?.replica.entries(ns).length ?? 0
        })),
      logBytes: () => this.store_?.logBytes ?? 0,
      held: () => this.store_?.replica.heldCount() ?? 0,
      watchers: () => this.watchers.count
    })
    this.watchers = new ConfigWatchers(this, init.config, {
      dropped: reason => { this.metrics.watchDrops.inc({ reason }) },
      refused: () => { this.metrics.watchRefusals.inc() }
    })
  }

  /** The store; only after start(). */
  get store (): ConfigStore {
    if (this.store_ === undefined) throw new Error('config service not started')
    return this.store_
  }

  get started (): boolean { return this.shutdown !== undefined }

  async start (): Promise<void> {
    if (this.shutdown !== undefined) return
    const { config } = this.init
    const c = this.c
    const section = namespacesSectionSchema.parse(this.init.namespaces ?? {})
    const m = this.metrics
    this.rules = compileNamespaces(section, config.limits, this.init.access, this.init.builtins)
    this.store_ = new ConfigStore({
      dir: join(c.dataDir, 'config'),
      privateKey: c.privateKey,
      self: c.peerId,
      rules: this.rules,
      limits: config.limits,
      syncDelayMs: config.syncDelayMs,
      logger: this.log,
      // Fail-stop: the agent stops this component and reports the file in /readyz.
      onFail: (err) => { c.faults?.report('config', err) },
      hooks: {
        onReceived: (env, origin) => { this.spans?.received(env, origin) },
        onApplied: (env, origin) => {
          if (origin === 'gossip' || origin === 'sync') {
            if (env.writer !== c.peerId) m.lag.observe({ path: origin }, Math.max(0, Date.now() - env.time) / 1000)
            this.spans?.applied(env)
          }
        },
        onInvalidValue: (ns, key, err) => {
          m.invalidValues.inc({ namespace: ns })
          this.log.warn({ ns, key, err: err.message }, 'replicated value fails validation; keeping the last valid one')
        },
        onEquivocation: (ns, writer, seq) => {
          m.equivocations.inc()
          offenceSink(c.registry).record(writer, 'equivocation')
          this.log.warn({ ns, writer, seq }, 'writer signed two different envelopes with one sequence number')
        },
        onStreamStopped: (ns, writer, seq, err) => {
          m.streamStops.inc()
          this.log.warn({ ns, writer, seq, err: err.message },
            'writer signed an envelope this node refuses; its later writes to the namespace cannot apply here until a restart with rules that accept it')
        }
      }
    })
    const s = this.store_.openStats
    this.log.info({ ...s }, 'config store opened')
    this.shutdown = new AbortController()
    const ingest = async (bytes: Uint8Array, origin: IngestOrigin): Promise<IngestResult> => await this.ingest(bytes, origin)
    this.ae = new AntiEntropy({ host: c.rpc, store: this.store_, config, acks: this.acks, metrics: m, logger: this.log, ingest })
    await this.ae.start()
    this.gossip = new ConfigGossip({ pubsub: c.pubsub, logger: this.log, registry: c.registry, ingest, onGap: peer => { this.pullAfterGap(peer) } })
    this.gossip.start()
    c.membership.addEventListener('member:join', this.onMember)
    c.membership.addEventListener('member:alive', this.onMember)
    c.membership.addEventListener('member:dead', this.onGone)
    c.membership.addEventListener('member:left', this.onGone)
    this.scheduleRound()
    this.snapTimer = setInterval(() => { this.maybeSnapshot() }, config.snapshotCheckMs)
    this.snapTimer.unref()
  }

  async stop (): Promise<void> {
    if (this.shutdown === undefined) return
    this.shutdown.abort()
    this.shutdown = undefined
    this.watchers.closeAll()
    clearTimeout(this.aeTimer)
    clearInterval(this.snapTimer)
    for (const t of this.gapTimers.values()) clearTimeout(t)
    this.gapTimers.clear()
    this.c.membership.removeEventListener('member:join', this.onMember)
    this.c.membership.removeEventListener('member:alive', this.onMember)
    this.c.membership.removeEventListener('member:dead', this.onGone)
    this.c.membership.removeEventListener('member:left', this.onGone)
    this.gossip?.stop()
    await this.ae?.stop()
    await Promise.allSettled([...this.syncing.values()])
    await this.store_?.close()
    this.spans?.close()
  }


  // ---- API for the admin routes and other modules -----------------------

  get (ns: string, key: string): { value: unknown, writer?: string } | undefined { return this.store.replica.get(ns, key) }
  entries (ns: string): Array<[string, { value: unknown, writer?: string }]> { return this.store.replica.entries(ns) }
  onChange (listener: (e: ChangeEvent) => void): () => void { return this.store.replica.onChange(listener) }

  /** Local write: durable here on return; with `waitFor`, also on that many members. */
  async write (ns: string, key: string, value: unknown, opts: WriteOptions = {}): Promise<WriteResult> {
    const started = performance.now()
    // The writer's hop: signed into the envelope, so every receiver's spans are its children.
    const span = opts.trace === undefined ? undefined : this.c.tracer?.start(CONFIG_WRITE_SPAN, 'applied', opts.trace.parent, { ns, key, writer: this.c.peerId, ...(opts.deleted === true ? { deleted: true } : {}) })
    const trace = span !== undefined ? { traceId: span.traceId, traceparent: span.traceparent } : undefined
    let envelope: Envelope | undefined
    try {
      envelope = await this.store.write(ns, key, value, { deleted: opts.deleted, ...(span !== undefined ? { tc: span.traceparent } : {}) })
    } catch (err) {
      span?.end({}, err)
      throw err
    }
    span?.end(envelope !== undefined ? { seq: envelope.seq } : { unchanged: true })
    if (envelope === undefined) return { acked: [], ...(trace !== undefined ? { trace } : {}) }
    this.metrics.writeDuration.observe((performance.now() - started) / 1000)
    this.metrics.envelopes.inc({ result: 'written', reason: 'local' })
    // Not awaited: the write is already durable, and gossip delivery (or
    // anti-entropy) does not need the caller to wait.
    void this.gossip?.publish(encodeOf(this.store, envelope))
    const n = opts.waitFor ?? 0
    if (n <= 0) return { envelope, acked: [], ...(trace !== undefined ? { trace } : {}) }
    const timeoutMs = Math.min(opts.timeoutMs ?? this.init.config.waitForTimeoutMs, this.init.config.maxWaitForMs)
    return { envelope, acked: await this.waitForAcks(envelope, n, timeoutMs, opts.signal), ...(trace !== undefined ? { trace } : {}) }
  }

  /**
   * Read-only view for other modules (the roles' configuration manager):
   * the materialised namespaces and the rules they are checked against.
   * Undefined until started.
   */
  readSource (): { namespaces: () => string[], entries: ConfigService['entries'], checkValue: NamespaceRules['checkValue'], maxKeys: NamespaceRules['maxKeys'], canWrite: (ns: string, writer: string) => boolean } | undefined {
    const rules = this.rules
    if (this.store_ === undefined || rules === undefined) return undefined
    const replica = this.store_.replica
    return {
      namespaces: () => replica.namespaces(),
      entries: (ns) => replica.entries(ns),
      checkValue: (ns, key, value) => { rules.checkValue(ns, key, value) },
      maxKeys: (ns) => rules.maxKeys(ns),
      canWrite: (ns, writer) => rules.access.canWrite(ns, writer)
    }
  }

  status (): { peerId: string, namespaces: string[], versionVector: unknown, durableVersionVector: unknown, held: number, logBytes: number, open: ConfigStore['openStats'] } {
    const st = this.store
    return {
      peerId: this.c.peerId,
      namespaces: st.replica.namespaces(),
      versionVector: st.replica.versionVector(),
      durableVersionVector: st.durableVersionVector(),
      held: st.replica.heldCount(),
      logBytes: st.logBytes,
      open: st.openStats
    }
  }

  /** One anti-entropy round with `peer` now (coalesced with one already running). */
  async syncWith (peer: string): Promise<void> {
    const running = this.syncing.get(peer)
    if (running !== undefined) { await running.catch(() => {}); return }
    const ae = this.ae
    const signal = this.shutdown?.signal
    if (ae === undefined || signal === undefined) return
    let id: PeerId
    try { id = peerIdOf(peer) } catch { return }
    const p = ae.syncWith(id, signal).catch(err => {
      this.log.debug({ err, peer }, 'config anti-entropy round failed')
    }).finally(() => { this.syncing.delete(peer) })
    this.syncing.set(peer, p)
    await p
  }

  // ---- internals --------------------------------------------------------

  private async ingest (bytes: Uint8Array, origin: IngestOrigin): Promise<IngestResult> {
    const r = await this.store.ingest(bytes, origin)
    if (r.result === 'rejected') {
      this.metrics.envelopes.inc({ result: 'rejected', reason: r.reason })
      this.log.debug({ reason: r.reason, err: r.error?.message, origin }, 'config envelope rejected')
    } else {
      this.metrics.envelopes.inc({ result: r.result, reason: origin })
    }
    return r
  }

  private async waitForAcks (env: Envelope, n: number, timeoutMs: number, signal?: AbortSignal): Promise<string[]> {
    const deadline = Date.now() + timeoutMs
    const { membership } = this.c
    for (;;) {
      const alive = new Set(membership.alivePeers().map(m => m.peerId))
      const acked = this.acks.ackedBy(env.ns, env.writer, env.seq, alive)
      if (acked.length >= n) return acked
      const left = deadline - Date.now()
      if (left <= 0 || signal?.aborted === true || this.shutdown === undefined) {
        throw new AckTimeoutError(`written durably here (${env.ns} seq ${env.seq}) but only ${acked.length} of ${n} members acknowledged it within ${timeoutMs} ms` +
          (alive.size < n ? ` (${alive.size} other members are alive)` : ''), acked)
      }
      // Push to as many unacknowledged members as acknowledgements are missing.
      const ackedSet = new Set(acked)
      const targets = membership.randomAlive(n - acked.length, m => !ackedSet.has(m.peerId))
      for (const t of targets) void this.syncWith(t.peerId)
      await this.acks.next(Math.min(left, this.init.config.waitForRetryMs), signal)
    }
  }

  private syncSoon (peer: string): void {
    if (peer === this.c.peerId || this.shutdown === undefined) return
    if (this.syncing.size >= this.init.config.maxConcurrentRounds) return
    void this.syncWith(peer)
  }

  private pullAfterGap (from: PeerId): void {
    const peer = from.toString()
    if (this.gapTimers.has(peer) || this.shutdown === undefined) return
    const t = setTimeout(() => {
      this.gapTimers.delete(peer)
      // Still a gap? Gossip may have filled it meanwhile.
      if (this.store_ !== undefined && this.store_.replica.heldCount() > 0) this.syncSoon(peer)
    }, this.init.config.gapPullDelayMs)
    this.gapTimers.set(peer, t)
  }

  private scheduleRound (): void {
    const { antiEntropyIntervalMs: base, antiEntropyJitter: j } = this.init.config
    const delay = jittered(base, j)
    this.aeTimer = setTimeout(() => {
      if (this.shutdown === undefined) return
      const peer = this.partner()
      if (peer === undefined) this.metrics.rounds.inc({ role: 'initiator', result: 'no_peer' })
      const round = peer === undefined ? Promise.resolve() : this.syncWith(peer)
      void round.finally(() => { if (this.shutdown !== undefined) this.scheduleRound() })
    }, delay)
  }

  /**
   * The periodic round's partner: a random alive subject (a member this node
   * probes), any alive member only when there is none. A round with a member
   * this node holds no connection to costs a TCP + Noise + yamux handshake on
   * both sides (≈ 55 ms of CPU each, docs/performance.md); with random
   * partners, and a round at once from every member with every joiner,
   * forming a network of N took ≈ N² of them and left every node connected
   * to every other (forming 40: ≈ 53 connections an agent). With every ring
   * neighbour as a partner, both ends of a link started rounds and, when a
   * member joined, dialed each other at the same moment: libp2p keeps both
   * connections of such a pair (a fifth of all pairs had two after forming
   * 40). Subjects are the links this node dials anyway (membership's
   * maintenance; a round that comes first makes the same connection, and
   * libp2p joins concurrent dials of one peer). A round pulls and pushes, so a link
   * repairs both ways whichever end starts it; the links are the union of a
   * few rings that each pass through every member, so the graph they make is
   * connected (an expander): whatever one node holds reaches every node in
   * O(log N) rounds of repair, while gossip stays the fast path.
   */
  private partner (): string | undefined {
    const { membership } = this.c
    const subjects = new Set(membership.subjects())
    const [peer] = membership.randomAlive(1, m => subjects.has(m.peerId))
    return (peer ?? membership.randomAlive(1)[0])?.peerId
  }

  private maybeSnapshot (): void {
    const st = this.store_
    if (st === undefined || st.appendsSinceSnapshot < this.init.config.snapshotEveryEnvelopes) return
    st.snapshot().then(bytes => {
      this.log.info({ bytes }, 'config snapshot written')
    }).catch(err => { this.log.warn({ err }, 'config snapshot failed') })
  }
}

function encodeOf (store: ConfigStore, env: Envelope): Uint8Array {
  return store.replica.bytesOf(env.ns, env.writer, env.seq) as Uint8Array
}
