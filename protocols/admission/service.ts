/**
 * Admission: a peer gets nothing from this node, and this node takes
 * nothing from it, until it has passed the genesis handshake on a live
 * connection. A libp2p service, so it is in place before the node accepts
 * its first connection:
 *
 *  - on every new connection both sides send their hello over
 *    /mycel/admission/1.0.0 (hello.ts has the rule: same genesis, or none on
 *    both sides);
 *  - meanwhile every other stream, in either direction and of every protocol
 *    (identify, gossipsub, kad-dht, membership, config sync, BFT, ...),
 *    waits at the stream gate (gate.ts) and is refused unless the verdict is
 *    "admitted". Because identify is held too, libp2p's topologies
 *    (gossipsub's peer set, the DHT routing table) only ever learn admitted
 *    peers;
 *  - a refused peer is logged once (warn, naming both networks), counted,
 *    its connections are closed and, while the refusal is remembered,
 *    `refuses(peer)` makes the connection gater deny it (dials to it, its
 *    inbound connections);
 *  - a handshake that gives no verdict (timeout, reset) closes the
 *    connection instead of leaving it half-admitted; nothing is remembered,
 *    so the next connection tries again.
 *
 * With a genesis, the network's admission policy (committed critical
 * config, rules.ts) is judged after the genesis: an allowlist keeps out
 * peers not on it, a revocation cuts a peer off on every node the moment
 * the certified block arrives (its live connections are closed, the
 * connection gater denies it from then on). Until the agent attaches the
 * policy (`attach`), verdicts wait: nobody is admitted on a policy not yet
 * read. Two verdicts sit between admitted and refused ("limited": only the
 * limited protocols, i.e. block catch-up, may flow): a joining peer whose
 * token checked out, until its admission is committed; and a peer that
 * claims a newer critical config than ours, while we fetch it from it
 * before we judge it (we may not have heard of its admission yet).
 *
 * Verdicts are per peer id (Noise authenticates it) and forgotten when the
 * peer's last connection closes: a reconnect is judged again.
 */
import type { Connection, Libp2pEvents, PeerId, StreamMiddleware, TypedEventTarget } from '@libp2p/interface'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import { handleRequests, request, type RpcHost } from '../../wire/rpc.js'
import { hex } from '../../lib/bytes.js'
import { errText } from '../../lib/errors.js'
import type { PeerAdmission, Refusal } from '../../lib/peer-admission.js'
import { RefusedByLog } from './refused-by.js'
import { RefusalMemory } from './refusals.js'
import { encodeHelloOf, hostOn, raceVerdict, verdictOf, type Limited, type Pending, type Verdict } from './verdict.js'
import { policyVerdict, type AdmissionRules } from './rules.js'
import { ADMISSION_PROTOCOL, MAX_HELLO_BYTES, type AdmissionConfig } from './constants.js'
import { NotAdmittedError } from './errors.js'
import { decodeHello, encodeHello, judgeHello, type Hello, type NetworkIdentity } from './hello.js'
import { installStreamGate, type GateRegistrar } from './gate.js'
import { admissionMetrics, type AdmissionMetrics } from './metrics.js'

export interface AdmissionInit {
  /** This agent's network (genesis hash and id); undefined when it runs without a genesis. */
  network?: NetworkIdentity
  /** Hold every verdict until `attach` gives the admission policy (the agent sets it with a genesis). */
  policyRequired?: boolean
  /** Protocols a limited peer may use (block catch-up). */
  limitedProtocols?: readonly string[]
  /** This agent's join-token redemption, sent in every hello while it returns one. */
  joinRedemption?: () => Promise<Uint8Array | undefined>
  config: AdmissionConfig
  logger: Logger
  registry?: Registry
}

/** What libp2p hands the service (its components; only what we use). */
export interface AdmissionComponents {
  registrar: GateRegistrar & Pick<RpcHost, 'handle' | 'unhandle'>
  connectionManager: {
    getConnections: (peer?: PeerId) => Connection[]
    closeConnections: (peer: PeerId, options?: { signal?: AbortSignal }) => Promise<void>
  }
  events: TypedEventTarget<Libp2pEvents>
}

