/**
 * What the composition root (daemon/agent.ts) hands to every component.
 * Components list only the fields they use: `Pick<AgentComponents, ...>`.
 */
import type { PrivateKey } from '@libp2p/interface'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import type { MycelNode } from './node.js'
import type { FaultSink } from '../lib/faults.js'

/** start/stop (and optional hooks) of a long-lived part: one definition, lib/lifecycle.ts. */
export type { Startable } from '../lib/lifecycle.js'

export interface AgentComponents {
  node: MycelNode
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
