/**
 * SWIM failure detection (memberlist's probeNode): once per probe interval
 * ping the next member of a shuffled round-robin list over
 * /mycel/probe/1.0.0; without an ack in time, ask `indirectChecks` other
 * members to ping it over /mycel/probe-req/1.0.0; if none reaches it, raise
 * a suspicion. Pings and acks carry piggybacked updates. Lifeguard: timeouts
 * scale with our local health score, which rises when we miss acks or our
 * helpers fail to answer (a sign that we are the slow one) and falls on
 * every successful probe.
 *
 * A dial that is actively refused (TCP RST on every address) is remembered:
 * if the indirect helpers are refused too, the suspicion is marked `refused`
 * and uses the short refusedSuspicionMs window (see constants.ts).
 */
import { peerIdOf } from '../../wire/peer-ids.js'
import { rejectReason } from '../../wire/errors.js'
import { PROBE_PROTOCOL, PROBE_REQ_PROTOCOL } from './constants.js'
import { encode, type SignedUpdate, type Ack, type Ping, type ProbeReq, type ProbeRes } from './messages.js'
import { shuffled, type SwimContext } from './context.js'
import { sleep } from '../../lib/clock.js'
import { errText } from '../../lib/errors.js'
import { probeDeadline } from './deadline.js'
import { connectPatiently, isRefused } from './connections.js'
import { RttEstimator } from './rtt.js'

/** The outcome's reason when we hold no link to the member and may not dial it. */
const NO_LINK = 'no_link'

export interface PingOptions {
  /** Updates to carry besides the piggyback queue's. */
  extra?: SignedUpdate[]
  /** Bound of a dial when no connection is held, ms. @default the config's connectTimeoutMs */
  connectTimeoutMs?: number
  /** Hears our own event-loop stalls during the wait; null: nobody, when an overlapping wait reports them. @default this prober's */
  stall?: ((lateMs: number) => void) | null
  /** False: no dial; without a connection the outcome is a failure with reason `no_link`. @default true */
  mayDial?: boolean
}

export interface PingOutcome {
  ok: boolean
  refused: boolean
  /** request-to-ack time over an existing connection, ms */
  rttMs?: number
  /** why it failed (error name), for logs */
  reason?: string
}

export class Prober {
  private order: string[] = []
  private next = 0
  private seq: number
  private readonly inFlight = new Set<string>()
  private loop?: Promise<void>

  /** Our own event loop stalled during a probe: Lifeguard counts it as poor local health. */
  private readonly onStall = (lateMs: number): void => {
    this.ctx.awareness.applyDelta(1)
    this.ctx.log.debug({ lateMs: Math.round(lateMs) }, 'event loop stalled during a probe; deadline extended')
  }

  /** Probe timeout follows the measured RTT of direct probes (never below the configured one). */
  readonly rtt: RttEstimator

  constructor (private readonly ctx: SwimContext) {
    this.rtt = new RttEstimator(ctx.cfg.probeTimeoutMs, Math.max(ctx.cfg.probeTimeoutMs, Math.floor(ctx.cfg.probeIntervalMs * 0.8)))
    this.seq = Math.floor(ctx.random() * 0x7fffffff)
  }

  async start (): Promise<void> {
    const { cfg } = this.ctx
    await this.ctx.transport.handle(PROBE_PROTOCOL, async (req, conn, reply) => { await this.onPing(req, conn.remotePeer.toString(), reply) }, {
      timeoutMs: cfg.probeTimeoutMs * cfg.awarenessMaxMultiplier,
      maxBytes: cfg.maxProbeBytes,
      maxInboundStreams: cfg.maxInboundProbeStreams,
      onError: (err) => { this.count('ping', rejectReason(err)); this.ctx.log.debug({ err: errText(err) }, 'ping handler failed') }
    })
    await this.ctx.transport.handle(PROBE_REQ_PROTOCOL, async (req, _conn, reply) => { await this.onProbeReq(req, reply) }, {
      timeoutMs: cfg.probeIntervalMs * cfg.awarenessMaxMultiplier,
      maxBytes: cfg.maxProbeBytes,
      maxInboundStreams: cfg.maxInboundProbeStreams,
      onError: (err) => { this.count('probe_req', rejectReason(err)) }
    })
    this.loop = this.run()
  }