export interface AdmissionStatus {
  /** The rule this agent applies, in words. */
  rule: string
  network: { networkId: string, genesis: string } | null
  connected: Array<{ peerId: string, verdict: 'admitted' | 'pending' | 'joining' | 'catching-up' }>
  refused: Array<{ peerId: string, reason: string, detail: string, at: string, forgetInMs: number }>
  /** What peers said when they refused this node. */
  refusedBy: Array<{ peerId: string, reason: string, detail: string, at: string }>
}


export class AdmissionService implements PeerAdmission {
  readonly metrics: AdmissionMetrics
  private readonly hello: Uint8Array
  private readonly log: Logger
  private readonly admitted = new Set<string>()
  private readonly refused: RefusalMemory
  private readonly pending = new Map<string, Pending>()
  private readonly limited = new Map<string, Limited>()
  /** Revoked peers still connected here → their revocation's block time (observeRevocation). */
  private readonly revocations = new Map<string, number>()
  private readonly refusedBy: RefusedByLog
  private readonly limitedProtocols: ReadonlySet<string>
  private rules?: AdmissionRules
  private offPolicy?: () => void
  /** Armed only while some peer is limited, for the earliest one's deadline: an idle agent has no timer here. */
  private limitTimer?: ReturnType<typeof setTimeout>
  private shutdown?: AbortController
  private gateInstalled = false

  constructor (private readonly init: AdmissionInit, private readonly components: AdmissionComponents) {
    this.hello = encodeHello(init.network)
    this.log = init.logger.child({ component: 'admission' })
    this.metrics = admissionMetrics(init.registry, () => this.refused.count())
    this.refused = new RefusalMemory({ memoryMs: init.config.refusalMemoryMs, max: init.config.maxRefusals, network: init.network?.networkId ?? null }, this.log, this.metrics)
    this.limitedProtocols = new Set(init.limitedProtocols ?? [])
    this.refusedBy = new RefusedByLog(this.log, this.metrics)
  }

  /**
   * Judge by the network's admission policy from now on. Peers held for it
   * are judged at once; admitted peers the policy refuses are cut off, and
   * so on every later policy change.
   */
  attach (rules: AdmissionRules): void {
    this.offPolicy?.()
    this.rules = rules
    this.offPolicy = rules.policy.onChange(() => { this.rejudge() })
    this.rejudge()
  }

  /** Called when a peer refuses this node and says why; returns the unsubscribe function. */
  onRefusedBy (listener: (peer: string, refusal: Refusal) => void): () => void {
    return this.refusedBy.onRefusedBy(listener)
  }

  /**
   * Time a revocation on this node: from its commit's block time to the
   * moment the revoked peer's last connection here is closed. Nothing is
   * observed when we were not connected to it.
   */
  observeRevocation (peer: string, committedAt: number): void {
    if (!this.components.connectionManager.getConnections().some(c => c.remotePeer.toString() === peer)) return
    this.revocations.set(peer, committedAt)
  }

  readonly [Symbol.toStringTag] = 'mycel/admission'

  async start (): Promise<void> {
    if (this.shutdown !== undefined) return
    this.shutdown = new AbortController()
    const c = this.components
    const cfg = this.init.config
    // Gate, listeners and handler go in before the first await: other
    // services start alongside this one and may connect at once. (The
    // registrar records the handler synchronously; only its peer-store
    // update is awaited.)
    // Installed once and kept after stop(): while the node shuts down, a peer
    // that was never admitted must not slip through an unguarded registrar.
    if (!this.gateInstalled) {
      installStreamGate(c.registrar, new Set([ADMISSION_PROTOCOL]), this.gate)
      this.gateInstalled = true
    }
    c.events.addEventListener('connection:open', this.onConnectionOpen)
    c.events.addEventListener('peer:disconnect', this.onPeerDisconnect)
    const registered = handleRequests(c.registrar, ADMISSION_PROTOCOL, async (req, conn, reply) => {
      await this.serve(req, conn, reply)
    }, {
      timeoutMs: cfg.handshakeTimeoutMs,
      maxBytes: MAX_HELLO_BYTES,
      maxInboundStreams: 4,
      onError: (err, conn) => { this.log.debug({ err: errText(err), peer: conn.remotePeer.toString() }, 'admission handshake: serving failed') }
    })
    for (const conn of c.connectionManager.getConnections()) this.onConnectionOpen(new CustomEvent('connection:open', { detail: conn }))
    await registered
  }

