/**
 * Anti-entropy (memberlist's pushPull): two nodes exchange their full
 * membership state over /mycel/pushpull/1.0.0 and each merges the other's,
 * repairing whatever gossip lost. Two triggers:
 *  - on connect, with a peer we do not know as alive: a fresh node learns the
 *    whole cluster from the first peer it reaches (the bootstrap), and that
 *    peer learns the newcomer at once;
 *  - periodically with one member, starting with a 32-byte digest of
 *    our view so converged nodes exchange ~100 bytes instead of N records;
 *    only a mismatch leads to the full exchange. This keeps steady-state
 *    bytes per node flat as N grows. Right after a join the periodic sync
 *    comes sooner (cfg.pushPullCatchUpMs, doubling): what this node missed
 *    while it joined is repaired in seconds, not at the first periodic sync.
 *    Every periodic sync goes to a member this node is connected to when it
 *    has one (`linkedPeer`): memberlist picks a random member, which over UDP
 *    costs nothing, where here it costs a handshake on both sides.
 */
import { peerIdOf } from '../../wire/peer-ids.js'
import { equals } from 'uint8arrays/equals'
import { rejectReason } from '../../wire/errors.js'
import { PUSH_PULL_PROTOCOL, pushPullIntervalFor } from './constants.js'
import { encode, type PushPullDigest, type PushPullFull, type SignedUpdate } from './messages.js'
import { shuffled, type SwimContext } from './context.js'
import { jittered, sleep } from '../../lib/clock.js'
import { PeerBackoff } from './peer-backoff.js'

export class PushPull {
  private readonly lastSync = new Map<string, number>()
  /** Strangers (below) we tried: the gap doubles per try from the probe interval up to the push-pull interval. */
  private readonly strangerRetry: PeerBackoff
  private loop?: Promise<void>

  constructor (private readonly ctx: SwimContext) {
    this.strangerRetry = new PeerBackoff(ctx.cfg.probeIntervalMs, ctx.cfg.pushPullIntervalMs, () => ctx.clock.now())
  }

  async start (): Promise<void> {
    const { cfg } = this.ctx
    await this.ctx.transport.handle(PUSH_PULL_PROTOCOL, async (req, conn, reply) => { await this.onRequest(req, conn.remotePeer.toString(), reply) }, {
      timeoutMs: cfg.pushPullTimeoutMs,
      maxBytes: cfg.maxPushPullBytes,
      maxInboundStreams: 4,
      onError: (err) => { this.ctx.metrics.pushPulls.inc({ role: 'responder', kind: 'unknown', result: rejectReason(err) }) }
    })
    this.loop = this.run()
  }

  async stop (): Promise<void> {
    await this.ctx.transport.unhandle(PUSH_PULL_PROTOCOL).catch(() => {})
    await this.loop
  }