  async stop (): Promise<void> {
    await Promise.all([this.ctx.transport.unhandle(PROBE_PROTOCOL), this.ctx.transport.unhandle(PROBE_REQ_PROTOCOL)]).catch(() => {})
    await this.loop
  }

  private async run (): Promise<void> {
    const { cfg, signal, clock } = this.ctx
    // Random stagger so nodes started together do not probe in lockstep.
    await sleep(this.ctx.random() * cfg.probeIntervalMs, signal, clock)
    while (!signal.aborted) {
      const started = clock.now()
      const target = this.nextTarget()
      if (target !== undefined) await this.probe(target).catch(err => { this.ctx.log.debug({ err, target }, 'probe failed unexpectedly') })
      const elapsed = clock.now() - started
      await sleep(Math.max(0, cfg.probeIntervalMs - elapsed), signal, clock)
    }
  }

  /**
   * Next subject in a shuffled round robin (bounded time to first probe of
   * each). We probe only our subjects in the monitoring rings (overlay.ts):
   * every member is some node's subject on every ring, so each is still
   * probed about once per interval, by up to K nodes in turn.
   */
  private nextTarget (): string | undefined {
    for (let tries = 0; tries < 2; tries++) {
      while (this.next < this.order.length) {
        const id = this.order[this.next++]
        const state = this.ctx.table.get(id)?.state
        if (state === 'alive' || state === 'suspect') return id
      }
      this.order = shuffled(this.ctx.neighbours().subjects, this.ctx.random)
      this.next = 0
    }
    return undefined
  }

  /** Probe out of turn (connection closed); deduplicated per target. */
  probeSoon (id: string): void {
    if (this.ctx.signal.aborted) return
    this.probe(id).catch(err => { this.ctx.log.debug({ err, target: id }, 'probe failed unexpectedly') })
  }