  async stop (): Promise<void> {
    if (this.shutdown === undefined) return
    this.shutdown.abort()
    this.shutdown = undefined
    clearTimeout(this.limitTimer)
    this.limitTimer = undefined
    this.offPolicy?.()
    this.offPolicy = undefined
    this.limited.clear()
    const c = this.components
    c.events.removeEventListener('connection:open', this.onConnectionOpen)
    c.events.removeEventListener('peer:disconnect', this.onPeerDisconnect)
    for (const peer of [...this.pending.keys()]) this.settle(peer, false)
    await c.registrar.unhandle(ADMISSION_PROTOCOL).catch(() => {})
  }

  // ---- PeerAdmission ---------------------------------------------------------

  isAdmitted (peer: string): boolean { return this.admitted.has(peer) }

  refusal (peer: string): Refusal | undefined {
    const policy = this.rules?.policy
    if (policy !== undefined && policy.standing(peer) === 'revoked') {
      return this.refused.get(peer) ?? { reason: 'revoked', detail: policy.explain(peer), at: Date.now() }
    }
    return this.refused.get(peer)
  }

  /** For the connection gater: deny dials to and connections from a refused peer. */
  refuses (peer: string): boolean { return this.refusal(peer) !== undefined }

  async admit (peer: string, signal?: AbortSignal): Promise<boolean> {
    return await this.admitOn(peer, undefined, signal)
  }

  /** admit(), judging on `conn` if no handshake is running yet. */
  private async admitOn (peer: string, conn: Connection | undefined, signal?: AbortSignal): Promise<boolean> {
    if (this.admitted.has(peer)) return true
    if (this.refuses(peer)) return false
    const pending = this.pending.get(peer) ?? this.startHandshake(peer, conn)
    if (pending === undefined) return false
    return await raceVerdict(pending.promise, this.init.config.admitWaitMs, signal)
  }

  onRefused (listener: (peer: string, refusal: Refusal) => void): () => void {
    return this.refused.onRefused(listener)
  }

  status (): AdmissionStatus {
    const network = this.init.network
    const peers = new Set(this.components.connectionManager.getConnections().map(c => c.remotePeer.toString()))
    return {
      rule: network === undefined
        ? 'no genesis: admits only peers that run without a genesis too'
        : `genesis ${hex(network.genesis).slice(0, 16)}: admits only peers with the same genesis`,
      network: network === undefined ? null : { networkId: network.networkId, genesis: hex(network.genesis) },
      connected: [...peers].sort().map(peerId => ({ peerId, verdict: this.admitted.has(peerId) ? 'admitted' : verdictOf(this.limited.get(peerId)) })),
      refused: this.refused.list(),
      refusedBy: this.refusedBy.list()
    }
  }

  // ---- connections and the gate ------------------------------------------------

  private readonly onConnectionOpen = (evt: CustomEvent<Connection>): void => {
    const conn = evt.detail
    const peer = conn.remotePeer.toString()
    if (this.refuses(peer)) {
      // The gater denies refused peers before this point; a connection that
      // got through anyway (refused while it was being upgraded) is closed.
      void conn.close().catch(() => { conn.abort(new NotAdmittedError(`peer ${peer} is refused`)) })
      return
    }
    if (this.admitted.has(peer)) return
    this.startHandshake(peer, conn)
  }

  private readonly onPeerDisconnect = (evt: CustomEvent<PeerId>): void => {
    const peer = evt.detail.toString()
    this.admitted.delete(peer)
    this.limited.delete(peer)
    const committedAt = this.revocations.get(peer)
    if (committedAt !== undefined) {
      this.revocations.delete(peer)
      this.metrics.revocationSeconds.observe(Math.max(0, Date.now() - committedAt) / 1000)
    }
  }