  private async run (): Promise<void> {
    const { cfg, signal, table, clock, random } = this.ctx
    // The next catch-up gap after joining (cfg.pushPullCatchUpMs): undefined
    // until this node first knows a live member, 0 once the gaps reached the
    // periodic interval.
    let catchUpMs: number | undefined
    // The last periodic sync did not complete: the next one goes to a random member.
    let lastFailed = false
    // Jitter of +-25 % keeps nodes from syncing in waves.
    const periodic = (): number => {
      const interval = pushPullIntervalFor(cfg.pushPullIntervalMs, table.estimateN())
      if (catchUpMs !== undefined && catchUpMs > 0 && catchUpMs < interval) {
        const at = clock.now() + jittered(catchUpMs, 0.25, random)
        catchUpMs = catchUpMs * 2
        return at
      }
      if (catchUpMs !== undefined) catchUpMs = 0
      return clock.now() + jittered(interval, 0.25, random)
    }
    let periodicAt = periodic()
    while (!signal.aborted) {
      // The join exchange a new connection triggers can be lost (a starved
      // host, a lossy path), and an open connection never triggers another.
      // Until it succeeds, retry at the probe cadence: with any connected
      // peer while we know no live member, and with each connected peer we
      // have no record of at all. The second case is not rare: a bootstrap
      // peer whose join with the first one failed is joined by others and
      // stops being isolated, and the two then grow two clusters that never
      // learn of each other (found by the simulation's lossy-join property).
      const isolated = this.alivePeers().length === 0
      const unjoined = isolated || this.strangers().length > 0
      // Until the catch-up is scheduled, wake at the probe cadence too: it starts when this node joins.
      const wakeAt = unjoined || catchUpMs === undefined ? Math.min(periodicAt, clock.now() + jittered(cfg.probeIntervalMs, 0.25, random)) : periodicAt
      await sleep(Math.max(0, wakeAt - clock.now()), signal, clock)
      if (signal.aborted) return
      const due = shuffled(this.strangers().filter(id => this.strangerRetry.due(id)), random)
      if (due.length > 0) {
        this.strangerRetry.failed(due[0])
        await this.sync(due[0], true)
        continue
      }
      const alive = shuffled(this.alivePeers(), random)
      if (alive.length === 0) {
        // Nobody to sync with periodically: the retries stand in for it.
        // The next periodic sync must still move on, or once its time has
        // passed every wait above is zero and the loop spins (a lone agent
        // burnt 5 % of a core in `setTimeout(0)` from 30 s on).
        if (clock.now() >= periodicAt) periodicAt = periodic()
        const connected = shuffled(this.connectedPeers(), random)
        if (connected.length > 0) await this.sync(connected[0], true)
        continue
      }
      if (catchUpMs === undefined) {
        // Joined: the catch-up syncs replace the periodic one until they are as far apart.
        catchUpMs = cfg.pushPullCatchUpMs
        periodicAt = periodic()
        continue
      }
      if (clock.now() < periodicAt) continue
      const target: string = lastFailed ? alive[0] : this.linkedPeer(alive)
      periodicAt = periodic()
      lastFailed = !await this.sync(target, false)
    }
  }

  /**
   * A sync asks what any member knows, so one this node is connected to (a
   * ring neighbour, its bootstrap peer) will do: a random member would cost a
   * handshake on both sides, four times per joiner (forming 50, most
   * catch-ups dialed), and at rest one every periodic interval (24 of the 30
   * connections 20 agents at rest asked for in three minutes:
   * docs/performance.md, twenty-fourth pass). The ring links span the network (membership keeps them; the rings'
   * union is an expander), so what one member knows still reaches every other
   * through syncs between neighbours, as gossip does. `alive` is shuffled
   * already; a node with no live link falls back to a random member, and so
   * does the sync after one that failed: a node whose only link is to a peer
   * that cannot answer (starved, its inbound streams busy) is not left without
   * anti-entropy until that peer is declared dead.
   */
  private linkedPeer (alive: string[]): string {
    const connected = new Set(this.connectedPeers())
    return alive.find(id => connected.has(id)) ?? alive[0]
  }

  private connectedPeers (): string[] {
    return this.ctx.peers.getPeers().map(p => p.toString()).filter(id => id !== this.ctx.selfId)
  }

  /**
   * Connected peers with no record in our table: their join exchange with us
   * has not happened. A peer whose records we keep refusing stays one; its
   * retries (strangerRetry) slow down to one per push-pull interval, the rate of
   * the periodic sync.
   */
  private strangers (): string[] {
    const found = this.connectedPeers().filter(id => this.ctx.table.get(id) === undefined)
    this.strangerRetry.keepOnly(found)
    return found
  }

  private alivePeers (): string[] {
    return this.ctx.table.ids(['alive']).filter(id => id !== this.ctx.selfId)
  }

  /**
   * A connection to `peer` opened. Sync with it if it is not a member we know
   * as alive; the dialer goes first, the listener waits a moment so that a
   * request from the dialer usually makes its own unnecessary.
   */
  onConnect (peer: string, outbound: boolean): void {
    if (this.ctx.signal.aborted || peer === this.ctx.selfId) return
    if (this.ctx.table.get(peer)?.state === 'alive') return
    const delay = outbound ? 0 : 100 + this.ctx.random() * 150
    // The clock's timer does not keep a stopping process alive (unref'd on the real clock).
    this.ctx.clock.setTimeout(() => {
      if (this.ctx.signal.aborted || this.ctx.table.get(peer)?.state === 'alive') return
      this.sync(peer, true).catch(() => {})
    }, delay)
  }

