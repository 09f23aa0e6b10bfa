/**
 * What the I/O parts of SWIM (prober, push-pull, connection keeper) share:
 * the network (streams and peers), the state table and the ingest/spread
 * paths. Built by swim.ts; the parts never reach into each other.
 */
import type { Logger } from 'pino'
import type { RequestTransport } from '../../wire/rpc.js'
import type { Timekeeper } from '../../lib/clock.js'
import type { PeerHost } from '../../wire/peers.js'
import type { MembershipConfig } from './constants.js'
import type { MemberTable, ApplyResult } from './state.js'
import type { BroadcastQueue } from './broadcast-queue.js'
import type { Awareness } from './awareness.js'
import type { MembershipMetrics } from './metrics.js'
import type { Decoders, SignedUpdate } from './messages.js'
import type { Neighbours } from './overlay.js'

export type Channel = 'probe' | 'pushpull' | 'gossip'

export interface SwimContext {
  cfg: MembershipConfig
  /** Probe, probe-req and push-pull exchanges (libp2p streams, or the simulator's network). */
  transport: RequestTransport
  /** Connections, dials, addresses and connection events. */
  peers: PeerHost
  selfId: string
  table: MemberTable
  queue: BroadcastQueue
  awareness: Awareness
  metrics: MembershipMetrics
  log: Logger
  codec: Decoders
  /** Timers, timestamps and durations (the real clock, or a simulation's virtual one). */
  clock: Timekeeper
  /** Uniform in [0, 1): probe order, helpers, jitter (Math.random, or a simulation's seeded PRNG). */
  random: () => number
  /** Aborted on stop(). */
  signal: AbortSignal
  /**
   * Decode, order, verify and apply one update from the network; never throws.
   * `from`: the peer that handed these records over, in a push-pull or a
   * probe (swim.ts: its own record is first-hand).
   */
  ingest: (raw: SignedUpdate, channel: Channel, from?: string) => Promise<ApplyResult | 'rejected'>
  /** Updates to piggyback on the next probe or ack. */
  piggyback: () => SignedUpdate[]
  /** Raise (sign, apply, spread) our suspicion of `id` at incarnation `inc`. */
  suspect: (id: string, inc: number, refused: boolean) => Promise<void>
  /** Resolves once any pending own alive record (refutation) is signed and queued. */
  settleSelf: () => Promise<void>
  /** Probe `id` now, out of turn (a connection to it just closed). */
  probeSoon: (id: string) => void
  /** This node's place in the monitoring overlay under the current view (see overlay.ts). */
  neighbours: () => Neighbours
  /** The members that probe `id` under the current view: each holds a link to it (see overlay.ts). */
  observersOf: (id: string) => string[]
}

export { shuffled } from '../../lib/random.js'