  /** Every non-exempt stream passes here first (gate.ts). */
  private readonly gate: StreamMiddleware = (stream, connection, next) => {
    const peer = connection.remotePeer.toString()
    if (this.admitted.has(peer)) {
      next(stream, connection)
      return
    }
    const limited = this.limited.get(peer)
    if (limited !== undefined && limited.why !== 'held' && this.limitedProtocols.has(stream.protocol ?? '')) {
      next(stream, connection)
      return
    }
    return this.admitOn(peer, connection).then(ok => {
      if (ok) {
        next(stream, connection)
        return
      }
      this.metrics.streamsDenied.inc({ direction: stream.direction })
      const l = this.limited.get(peer)
      if (l !== undefined) l.denied = true
      const why = this.refusal(peer)
      throw new NotAdmittedError(`${stream.protocol ?? 'stream'} with ${peer} refused: ${why !== undefined ? `${why.reason}: ${why.detail}` : 'not admitted (no handshake verdict)'}`)
    })
  }

  // ---- the handshake ----------------------------------------------------------

  /**
   * Start judging `peer` (on `conn`, or any open connection to it) unless a
   * handshake is already running; undefined if it is not connected.
   */
  private startHandshake (peer: string, conn?: Connection): Pending | undefined {
    const existing = this.pending.get(peer)
    if (existing !== undefined) return existing
    // The connection manager may not list a connection yet while its
    // `connection:open` is being dispatched: use the one we were handed.
    const on = conn?.status === 'open' ? conn : this.openConnection(peer)
    if (this.shutdown === undefined || on === undefined) return undefined
    let resolve!: (ok: boolean) => void
    const promise = new Promise<boolean>(res => { resolve = res })
    const p: Pending = { promise, resolve }
    this.pending.set(peer, p)
    void this.runHandshake(peer, on)
    return p
  }

  /** Send our hello, judge the answer; retry on transient failures; close the connection if no verdict comes. */
  private async runHandshake (peer: string, first: Connection): Promise<void> {
    const cfg = this.init.config
    for (let attempt = 1; attempt <= cfg.handshakeAttempts; attempt++) {
      // The serving side may have judged the peer in the meantime.
      if (!this.pending.has(peer) || this.shutdown === undefined) return
      const conn = first.status === 'open' ? first : this.openConnection(peer)
      if (conn === undefined) { this.settle(peer, false); return }
      let res: Uint8Array
      try {
        res = await request(hostOn(conn), conn.remotePeer, ADMISSION_PROTOCOL, await this.ourHello(), {
          timeoutMs: cfg.handshakeTimeoutMs, maxBytes: MAX_HELLO_BYTES, signal: this.shutdown.signal
        })
      } catch (err) {
        if (!this.pending.has(peer)) return
        if ((err as Error)?.name === 'UnsupportedProtocolError') {
          this.refuse(peer, { reason: 'no_handshake', detail: `it does not speak ${ADMISSION_PROTOCOL} (not a mycel agent, or an incompatible version)` })
          return
        }
        this.log.debug({ peer, attempt, err: errText(err) }, 'admission handshake attempt failed')
        continue
      }
      await this.judge(peer, res, conn)
      return
    }
    if (!this.pending.has(peer)) return
    this.metrics.handshakes.inc({ result: 'failed' })
    this.log.info({ peer, attempts: cfg.handshakeAttempts }, 'admission handshake gave no verdict; closing the connection (the next one tries again)')
    this.settle(peer, false)
    await this.hangUp(peer)
  }

  /** The serving side: judge their hello, then answer with ours, saying why if we refuse them. */
  private async serve (req: Uint8Array, conn: Connection, reply: (frame: Uint8Array) => Promise<void>): Promise<void> {
    const peer = conn.remotePeer.toString()
    const v = await this.verdict(peer, req, conn)
    await reply(await this.ourHello(v.kind === 'refuse' ? v.refusal : undefined))
    this.apply(peer, v, conn)
  }

  /** Our hello: network, critical height, our token redemption while we have one, and a refusal when answering. */
  private async ourHello (refused?: Omit<Refusal, 'at'>): Promise<Uint8Array> {
    if (this.init.network === undefined && refused === undefined) return this.hello
    const join = await this.init.joinRedemption?.().catch(() => undefined)
    return encodeHello(this.init.network, {
      height: this.rules?.policy.height() ?? 0,
      ...(join !== undefined ? { join } : {}),
      ...(refused !== undefined ? { refused: { reason: refused.reason, detail: refused.detail } } : {})
    })
  }

