/**
 * The `ping` service of the libp2p node, answered from membership for
 * members.
 *
 * kad-dht checks every contact before it enters the routing table: a peer it
 * learns from a query response (the `closer` peers of every FIND_NODE,
 * GET_VALUE and PUT_VALUE answer) or from a new connection is pinged first,
 * and when a bucket is full its oldest contacts are pinged to see whether one
 * has gone. In the public IPFS network that check is what keeps made-up
 * contacts out. In a mycel network the contacts are members, and SWIM
 * already establishes who is alive: signed alive records, a probe a second
 * with indirect probes and suspicion (protocols/membership). The DHT's
 * check opened a connection (Noise handshake, identify, gossipsub streams:
 * ≈ 55 ms of CPU on each side) to peers nothing else would have talked to:
 * a quarter of all dials while a network of 40 formed (docs/performance.md).
 *
 * So once membership runs, a ping of a peer id answers from the membership
 * view: an alive member passes at once, without a byte on the wire; anyone
 * else fails (`NotAliveMemberError`), so kad-dht leaves it out or evicts it.
 * That is also the admission rule: a peer that is not a member gets nothing,
 * not even a routing-table slot. Before membership runs (libp2p starts
 * first), and for a multiaddr target, the real ping protocol answers. Inbound
 * pings are always served by the real protocol handler.
 */
import { isPeerId, serviceCapabilities, type Startable } from '@libp2p/interface'
import type { Ping, PingComponents } from '@libp2p/ping'

/** Whether a peer id is an alive member in this node's view (membership's `get(id)?.state === 'alive'`). */
export type AliveMemberCheck = (peerId: string) => boolean

/** A ping of a peer that membership does not list as alive. */
export class NotAliveMemberError extends Error {
  static name = 'NotAliveMemberError'
  override name = 'NotAliveMemberError'
  constructor (peer: string) {
    super(`${peer} is not an alive member`)
  }
}

export interface MemberPing extends Ping, Startable {
  /** Answer pings of peer ids from this check from now on (the agent binds membership once it runs). */
  bind: (alive: AliveMemberCheck) => void
}

type PingTarget = Parameters<Ping['ping']>[0]
type PingOptions = Parameters<Ping['ping']>[1]

class MemberPingService implements MemberPing {
  readonly [serviceCapabilities] = ['@libp2p/ping']
  private alive: AliveMemberCheck | undefined

  constructor (private readonly inner: Ping & Partial<Startable>) {}

  bind (alive: AliveMemberCheck): void { this.alive = alive }

  async start (): Promise<void> { await this.inner.start?.() }
  async stop (): Promise<void> {
    this.alive = undefined
    await this.inner.stop?.()
  }

  async ping (target: PingTarget, options?: PingOptions): Promise<number> {
    const alive = this.alive
    if (alive === undefined || !isPeerId(target)) return await this.inner.ping(target, options)
    options?.signal?.throwIfAborted()
    const id = target.toString()
    if (!alive(id)) throw new NotAliveMemberError(id)
    return 0
  }
}

/** Wrap libp2p's ping service factory (`ping({ protocolPrefix })`). */
export function memberPing (inner: (components: PingComponents) => Ping): (components: PingComponents) => MemberPing {
  return (components: PingComponents) => new MemberPingService(inner(components) as Ping & Partial<Startable>)
}
