/**
 * The interfaces the consensus state machine is driven through (time,
 * network, logging) and what it reports. Kept apart so the simulator and
 * the daemon depend on these, not on the state machine's internals.
 */
import type { BftTimeouts } from './constants.js'
import type { BftSigner, Verifier } from './crypto.js'
import type { CriticalState } from './critical-state.js'
import type { BftMetrics } from './metrics.js'
import type { BftMessage, Certificate } from './types.js'
import type { Wal } from './wal.js'

export interface Clock {
  now: () => number
  /** Run `cb` after `ms`; returns a cancel function. */
  setTimer: (ms: number, cb: () => void) => () => void
}

export interface ConsensusNetwork {
  /** To every validator of the open height (and the next), except ourselves. */
  broadcast: (msg: BftMessage) => void
  send: (to: string, msg: BftMessage) => void
}

/** The pino methods we use; the simulator passes a silent one. */
export interface BftLogger {
  debug: (obj: object, msg: string) => void
  info: (obj: object, msg: string) => void
  warn: (obj: object, msg: string) => void
  error: (obj: object, msg: string) => void
}

export const silentLogger: BftLogger = { debug () {}, info () {}, warn () {}, error () {} }

export interface Evidence {
  kind: 'vote' | 'proposal'
  validator: string
  height: number
  round: number
  first: Uint8Array | null
  second: Uint8Array | null
  at: number
}

export interface ConsensusInit {
  state: CriticalState
  signer: BftSigner
  verify: Verifier
  wal: Wal
  clock: Clock
  net: ConsensusNetwork
  timeouts: BftTimeouts
  metrics?: BftMetrics
  logger?: BftLogger
  /** Called after this validator decided and committed a block (the daemon gossips it). */
  onDecide?: (cert: Certificate) => void
}

export type Step = 'propose' | 'prevote' | 'precommit'

export interface ConsensusStatus {
  height: number
  round: number
  step: Step
  active: boolean
  validator: boolean
  lockedRound: number
  validRound: number
  pending: number
  /** Validator → when (this node's clock, Unix ms) its last valid vote or proposal arrived. */
  lastHeard: Record<string, number>
  evidence: Evidence[]
}