  private async judge (peer: string, raw: Uint8Array, conn: Connection): Promise<void> {
    this.apply(peer, await this.verdict(peer, raw, conn), conn)
  }

  /** Decode and judge a hello: genesis first, then (with a genesis) the admission policy. */
  private async verdict (peer: string, raw: Uint8Array, conn: Connection): Promise<Verdict> {
    let theirs: Hello
    try {
      theirs = decodeHello(raw)
    } catch (err) {
      return { kind: 'refuse', refusal: { reason: 'bad_handshake', detail: `its hello is malformed (${errText(err)})` } }
    }
    if (theirs.refused !== undefined) this.refusedBy.note(peer, theirs.refused)
    const refusal = judgeHello(this.init.network, theirs)
    if (refusal !== undefined) return { kind: 'refuse', refusal }
    if (this.admitted.has(peer)) return { kind: 'admit' }
    const rules = this.rules
    if (rules === undefined) return this.init.policyRequired === true ? { kind: 'limit', why: 'held', hello: theirs } : { kind: 'admit' }
    const held = this.limited.get(peer)
    const join = held?.why === 'joining' ? undefined : theirs.join
    // Only a peer the policy admits makes others wait: a stranger claiming a huge height must not stall every verdict.
    const othersCatchingUp = [...this.limited].some(([p, l]) => p !== peer && l.why === 'catching-up' && !l.caughtUp && rules.policy.standing(p) === 'admitted')
    const v = await policyVerdict(rules, peer, { height: theirs.height ?? 0, join, caughtUp: held?.caughtUp ?? false, othersCatchingUp })
    if (v.kind === 'wait') return { kind: 'limit', why: 'held', hello: theirs }
    // Counted only when the redemption was tried: relayed (now joining) or refused with the token's reason.
    if (join !== undefined && v.kind === 'limit' && v.why === 'joining') this.metrics.tokenRedemptions.inc({ result: 'relayed' })
    if (join !== undefined && v.kind === 'refuse' && (v.refusal.reason.startsWith('token_') || v.refusal.reason === 'revoked')) this.metrics.tokenRedemptions.inc({ result: v.refusal.reason })
    if (v.kind === 'limit') return { ...v, hello: theirs }
    if (held?.why === 'joining' && v.kind === 'refuse' && v.refusal.reason === 'not_allowed') return { kind: 'limit', why: 'joining', hello: theirs }
    return v
  }

  private apply (peer: string, v: Verdict, conn: Connection): void {
    if (v.kind === 'refuse') { this.refuse(peer, v.refusal); return }
    if (conn.status !== 'open') { this.limited.delete(peer); this.settle(peer, false); return }
    if (v.kind === 'limit') {
      const held = this.limited.get(peer)
      if (held === undefined) {
        this.limited.set(peer, { why: v.why, hello: v.hello, conn, since: Date.now(), caughtUp: false, denied: false })
        this.armLimitTimer()
        if (v.why === 'held') this.log.debug({ peer }, 'judging peer once critical config is read and caught up')
        else this.log.info({ peer, why: v.why }, v.why === 'joining' ? 'peer presented a valid join token; waiting for its admission to be committed' : 'peer claims newer critical config; fetching it before judging the peer')
        if (v.why === 'catching-up') void this.catchUp(peer, conn)
      } else if (held.why !== v.why) {
        held.why = v.why
        if (v.why === 'catching-up') void this.catchUp(peer, conn)
      }
      return
    }
    if (this.admitted.has(peer)) return
    const was = this.limited.get(peer)
    this.limited.delete(peer)
    this.admitted.add(peer)
    this.metrics.handshakes.inc({ result: 'admitted' })
    this.log.debug({ peer }, 'peer admitted')
    this.settle(peer, true)
    // A stream refused while the peer was limited (identify, gossip) is not
    // retried on this connection: start afresh so every protocol runs.
    if (was?.denied === true) void this.hangUp(peer)
  }

