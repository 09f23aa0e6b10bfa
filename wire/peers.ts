/**
 * The slice of a libp2p node that knows its peers: open connections, dials,
 * the addresses it advertises and learns, and connect/disconnect events.
 * Membership keeps its overlay connected with it; the BFT service and the
 * network manager only ask who is connected (`Pick<PeerHost, ...>`). The
 * libp2p node is one; a unit test passes a fake.
 */
import type { Connection, PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'

export type PeerEventName = 'peer:connect' | 'peer:disconnect'

export interface PeerHost {
  /** Open connections, to `peer` or to everyone. */
  getConnections: (peer?: PeerId) => Connection[]
  /** Peers with at least one open connection. */
  getPeers: () => PeerId[]
  /** Open (or join an in-flight dial of) a connection to `peer`, by the addresses the peer store holds. */
  dial: (peer: PeerId, options?: { signal?: AbortSignal }) => Promise<unknown>
  /** This node's own addresses (listen or announce). */
  getMultiaddrs: () => Multiaddr[]
  /** Where dials by peer id look up addresses. */
  peerStore: { merge: (peer: PeerId, data: { multiaddrs: Multiaddr[] }) => Promise<unknown> }
  /**
   * `peer:connect` / `peer:disconnect`: the first connection to a peer opened,
   * the last one closed. `self:peer:update`: this node's own addresses changed.
   */
  addEventListener: PeerEventListener
  removeEventListener: PeerEventListener
}

export interface PeerEventListener {
  (type: PeerEventName, listener: (evt: CustomEvent<PeerId>) => void): void
  (type: 'self:peer:update', listener: () => void): void
}
