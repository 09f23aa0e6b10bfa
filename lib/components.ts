/**
 * What every part of the daemon may take from the composition root apart
 * from the network: who this node is, where it keeps its files, where it
 * logs and counts, and how it says it stopped. A component lists only the
 * fields it uses, `Pick<CommonComponents, 'peerId' | 'logger'>`, plus the
 * small network interfaces it needs (wire/rpc.ts `RpcHost`, wire/topic.ts
 * `PubSubHost`, wire/peers.ts `PeerHost`, the election's `DhtHost`) and the
 * views of other components it reads (membership's `MembershipView`), as
 * libp2p's own services do (`PingComponents`). The libp2p node satisfies
 * the network interfaces structurally, so the composition root passes it
 * as it is, and a unit test passes a fake.
 */
import type { PrivateKey } from '@libp2p/interface'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import type { FaultSink } from './faults.js'

export interface CommonComponents {
  /** This node's peer id string, its name everywhere. */
  peerId: string
  privateKey: PrivateKey
  region: string
  dataDir: string
  logger: Logger
  /** The daemon's prom-client registry; served at /metrics. */
  registry: Registry
  /** Aborted when the daemon shuts down. */
  signal: AbortSignal
  /**
   * Where a component reports that it stopped on its durable state (a
   * corrupt file, a failed write or fsync): fail-stop. The agent then shows
   * it in /readyz and /v1/status and stops that component.
   */
  faults?: FaultSink
}
