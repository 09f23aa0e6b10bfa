/**
 * The interfaces the consensus state machine is driven through (time,
 * network, logging) and what it reports. Kept apart so the simulator and
 * the daemon depend on these, not on the state machine's internals. Time is
 * lib/clock.ts's `Clock`, the shape every state machine takes.
 */
import type { Clock } from '../../lib/clock.js'
import type { BftTimeouts } from './constants.js'
import type { BftSigner, Verifier } from './crypto.js'
import type { CriticalState } from './critical-state.js'
import type { BftMetrics } from './metrics.js'
import type { BftMessage, Certificate } from './types.js'
import type { Wal } from './wal.js'

export interface ConsensusNetwork {
  /** To every validator of the open height (and the next), except ourselves. */
  broadcast: (msg: BftMessage) => void
  send: (to: string, msg: BftMessage) => void
}

import type { BftLogger } from './logger.js'
export { silentLogger, type BftLogger } from './logger.js'

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
  /** Called on each piece of equivocation evidence (the daemon counts it as the validator's offence). */
  onEvidence?: (e: Evidence) => void
  /**
   * Called once when the instance halts on an internal error, with the error
   * as thrown (a damaged or failing WAL names its file and recovery step);
   * the owner stops the component and reports it (readiness, alerts).
   */
  onHalt?: (fault: ConsensusFault, cause: unknown) => void
}

/**
 * Why an instance halted. An internal error (the WAL or block store fails,
 * a decided block cannot be applied, a bug) stops the state machine for
 * good, as CometBFT's consensus does: it neither votes nor proposes again
 * until the process is restarted, because going on after a step failed
 * half-way could sign from a state that is not the one it logged. Bad
 * network input never halts: it is screened and dropped.
 */
export interface ConsensusFault {
  /** The error's name and message. */
  name: string
  error: string
  /** Height and round open when it happened. */
  height: number
  round: number
  /** Clock time of the halt (ms). */
  at: number
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
  /** Set once the instance halted on an internal error; null while it runs. */
  fault: ConsensusFault | null
}