  /**
   * Digest (unless `full`), then full exchange if views differ. Never throws;
   * false when the exchange did not complete (skipped by the rate limit
   * counts as done).
   */
  async sync (peer: string, full: boolean): Promise<boolean> {
    const { ctx } = this
    const now = ctx.clock.now()
    if (full && now - (this.lastSync.get(peer) ?? 0) < ctx.cfg.pushPullMinGapMs) return true
    this.lastSync.set(peer, now)
    if (this.lastSync.size > ctx.cfg.maxMembers) this.lastSync.delete(this.lastSync.keys().next().value as string)
    const opts = { timeoutMs: ctx.cfg.pushPullTimeoutMs, maxBytes: ctx.cfg.maxPushPullBytes, signal: ctx.signal }
    const pid = peerIdOf(peer)
    if (!full) {
      try {
        const body = encode({ v: 1, t: 'digest', d: ctx.table.digest() } satisfies PushPullDigest)
        // A digest's answer is a few bytes: allowing no more than a probe's lets
        // the request mux carry it on the peer's session (wire/rpc-mux.ts).
        const res = ctx.codec.ppDigestRes(await ctx.transport.request(pid, PUSH_PULL_PROTOCOL, body, { ...opts, maxBytes: ctx.cfg.maxProbeBytes }))
        ctx.metrics.bytes.inc({ channel: 'pushpull', direction: 'sent' }, body.byteLength)
        ctx.metrics.pushPulls.inc({ role: 'initiator', kind: 'digest', result: res.same ? 'same' : 'differ' })
        if (res.same) return true
      } catch (err) {
        ctx.metrics.pushPulls.inc({ role: 'initiator', kind: 'digest', result: rejectReason(err) })
        ctx.log.debug({ err, peer }, 'push-pull digest failed')
        return false
      }
    }
    try {
      const body = encode({ v: 1, t: 'full', join: full, u: ctx.table.snapshot() } satisfies PushPullFull)
      const res = await ctx.transport.request(pid, PUSH_PULL_PROTOCOL, body, opts)
      ctx.metrics.bytes.inc({ channel: 'pushpull', direction: 'sent' }, body.byteLength)
      ctx.metrics.bytes.inc({ channel: 'pushpull', direction: 'received' }, res.byteLength)
      const remote = ctx.codec.ppFull(res)
      await this.merge(remote.u)
      ctx.metrics.pushPulls.inc({ role: 'initiator', kind: 'full', result: 'ok' })
      return true
    } catch (err) {
      ctx.metrics.pushPulls.inc({ role: 'initiator', kind: 'full', result: rejectReason(err) })
      ctx.log.debug({ err, peer }, 'push-pull failed')
      return false
    }
  }

  private async onRequest (req: Uint8Array, from: string, reply: (frame: Uint8Array) => Promise<void>): Promise<void> {
    const { ctx } = this
    ctx.metrics.bytes.inc({ channel: 'pushpull', direction: 'received' }, req.byteLength)
    const msg = ctx.codec.ppRequest(req)
    if (msg.t === 'digest') {
      const same = equals(msg.d, ctx.table.digest())
      const out = encode({ v: 1, t: 'digest-res', same })
      ctx.metrics.bytes.inc({ channel: 'pushpull', direction: 'sent' }, out.byteLength)
      await reply(out)
      ctx.metrics.pushPulls.inc({ role: 'responder', kind: 'digest', result: same ? 'same' : 'differ' })
      return
    }
    this.lastSync.set(from, ctx.clock.now())
    // Our state goes out before we merge theirs (as memberlist does): the
    // reply is not delayed by signature checks.
    const out = encode({ v: 1, t: 'full', join: false, u: ctx.table.snapshot() } satisfies PushPullFull)
    ctx.metrics.bytes.inc({ channel: 'pushpull', direction: 'sent' }, out.byteLength)
    await reply(out)
    await this.merge(msg.u, from)
    ctx.metrics.pushPulls.inc({ role: 'responder', kind: 'full', result: 'ok' })
  }

  /** `from`: the requester, when we answered its request (its own record is first-hand, see swim.ts). */
  private async merge (updates: SignedUpdate[], from?: string): Promise<void> {
    for (const u of updates) {
      if (this.ctx.signal.aborted) return
      await this.ctx.ingest(u, 'pushpull', from)
    }
  }
}
