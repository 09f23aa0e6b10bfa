/**
 * One simulated node's view of the network: the three small interfaces
 * membership takes from a libp2p node (wire/rpc.ts `RequestTransport`,
 * wire/peers.ts `PeerHost`, wire/topic.ts `PubSubHost`), served by the
 * fabric instead of sockets.
 *
 * gossipsub is not simulated: membership also publishes the updates a node
 * originates, and a joiner's record first-hand, on its topic, and here that
 * publication reaches nobody. This host has no mesh (no `getMeshPeers`), so
 * every update arrives by probe or push-pull and drives gossip rounds where
 * it lands first, as in memberlist. What spreads an update in the simulation
 * is SWIM's own path (piggyback on probes and acks, gossip rounds,
 * push-pull), so detection and dissemination times are those of SWIM alone.
 * The daemon differs: its gossipsub mesh carries what nodes originate, and a
 * member of the mesh only piggybacks what it learned by probe (swim.ts
 * `ingest`); the simulation does not model that path.
 */
import { peerIdOf } from '../../wire/peer-ids.js'
import type { Connection, PeerId } from '@libp2p/interface'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { PublishResult, TopicValidatorFn } from '@libp2p/gossipsub'
import type { RequestTransport } from '../../wire/rpc.js'
import type { PeerEventName, PeerHost } from '../../wire/peers.js'
import type { PubSubHost } from '../../wire/topic.js'
import type { Endpoint, Fabric } from './fabric.js'

type PeerListener = (evt: CustomEvent<PeerId>) => void

export class SimHost implements PeerHost {
  readonly transport: RequestTransport
  readonly pubsub: PubSubHost
  private readonly listeners = new Map<string, Set<PeerListener>>()
  private readonly addrs: Multiaddr[]
  private readonly connections = new Map<string, Connection>()

  constructor (private readonly fabric: Fabric, readonly id: string, index: number) {
    // A LAN address like the daemon's, so alive records have their real size.
    this.addrs = [multiaddr(`/ip4/10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}/tcp/4001`)]
    const endpoint: Endpoint = {
      handlers: new Map(),
      pending: new Map(),
      onConnect: (peer) => { this.emit('peer:connect', peer) },
      onDisconnect: (peer) => { this.connections.delete(peer); this.emit('peer:disconnect', peer) },
      connectionFrom: (peer) => this.connectionTo(peer)
    }
    fabric.add(id, endpoint)
    this.transport = {
      request: async (peer, protocol, body, opts) => await fabric.request(id, peer.toString(), protocol, body, opts.timeoutMs, opts.maxBytes, opts.signal),
      handle: async (protocol, handler, opts) => { endpoint.handlers.set(protocol, { handler, maxBytes: opts.maxBytes, onError: (err, from) => { opts.onError(err, this.connectionTo(from)) } }) },
      unhandle: async (protocol) => { endpoint.handlers.delete(protocol) }
    }
    this.pubsub = silentPubSub()
  }

  getConnections (peer?: PeerId): Connection[] {
    const links = this.fabric.linksOf(this.id)
    if (peer !== undefined) return links.has(peer.toString()) ? [this.connectionTo(peer.toString())] : []
    return [...links.keys()].map(p => this.connectionTo(p))
  }

  getPeers (): PeerId[] {
    return [...this.fabric.linksOf(this.id).keys()].map(peerIdOf)
  }

  async dial (peer: PeerId, options?: { signal?: AbortSignal }): Promise<unknown> {
    await this.fabric.dial(this.id, peer.toString(), options?.signal)
    return this.connectionTo(peer.toString())
  }

  getMultiaddrs (): Multiaddr[] { return this.addrs }

  /** Dials go by peer id through the fabric: nothing to store. */
  readonly peerStore = { merge: async () => undefined }

  addEventListener (type: PeerEventName | 'self:peer:update', listener: PeerListener | (() => void)): void {
    let set = this.listeners.get(type)
    if (set === undefined) { set = new Set(); this.listeners.set(type, set) }
    set.add(listener as PeerListener)
  }

  removeEventListener (type: PeerEventName | 'self:peer:update', listener: PeerListener | (() => void)): void {
    this.listeners.get(type)?.delete(listener as PeerListener)
  }

  private emit (type: PeerEventName, peer: string): void {
    const set = this.listeners.get(type)
    if (set === undefined || set.size === 0) return
    const evt = new CustomEvent<PeerId>(type, { detail: peerIdOf(peer) })
    for (const l of set) l(evt)
  }

  /** What membership reads of a connection: the remote peer and who opened it. */
  private connectionTo (peer: string): Connection {
    let c = this.connections.get(peer)
    const direction = this.fabric.linksOf(this.id).get(peer) ?? 'inbound'
    if (c === undefined || c.direction !== direction) {
      c = { remotePeer: peerIdOf(peer), direction } as unknown as Connection
      this.connections.set(peer, c)
    }
    return c
  }
}

function silentPubSub (): PubSubHost {
  return {
    topicValidators: new Map<string, TopicValidatorFn>(),
    subscribe: () => {},
    unsubscribe: () => {},
    publish: async (): Promise<PublishResult> => ({ recipients: [] }),
    addEventListener: () => {},
    removeEventListener: () => {}
  }
}
