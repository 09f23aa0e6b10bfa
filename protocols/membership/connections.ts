/**
 * Connections to members. Over libp2p a probe to a peer we hold no
 * connection to costs a TCP + Noise + yamux handshake, so we keep one open
 * to each member we probe: our subjects in the monitoring rings
 * (overlay.ts), a bounded set whatever the network size. Our observers dial
 * us the same way. Connections other protocols open to other members are
 * not ours to keep; the node's connection trimmer closes idle ones.
 * Members' advertised addresses go into the peer store so both we and
 * libp2p can dial them.
 *
 * Connection events drive SWIM:
 *  - peer:connect with a peer we do not know as alive -> push-pull (join);
 *  - peer:disconnect from a subject -> probe it now. A process that dies on a
 *    live host closes its sockets at once, so this detects crashes in
 *    milliseconds instead of waiting for its turn in the probe order; lost
 *    hosts and partitions still go through probe -> suspect -> dead.
 */
import { peerIdOf } from '../../wire/peer-ids.js'
import { multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import type { PeerHost } from '../../wire/peers.js'
import type { SwimContext } from './context.js'
import { shuffled } from './context.js'
import { systemClock, timeoutSignal, type Clock } from '../../lib/clock.js'
import type { PushPull } from './push-pull.js'
import { PeerBackoff } from './peer-backoff.js'
import { LEARNT_ADDRS_REFRESH_MS } from './constants.js'

/**
 * Connect to `peer`, waiting at most `waitMs`. The dial itself is not tied
 * to that wait: it runs to libp2p's dial timeout, so a handshake slowed by a
 * loaded host completes and serves the next probe instead of being aborted
 * and redone (aborted half-handshakes were most of the CPU of a large join).
 * Concurrent calls join the same in-flight dial.
 */
export async function connectPatiently (peers: Pick<PeerHost, 'dial'>, peer: PeerId, waitMs: number, signal: AbortSignal, clock: Clock = systemClock): Promise<void> {
  const dial = peers.dial(peer)
  const wait = AbortSignal.any([signal, timeoutSignal(waitMs, clock)])
  await new Promise<void>((resolve, reject) => {
    if (wait.aborted) { dial.catch(() => {}); reject(wait.reason); return }
    const onAbort = (): void => { reject(wait.reason) }
    wait.addEventListener('abort', onAbort, { once: true })
    dial.then(() => { resolve() }, reject).finally(() => { wait.removeEventListener('abort', onAbort) })
  })
}

export class MemberConnections {
  private readonly dialing = new Set<string>()
  /** The addresses last stored per member, and when (`learnAddrs`). */
  private readonly learnt = new Map<string, { key: string, at: number }>()
  /**
   * Subjects whose maintenance dial failed: the gap doubles per failure from
   * the maintenance interval up to the reconnect interval. On a starved host
   * handshakes time out, and redialing every tick made more handshakes
   * exactly when none could finish (a forming network of 50 in namespaces:
   * 100 of 156 dials of one agent failed in Noise).
   */
  private readonly retry: PeerBackoff
  private readonly onConnect = (evt: CustomEvent<PeerId>): void => {
    const id = evt.detail.toString()
    const outbound = this.ctx.peers.getConnections(evt.detail).some(c => c.direction === 'outbound')
    this.pushPull.onConnect(id, outbound)
  }

  private readonly onDisconnect = (evt: CustomEvent<PeerId>): void => {
    const id = evt.detail.toString()
    const state = this.ctx.table.get(id)?.state
    if (id === this.ctx.selfId || (state !== 'alive' && state !== 'suspect')) return
    // A connection to a member we do not monitor was closed by a trimmer or
    // its owner: not news about that member.
    if (!this.ctx.neighbours().subjects.includes(id)) return
    this.ctx.log.debug({ peer: id }, 'connection to member closed, probing now')
    this.ctx.probeSoon(id)
  }

  constructor (private readonly ctx: SwimContext, private readonly pushPull: PushPull) {
    this.retry = new PeerBackoff(ctx.cfg.maintenanceIntervalMs, ctx.cfg.reconnectIntervalMs, () => ctx.clock.monotonic())
  }

  start (): void {
    this.ctx.peers.addEventListener('peer:connect', this.onConnect)
    this.ctx.peers.addEventListener('peer:disconnect', this.onDisconnect)
    // Peers connected before we started (the bootstrap, typically).
    for (const conn of this.ctx.peers.getConnections()) {
      this.pushPull.onConnect(conn.remotePeer.toString(), conn.direction === 'outbound')
    }
  }

  stop (): void {
    this.ctx.peers.removeEventListener('peer:connect', this.onConnect)
    this.ctx.peers.removeEventListener('peer:disconnect', this.onDisconnect)
  }

  /** Store a member's advertised addresses so dials by peer id find it. */
  async learnAddrs (id: string, addrs: string[]): Promise<void> {
    if (id === this.ctx.selfId || addrs.length === 0) return
    // Unchanged addresses are not stored again within LEARNT_ADDRS_REFRESH_MS:
    // each merge is a peer-store write and a peer:update event, and every
    // refutation and metadata change of a member brings its record again.
    const key = addrs.join(' ')
    const now = this.ctx.clock.monotonic()
    const last = this.learnt.get(id)
    if (last?.key === key && now - last.at < LEARNT_ADDRS_REFRESH_MS) return
    const mas = []
    for (const a of addrs) {
      try { mas.push(multiaddr(a)) } catch { /* a bad address in a signed record only hurts its author */ }
    }
    if (mas.length === 0) return
    try {
      await this.ctx.peers.peerStore.merge(peerIdOf(id), { multiaddrs: mas })
      this.learnt.set(id, { key, at: now })
    } catch (err) {
      this.ctx.log.debug({ err, peer: id }, 'peer store merge failed')
    }
  }

  /** A member that died or left: its addresses are stored again if it comes back. */
  forgetAddrs (id: string): void {
    this.learnt.delete(id)
  }

  /** One maintenance step: dial a few of our subjects we are not connected to. */
  maintain (): void {
    const { ctx } = this
    if (ctx.signal.aborted) return
    const subjects = ctx.neighbours().subjects
    this.retry.keepOnly(subjects)
    const missing: string[] = []
    for (const id of subjects) {
      // A suspect that proves itself alive is dialed again at once.
      if (ctx.table.get(id)?.state !== 'alive') { this.retry.forget(id); continue }
      if (this.dialing.has(id)) continue
      if (ctx.peers.getConnections(peerIdOf(id)).length > 0) { this.retry.forget(id); continue }
      if (this.retry.due(id)) missing.push(id)
    }
    for (const id of shuffled(missing, ctx.random).slice(0, ctx.cfg.memberDialsPerTick)) {
      this.dialing.add(id)
      ctx.peers.dial(peerIdOf(id), { signal: AbortSignal.any([ctx.signal, timeoutSignal(ctx.cfg.pushPullTimeoutMs, ctx.clock)]) })
        .then(() => { this.retry.forget(id) }, err => {
          ctx.log.debug({ err: (err as Error).message, peer: id }, 'dial to member failed')
          this.retry.failed(id)
          // Nothing listens there any more: worth a probe round now (the fast
          // path to dead). Any other failure waits for the subject's turn in
          // the probe order, which dials it again anyway.
          if (isRefused(err)) ctx.probeSoon(id)
        })
        .finally(() => { this.dialing.delete(id) })
    }
  }
}

/**
 * True if every underlying dial error is ECONNREFUSED: the host answered
 * and nothing listens there, which a live agent never causes.
 */
export function isRefused (err: unknown): boolean {
  const leaves: unknown[] = []
  const walk = (e: unknown, depth: number): void => {
    if (e === null || typeof e !== 'object' || depth > 6) { leaves.push(e); return }
    const inner = (e as { errors?: unknown[] }).errors
    if (Array.isArray(inner) && inner.length > 0) { for (const x of inner) walk(x, depth + 1); return }
    const code = (e as { code?: unknown }).code
    if (code === 'ECONNREFUSED') { leaves.push(e); return }
    const cause = (e as { cause?: unknown }).cause
    if (cause !== undefined) { walk(cause, depth + 1); return }
    leaves.push(e)
  }
  walk(err, 0)
  return leaves.length > 0 && leaves.every(l => (l as { code?: unknown } | null)?.code === 'ECONNREFUSED' || /ECONNREFUSED/.test(String((l as Error | null)?.message ?? '')))
}
