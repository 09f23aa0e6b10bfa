/**
 * Builds the libp2p node every mycel daemon runs on: TCP, Noise, yamux,
 * identify, ping (answered from membership for kad-dht, member-ping.ts),
 * gossipsub (StrictSign) and a private kad-dht under the
 * `/mycel` prefix, never the public IPFS DHT. Optional private-network PSK.
 */
import { createLibp2p, type Libp2p } from 'libp2p'
import { stopClosestPeerKeepAlive } from './dht-keep-alive.js'
import { tcp, type TCPSocketOptions } from '@libp2p/tcp'
import { noise, type ICryptoInterface } from '@chainsafe/libp2p-noise'
import { yamux } from '@libp2p/yamux'
import { identify, type Identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { kadDHT, passthroughMapper, removePrivateAddressesMapper, type KadDHT } from '@libp2p/kad-dht'
import { preSharedKey } from '@libp2p/pnet'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import type { PrivateKey, ConnectionGater, PeerId } from '@libp2p/interface'
import type { Registry } from 'prom-client'
import type { Libp2pProfile } from './profiles.js'
import { toString as uint8ToString } from 'uint8arrays/to-string'
import type { AdmissionComponents, AdmissionService } from '../protocols/admission/index.js'
import { coalescingEncrypter, coalescingProtector } from './coalesce-writes.js'
import { DHT_METRICS_PREFIX, withPrometheusNames } from './libp2p-metric-names.js'
import { libp2pLogger } from './libp2p-logger.js'
import { memberPing, type MemberPing } from './member-ping.js'
import { withoutTableRefresh } from './dht-membership.js'
import { noiseCrypto } from './noise-crypto.js'
import { patientDials, type ConnectionOpener } from './patient-dials.js'
import { installYamuxWindowUpdateRule } from './yamux-window-updates.js'
import { installEd25519VerifyKeyCache } from './libp2p-ed25519-verify.js'
import { metricsOn } from '../lib/metrics.js'

export interface MycelServices {
  identify: Identify
  ping: MemberPing
  pubsub: GossipSub
  dht: KadDHT
  /** Present when the node was built with `admission` (the daemon always is). */
  admission?: AdmissionService
  [key: string]: unknown
}

export type MycelNode = Libp2p<MycelServices>

/** Protocol prefix for identify, ping and the DHT: keeps mycel apart from IPFS. */
export const PROTOCOL_PREFIX = 'mycel'
export const DHT_PROTOCOL = '/mycel/kad/1.0.0'
/** Where kad-dht keeps its records in libp2p's datastore (daemon/dht-local-records.ts reads it). */
export const DHT_DATASTORE_PREFIX = '/mycel/dht'

export interface NodeOptions {
  privateKey: PrivateKey
  listen: string[]
  announce?: string[]
  /** libp2p private-network pre-shared key file contents (`/key/swarm/psk/1.0.0/` format). */
  networkKey?: Uint8Array
  profile: Libp2pProfile
  /** prom-client registry that libp2p's own metrics go into. */
  registry?: Registry
  /**
   * The admission service (protocols/admission): the genesis handshake every
   * connection runs first, the gate that holds every other protocol stream
   * until the peer is admitted; the connection gater denies the peers it refused.
   */
  admission?: (components: AdmissionComponents) => AdmissionService
  /** Also refuse these peers in the connection gater (test partitions). */
  denyPeer?: (peer: PeerId) => boolean
  /** Additional DHT record validators/selectors, keyed by the record namespace (`/ns/...`). */
  dhtValidators?: Record<string, (key: Uint8Array, value: Uint8Array) => Promise<void>>
  dhtSelectors?: Record<string, (key: Uint8Array, records: Uint8Array[]) => number>
  agentVersion?: string
  /** Noise's crypto; daemon/noise-crypto.ts unless given (the connection bench runs the stock one beside it). */
  noiseCrypto?: ICryptoInterface
}

/** StrictSign's message id (author + seqno) as a cache key, computed without verifying anything. */
export function fastMessageId (msg: { from?: Uint8Array, seqno?: Uint8Array }): string {
  return `${msg.from !== undefined ? uint8ToString(msg.from, 'base64') : ''}:${msg.seqno !== undefined ? uint8ToString(msg.seqno, 'base16') : ''}`
}

export async function createNode (opts: NodeOptions): Promise<MycelNode> {
  const p = opts.profile
  // Late-bound: the admission service exists only once the node does.
  let node: MycelNode | undefined
  const deny = (peer: PeerId): boolean =>
    (node?.services.admission?.refuses(peer.toString()) ?? false) || (opts.denyPeer?.(peer) ?? false)
  const gater: ConnectionGater = {
    denyDialPeer: async (peer) => deny(peer),
    denyInboundEncryptedConnection: async (peer) => deny(peer),
    denyOutboundEncryptedConnection: async (peer) => deny(peer)
  }
  // Private addresses are the norm on a LAN and in tests; only the WAN
  // profile strips them from DHT routing tables.
  const mapper = p.dhtAllowPrivateAddrs ? passthroughMapper : removePrivateAddressesMapper
  // Half as many packets at rest: no window update per message (yamux-window-updates.ts).
  installYamuxWindowUpdateRule()
  // gossipsub's, Noise's and identify's signature checks without a key import each (libp2p-ed25519-verify.ts).
  installEd25519VerifyKeyCache()

  node = await createLibp2p({
    // Started below, once its dials are patient (patient-dials.ts).
    start: false,
    privateKey: opts.privateKey,
    // One silent logger unless DEBUG is set (libp2p-logger.ts): libp2p makes
    // a named logger per connection and per stream.
    logger: libp2pLogger(),
    nodeInfo: opts.agentVersion !== undefined ? { name: 'mycel', version: opts.agentVersion, userAgent: `mycel/${opts.agentVersion}` } : undefined,
    addresses: {
      listen: opts.listen,
      announce: opts.announce ?? []
    },
    transports: [tcp({
      inboundSocketInactivityTimeout: p.socketInactivityTimeoutMs,
      outboundSocketInactivityTimeout: p.socketInactivityTimeoutMs,
      // net.connect's `timeout` (the transport passes dialOpts through): a
      // connect not done by then fails with libp2p's TimeoutError (profiles.ts
      // `tcpConnectTimeoutMs`). Once connected the socket's inactivity timeout
      // replaces it.
      dialOpts: { timeout: p.tcpConnectTimeoutMs } as TCPSocketOptions
    })],
    // Both wrappers batch a connection's socket writes per event-loop turn
    // (coalesce-writes.ts); whichever receives the raw connection first does it.
    connectionEncrypters: [coalescingEncrypter(noise({ crypto: opts.noiseCrypto ?? noiseCrypto }))],
    // Pings only as often as idle connections need them (profiles.ts `muxerKeepAliveMs`).
    streamMuxers: [yamux({ keepAliveInterval: p.muxerKeepAliveMs })],
    connectionProtector: opts.networkKey !== undefined ? coalescingProtector(preSharedKey({ psk: opts.networkKey })) : undefined,
    connectionGater: gater,
    connectionManager: {
      maxConnections: p.maxConnections,
      // libp2p's defaults (5 inbound/s per host, 10 pending) throttle a
      // network that starts many agents at once behind one address.
      inboundConnectionThreshold: p.inboundConnectionThreshold,
      maxIncomingPendingConnections: p.maxIncomingPendingConnections,
      dialTimeout: p.dialTimeoutMs,
      // The responder gives a handshake what the dialer gives it (profiles.ts).
      inboundUpgradeTimeout: p.dialTimeoutMs,
      maxParallelDials: p.maxParallelDials,
      // Members and bootstrap peers advertise one or two addresses: give
      // each the whole budget (libp2p's 6 s per address cut off handshakes
      // with a loaded bootstrap peer, leaving joiners alone for good).
      addressDialTimeout: p.dialTimeoutMs
    },
    // SWIM decides who is alive, with one probe per second whatever the
    // network size. libp2p's connection monitor would open a ping stream on
    // every connection every 10 s (N/10 stream setups a second per node) and,
    // aborting slow connections, turned a starved host's lag into dropped
    // connections and false deaths. Idle connections are closed by the
    // trimmer (conn-trimmer.ts); TCP's inactivity timeout reaps one whose
    // peer stopped answering yamux's pings.
    connectionMonitor: { enabled: false },
    // Under Prometheus-conformant names (libp2p-metric-names.ts).
    metrics: opts.registry !== undefined ? withPrometheusNames(prometheusMetrics({ registry: opts.registry, preserveExistingMetrics: true, collectDefaultMetrics: false })) : undefined,
    // No peer discovery module: the redial loop (redial.ts) dials the bootstrap peers.
    services: {
      // First, so its handshake handler and stream gate are in place before
      // any other service opens a stream.
      ...(opts.admission !== undefined ? { admission: opts.admission } : {}),
      // Identify waits at the admission gate: its budget covers the handshake.
      identify: identify({ protocolPrefix: PROTOCOL_PREFIX, timeout: p.identifyTimeoutMs }),
      // kad-dht's contact check answered from membership once it runs (member-ping.ts).
      ping: memberPing(ping({ protocolPrefix: PROTOCOL_PREFIX })),
      pubsub: gossipsub({
        globalSignaturePolicy: 'StrictSign',
        // Duplicates are dropped before their signature is checked: without a
        // fast id gossipsub verifies every copy (each message arrives ~D
        // times), which made signature checks the largest idle cost. The id
        // is StrictSign's own message id (author + seqno); the cache only
        // takes ids of messages that passed validation, so a forged copy
        // cannot shadow the real one.
        fastMsgIdFn: fastMessageId,
        // Publish to the mesh (D peers), not to every subscriber: flooding
        // made each publication cost O(N) sends and O(N) duplicates.
        floodPublish: false,
        allowPublishToZeroTopicPeers: true,
        emitSelf: false,
        heartbeatInterval: p.gossipHeartbeatMs,
        D: p.mesh.D,
        Dlo: p.mesh.Dlo,
        Dhi: p.mesh.Dhi,
        Dlazy: p.mesh.Dlazy,
        gossipFactor: p.gossipFactor,
        // gossipsub requires Dout < Dlo and Dout <= D / 2; Dscore <= D.
        Dout: Math.min(2, p.mesh.Dlo - 1, Math.floor(p.mesh.D / 2)),
        Dscore: Math.min(4, p.mesh.D),
        idontwantMinDataSize: p.idontwantMinBytes,
        scoreParams: {
          // Agents sharing one IP (loopback, NAT) would otherwise be scored
          // below the graylist threshold and cut off from gossip.
          IPColocationFactorWhitelist: new Set(p.ipColocationWhitelist),
          ...(p.ipColocationWeight !== undefined ? { IPColocationFactorWeight: p.ipColocationWeight } : {})
        }
      }),
      // Its routing table is kept by membership, not by walks (dht-membership.ts):
      // no refresh, an hourly self-query, and queries need not wait for it.
      dht: withoutTableRefresh(kadDHT({
        protocol: DHT_PROTOCOL,
        clientMode: false,
        kBucketSize: p.dht.kBucketSize,
        alpha: p.dht.alpha,
        initialQuerySelfInterval: p.dht.selfQueryMs,
        querySelfInterval: p.dht.selfQueryMs,
        allowQueryWithZeroPeers: true,
        peerInfoMapper: mapper,
        datastorePrefix: DHT_DATASTORE_PREFIX,
        metricsPrefix: DHT_METRICS_PREFIX,
        validators: opts.dhtValidators ?? {},
        selectors: opts.dhtSelectors ?? {}
      }))
    }
  }) as unknown as MycelNode
  // A dial outlives an asker that gives up (patient-dials.ts).
  const outlived = metricsOn(opts.registry).counter({ name: 'mycel_dials_outlived_total', help: 'Askers that gave up on a dial under way, which went on, by how the dial ended (connected, failed)', labelNames: ['result'] })
  patientDials((node as unknown as { components: { connectionManager: ConnectionOpener } }).components.connectionManager, {
    dialTimeoutMs: p.dialTimeoutMs,
    onOutlived: (result) => { outlived.inc({ result }) }
  })
  await node.start()
  // No keep-alive to kad-dht's closest peers (dht-keep-alive.ts): now, the
  // node having started, and again after any later start.
  const started = node
  stopClosestPeerKeepAlive(started)
  started.addEventListener('start', () => { stopClosestPeerKeepAlive(started) })
  return node
}