  /**
   * One full probe round for `id`: direct, then indirect, then suspicion.
   * The direct ack is taken for the whole round, not only until the probe
   * timeout (memberlist keeps its ack handler for the probe interval): past
   * the timeout the helpers are asked as well, and whichever ack comes first
   * ends the round. A target that is merely slow to answer (its host
   * starved) is then not suspected for acking after the timeout.
   */
  async probe (id: string): Promise<void> {
    const { ctx } = this
    const m = ctx.table.get(id)
    if (m === undefined || (m.state !== 'alive' && m.state !== 'suspect') || this.inFlight.has(id)) return
    this.inFlight.add(id)
    try {
      const inc = m.incarnation
      const started = ctx.clock.monotonic()
      const startedAt = ctx.clock.now()
      const timeout = ctx.awareness.scaleTimeout(this.rtt.timeoutMs())
      const interval = ctx.awareness.scaleTimeout(ctx.cfg.probeIntervalMs)
      // Lifeguard's buddy system: a suspect hears the accusation in the probe
      // itself and can refute at once instead of waiting for gossip.
      const claim = m.state === 'suspect' ? ctx.table.claimOf(id) : undefined
      // The round lasts what it did when the direct ping gave up at the
      // timeout and the helpers had the rest of the interval (at least a
      // timeout of their own).
      const round = Math.max(interval, 2 * timeout)
      // The connection first, outside the timeout, as `ping` does: a
      // handshake is not the target's answer, and a slow one must not send
      // helpers (who may have to dial it too) to a target that answers.
      const unreachable = await this.connect(id, ctx.cfg.connectTimeoutMs)
      if (ctx.signal.aborted) return
      // One stall counts once: the waits below report it, the direct ping's own deadline does not.
      const direct = unreachable !== undefined ? Promise.resolve(unreachable) : this.ping(id, round, { extra: claim !== undefined ? [claim] : [], stall: null })
      const first = unreachable ?? await this.within(direct, timeout)
      if (ctx.signal.aborted) return
      if (first?.ok === true) {
        if (first.rttMs !== undefined) this.rtt.sample(first.rttMs)
        ctx.metrics.probeDuration.observe({ result: 'ack' }, (ctx.clock.monotonic() - started) / 1000)
        ctx.awareness.applyDelta(-1)
        return
      }
      // Helpers dial the target only to confirm a refusal (a dead process: the
      // RST costs nothing). Otherwise the target is slow or cut off, and a
      // handshake with it is the last thing it needs: a helper pings over a
      // link it holds, or answers a nack at once.
      const dial = first?.refused === true
      const chosen = this.helpersFor(id, dial)
      const deadline = Math.ceil(Math.max(interval - (ctx.clock.monotonic() - started), timeout))
      // A late direct ack ends the helpers' wait too.
      const acked = new AbortController()
      if (first === undefined) void direct.then(o => { if (o.ok) acked.abort() })
      const results = await this.indirect(chosen, id, timeout, deadline, acked.signal, dial)
      if (ctx.signal.aborted) return
      // A helper's ack ends the round; the direct ping is left to finish on its own.
      if (results.some(r => r.ok)) {
        ctx.table.markSeen(id)
        ctx.table.markContact(startedAt)
        ctx.metrics.probeDuration.observe({ result: 'indirect' }, (ctx.clock.monotonic() - started) / 1000)
        return
      }
      const last = first ?? await direct
      if (ctx.signal.aborted) return
      if (last.ok) {
        // Late, but an answer: the round trip it took is what the timeout should learn (rtt.ts).
        if (last.rttMs !== undefined) this.rtt.sample(last.rttMs)
        ctx.metrics.probeDuration.observe({ result: 'late' }, (ctx.clock.monotonic() - started) / 1000)
        return
      }
      ctx.metrics.probeDuration.observe({ result: 'fail' }, (ctx.clock.monotonic() - started) / 1000)
      // Lifeguard: every helper that did not even answer with a nack hints that
      // the problem is on our side, not the target's.
      ctx.awareness.applyDelta(chosen.length > 0 ? chosen.length - results.length : 1)
      const refused = last.refused && results.every(r => r.refused) && (chosen.length === 0 || results.length > 0)
      const now = ctx.table.get(id)
      if (now === undefined || now.incarnation !== inc || (now.state !== 'alive' && now.state !== 'suspect')) return
      if (!refused && now.state === 'alive' && ctx.table.inJoinGrace(id, ctx.cfg.joinGraceMs)) {
        this.count('suspicion', 'join_grace')
        ctx.log.debug({ target: id, reason: last.reason }, 'probe failed during join grace, not suspecting')
        return
      }
      ctx.log.info({ target: id, refused, reason: last.reason, timeoutMs: timeout, health: ctx.awareness.healthScore(), helpers: chosen.length, nacks: results.length }, 'probe failed, suspecting')
      await ctx.suspect(id, inc, refused)
    } finally {
      this.inFlight.delete(id)
    }
  }

  /**
   * Indirect probe helpers, by the handshakes asking them costs (≈ 55 ms of
   * CPU a side; a probe fails most often on a saturated host, where a
   * handshake is the last thing it needs). Members we hold a connection to
   * come first, and among them the target's other observers: each holds a
   * link to the target (its probes need one), so asking it costs no
   * handshake anywhere, where any other helper may have to dial the target.
   * Then the observers we are not connected to, then anyone. Forming 50
   * agents, helpers dialing the target were a quarter of all dial attempts
   * (docs/performance.md).
   *
   * Helpers that may not dial the target (`dial` false: our own attempt was
   * not refused) can only check it over a link they hold, which its
   * observers do and others rarely do: then every observer comes before
   * anyone else, one we must dial included (a handshake with a helper, not
   * with the member whose probes fail). Connected first, at a network of 100
   * most rounds had no connected observer, and the helpers asked, our own
   * ring neighbours, could check nothing.
   */
  private helpersFor (target: string, dial: boolean): string[] {
    const { ctx } = this
    const observers = new Set(ctx.observersOf(target))
    const tiers: string[][] = [[], [], [], []]
    for (const h of ctx.table.ids(['alive'])) {
      if (h === target) continue
      const connected = ctx.peers.getConnections(peerIdOf(h)).length > 0
      // Two keys, the first weighs more: a link to us when helpers may dial, an observer's link to the target when not.
      const [major, minor] = dial ? [connected, observers.has(h)] : [observers.has(h), connected]
      tiers[(major ? 0 : 2) + (minor ? 0 : 1)].push(h)
    }
    return tiers.flatMap(t => shuffled(t, ctx.random)).slice(0, ctx.cfg.indirectChecks)
  }