  private async catchUp (peer: string, conn: Connection): Promise<void> {
    try {
      await this.rules?.catchUp(conn.remotePeer)
    } catch (err) {
      this.log.debug({ peer, err: errText(err) }, 'catching up from peer failed')
    }
    const l = this.limited.get(peer)
    if (l !== undefined && l.why === 'catching-up') {
      l.caughtUp = true
      await this.reconsider(peer, l)
    }
    // Peers held while we caught up are judged now, on what we fetched.
    for (const [other, h] of [...this.limited]) if (h.why === 'held') void this.reconsider(other, h)
  }

  /** Judge a limited peer again on its stored hello (the policy changed, or we caught up). */
  private async reconsider (peer: string, l: Limited): Promise<void> {
    const v = await this.verdict(peer, encodeHelloOf(l.hello), l.conn)
    this.apply(peer, v, l.conn)
  }

  /** The policy changed: cut off admitted peers it refuses now, judge the limited ones again, forget refusals it reverses. */
  private rejudge (): void {
    const rules = this.rules
    if (rules === undefined) return
    for (const peer of [...this.admitted]) {
      const standing = rules.policy.standing(peer)
      if (standing === 'admitted') continue
      this.log.warn({ peer, standing }, `peer ${peer} is ${standing === 'revoked' ? 'revoked' : 'no longer allowed'}: closing its connections (${rules.policy.explain(peer)})`)
      this.refuse(peer, { reason: standing === 'revoked' ? 'revoked' : 'not_allowed', detail: rules.policy.explain(peer) }, 0)
    }
    this.refused.forget((peer, r) => (r.reason === 'not_allowed' || r.reason.startsWith('token_')) && rules.policy.standing(peer) === 'admitted')
    for (const [peer, l] of [...this.limited]) void this.reconsider(peer, l)
  }

  /** Until the earliest limited peer's deadline; re-armed after it while any peer is still limited. */
  private armLimitTimer (): void {
    if (this.limitTimer !== undefined || this.limited.size === 0 || this.shutdown === undefined) return
    let earliest = Infinity
    for (const l of this.limited.values()) earliest = Math.min(earliest, l.since)
    this.limitTimer = setTimeout(() => {
      this.limitTimer = undefined
      this.expireLimited()
      this.armLimitTimer()
    }, Math.max(0, earliest + this.init.config.limitedWaitMs - Date.now()))
    this.limitTimer.unref?.()
  }

  /** Limited peers the policy did not admit in time are hung up on, not remembered: the next connection tries again. */
  private expireLimited (): void {
    const now = Date.now()
    for (const [peer, l] of [...this.limited]) {
      if (now - l.since < this.init.config.limitedWaitMs) continue
      this.limited.delete(peer)
      this.log.info({ peer, why: l.why }, `peer not admitted within ${this.init.config.limitedWaitMs} ms (${l.why}); closing the connection`)
      this.metrics.handshakes.inc({ result: 'failed' })
      this.settle(peer, false)
      void this.hangUp(peer)
    }
  }

  private refuse (peer: string, r: Omit<Refusal, 'at'>, hangUpDelayMs = this.init.config.hangUpDelayMs): void {
    this.admitted.delete(peer)
    this.limited.delete(peer)
    this.refused.record(peer, r)
    this.settle(peer, false)
    if (hangUpDelayMs === 0) void this.hangUp(peer)
    else setTimeout(() => { void this.hangUp(peer) }, hangUpDelayMs).unref()
  }

  private settle (peer: string, ok: boolean): void {
    const p = this.pending.get(peer)
    if (p === undefined) return
    this.pending.delete(peer)
    p.resolve(ok)
  }

  private async hangUp (peer: string): Promise<void> {
    const conn = this.openConnection(peer)
    if (conn === undefined) return
    await this.components.connectionManager.closeConnections(conn.remotePeer, { signal: AbortSignal.timeout(this.init.config.handshakeTimeoutMs) })
      .catch(err => { this.log.debug({ peer, err: errText(err) }, 'closing a refused peer failed') })
  }

  private openConnection (peer: string): Connection | undefined {
    return this.components.connectionManager.getConnections().find(c => c.status === 'open' && c.remotePeer.toString() === peer)
  }
}