  /**
   * A connection to `id`, opened if none is held (at most `connectTimeoutMs`):
   * undefined once connected, else the failed ping's outcome. Never throws.
   */
  private async connect (id: string, connectTimeoutMs: number, mayDial = true): Promise<PingOutcome | undefined> {
    const { ctx } = this
    const pid = peerIdOf(id)
    if (ctx.peers.getConnections(pid).length > 0) return undefined
    if (!mayDial) return { ok: false, refused: false, reason: NO_LINK }
    try {
      await connectPatiently(ctx.peers, pid, connectTimeoutMs, ctx.signal, ctx.clock)
      return undefined
    } catch (err) {
      const refused = isRefused(err)
      ctx.log.debug({ target: id, refused, err: errText(err) }, 'ping failed')
      return { ok: false, refused, reason: (err as Error)?.name ?? 'error' }
    }
  }

  /** Ping `id` once; never throws. */
  async ping (id: string, timeoutMs: number, opts: PingOptions = {}): Promise<PingOutcome> {
    const { ctx } = this
    const { extra = [], connectTimeoutMs = ctx.cfg.connectTimeoutMs, stall = this.onStall, mayDial = true } = opts
    const unreachable = await this.connect(id, connectTimeoutMs, mayDial)
    if (unreachable !== undefined) return unreachable
    const seq = this.nextSeq()
    const msg: Ping = { v: 1, t: 'ping', seq, u: [...extra, ...ctx.piggyback()] }
    const body = encode(msg)
    const pid = peerIdOf(id)
    try {
      const deadline = probeDeadline(timeoutMs, ctx.signal, stall ?? undefined, ctx.clock)
      const sent = ctx.clock.monotonic()
      const sentAt = ctx.clock.now()
      let res: Uint8Array
      try {
        res = await ctx.transport.request(pid, PROBE_PROTOCOL, body, { timeoutMs: timeoutMs * 2 + 100, maxBytes: ctx.cfg.maxProbeBytes, signal: deadline.signal })
      } finally {
        deadline.clear()
      }
      ctx.metrics.bytes.inc({ channel: 'probe', direction: 'sent' }, body.byteLength)
      ctx.metrics.bytes.inc({ channel: 'probe', direction: 'received' }, res.byteLength)
      let ack: Ack
      try {
        ack = ctx.codec.ack(res)
      } catch (err) {
        this.count('ack', rejectReason(err))
        return { ok: false, refused: false }
      }
      if (ack.seq !== seq) {
        this.count('ack', 'wrong_seq')
        return { ok: false, refused: false }
      }
      this.count('ack', 'ok')
      ctx.table.markSeen(id)
      ctx.table.markContact(sentAt)
      const rttMs = ctx.clock.monotonic() - sent
      for (const u of ack.u) await ctx.ingest(u, 'probe', id)
      return { ok: true, refused: false, rttMs }
    } catch (err) {
      const refused = isRefused(err)
      ctx.log.debug({ target: id, refused, err: errText(err) }, 'ping failed')
      return { ok: false, refused, reason: (err as Error)?.name ?? 'error' }
    }
  }

  /**
   * `outcome` if it settles within `ms` (a probe deadline: our own stalls do
   * not count against the target), else undefined; `outcome` goes on.
   */
  private async within (outcome: Promise<PingOutcome>, ms: number): Promise<PingOutcome | undefined> {
    const deadline = probeDeadline(ms, this.ctx.signal, this.onStall, this.ctx.clock)
    try {
      return await new Promise<PingOutcome | undefined>(resolve => {
        deadline.signal.addEventListener('abort', () => { resolve(undefined) }, { once: true })
        outcome.then(resolve, () => { resolve(undefined) })
      })
    } finally {
      deadline.clear()
    }
  }

  /**
   * Ask helpers to ping `target`; resolves with the answers received by
   * `deadlineMs` (early on the first ack, or when `done` aborts).
   */
  private async indirect (helpers: string[], target: string, timeoutMs: number, deadlineMs: number, done: AbortSignal, dial: boolean): Promise<ProbeRes[]> {
    if (helpers.length === 0 || done.aborted) return []
    const { ctx } = this
    const results: ProbeRes[] = []
    const body = encode({ v: 1, t: 'preq', seq: this.nextSeq(), target, timeoutMs: Math.ceil(timeoutMs), ...(dial ? {} : { dial: false }) } satisfies ProbeReq)
    return await new Promise(resolve => {
      let pending = helpers.length
      const deadline = probeDeadline(deadlineMs, ctx.signal, this.onStall, ctx.clock)
      const finish = (): void => { deadline.clear(); done.removeEventListener('abort', finish); resolve(results) }
      deadline.signal.addEventListener('abort', finish, { once: true })
      done.addEventListener('abort', finish, { once: true })
      for (const helper of helpers) {
        ctx.transport.request(peerIdOf(helper), PROBE_REQ_PROTOCOL, body, { timeoutMs: deadlineMs * 2 + 100, maxBytes: ctx.cfg.maxProbeBytes, signal: deadline.signal })
          .then(res => {
            const r = ctx.codec.probeRes(res)
            results.push(r)
            this.count('probe_res', 'ok')
            if (r.ok) finish()
          })
          .catch(err => {
            this.count('probe_res', rejectReason(err))
            ctx.log.debug({ helper, target, err: errText(err) }, 'indirect probe request failed')
          })
          .finally(() => { if (--pending === 0) finish() })
      }
    })
  }

  private async onPing (req: Uint8Array, from: string, reply: (frame: Uint8Array) => Promise<void>): Promise<void> {
    const { ctx } = this
    ctx.metrics.bytes.inc({ channel: 'probe', direction: 'received' }, req.byteLength)
    const ping = ctx.codec.ping(req)
    // An accusation about us (the buddy system puts it in the probe) is
    // handled before we answer, so the ack itself carries the refutation.
    const rest: SignedUpdate[] = []
    for (const u of ping.u) {
      if (aboutSelf(u, ctx.selfId)) await ctx.ingest(u, 'probe', from)
      else rest.push(u)
    }
    if (rest.length < ping.u.length) await ctx.settleSelf()
    const ack: Ack = { v: 1, t: 'ack', seq: ping.seq, u: ctx.piggyback() }
    const out = encode(ack)
    ctx.metrics.bytes.inc({ channel: 'probe', direction: 'sent' }, out.byteLength)
    await reply(out)
    this.count('ping', 'ok')
    ctx.table.markSeen(from)
    // Other updates are applied after the ack went out: verifying signatures must not delay it.
    for (const u of rest) await ctx.ingest(u, 'probe', from)
  }

  private async onProbeReq (req: Uint8Array, reply: (frame: Uint8Array) => Promise<void>): Promise<void> {
    const { ctx } = this
    const preq = ctx.codec.probeReq(req)
    let outcome: PingOutcome
    if (preq.target === ctx.selfId) {
      outcome = { ok: true, refused: false }
    } else {
      // Answer (with a nack) at 80 % of the requester's timeout so the nack
      // arrives before its deadline: a missing nack is evidence against the
      // requester (Lifeguard). The whole answer, including a dial if we hold
      // no connection (and may dial), must fit the requester's deadline.
      // Without a link and told not to dial, the nack goes at once: the
      // requester learns we are alive and cannot vouch for the target.
      const budget = Math.max(1, Math.floor(Math.min(preq.timeoutMs, ctx.cfg.probeIntervalMs) * 0.8))
      outcome = await this.ping(preq.target, budget, { connectTimeoutMs: budget, mayDial: preq.dial !== false })
    }
    this.count('probe_req', outcome.reason === NO_LINK ? NO_LINK : 'ok')
    await reply(encode({ v: 1, t: 'pres', seq: preq.seq, ok: outcome.ok, refused: outcome.refused } satisfies ProbeRes))
  }

  private nextSeq (): number {
    this.seq = (this.seq + 1) % 0xffffffff
    return this.seq
  }

  private count (type: string, result: string): void {
    this.ctx.metrics.messages.inc({ type, result })
  }
}

/** Cheap check whether a signed update is about `self` (the body's peer id appears in its bytes). */
function aboutSelf (u: SignedUpdate, self: string): boolean {
  return Buffer.from(u.b.buffer, u.b.byteOffset, u.b.byteLength).includes(self)
}
