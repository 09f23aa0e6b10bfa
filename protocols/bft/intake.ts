/**
 * First checks on a vote or proposal for the open height, before the state
 * machine counts it: sender in the validator set (right proposer for the
 * round), bounded look-ahead in rounds, valid signature. Every failure is a
 * named reason, counted by the caller in `mycel_bft_messages_rejected_total`.
 */
import { MAX_FUTURE_ROUNDS_PER_VALIDATOR } from './constants.js'
import { blockHash, proposalSignBytes, PROPOSAL_DOMAIN, voteSignBytes, VOTE_DOMAIN, type Verifier } from './crypto.js'
import type { CriticalState } from './critical-state.js'
import type { Proposal, Vote } from './types.js'
import type { HeightVotes } from './vote-set.js'

export type Rejection = 'not_validator' | 'bad_signature' | 'wrong_proposer' | 'invalid_block' | 'stale_height' | 'future_height' |
'future_round' | 'duplicate' | 'equivocation' | 'invalid_entry' | 'invalid_certificate' | 'wrong_height'

export interface IntakeView {
  state: CriticalState
  verify: Verifier
  votes: HeightVotes
  height: number
  round: number
}

/**
 * A validator may occupy only a few rounds above ours (Tendermint's
 * catch-up rounds): honest ones ahead of us still make us skip forward, a
 * byzantine one cannot fill memory with rounds 1..1e9.
 */
function tooFarAhead (x: IntakeView, validator: string, round: number): boolean {
  if (round <= x.round) return false
  const rounds = x.votes.futureRoundsOf(validator, x.round)
  return !rounds.includes(round) && rounds.length >= MAX_FUTURE_ROUNDS_PER_VALIDATOR
}

/** Why `v` must be dropped, or undefined when it may be counted. */
export async function screenVote (x: IntakeView, v: Vote): Promise<Rejection | undefined> {
  if (!x.state.validatorsAt(x.height).has(v.validator)) return 'not_validator'
  if (tooFarAhead(x, v.validator, v.round)) return 'future_round'
  const payload = voteSignBytes(x.state.chain, v.type, v.height, v.round, v.blockHash)
  if (!await x.verify(v.validator, VOTE_DOMAIN, payload, v.signature)) return 'bad_signature'
  return undefined
}

/** Why `p` must be dropped, or undefined when it may be used. */
export async function screenProposal (x: IntakeView, p: Proposal): Promise<Rejection | undefined> {
  if (p.proposer !== x.state.validatorsAt(x.height).proposer(p.height, p.round)) return 'wrong_proposer'
  if (p.block.height !== p.height || p.validRound >= p.round) return 'invalid_block'
  if (tooFarAhead(x, p.proposer, p.round)) return 'future_round'
  const payload = proposalSignBytes(x.state.chain, p.height, p.round, p.validRound, blockHash(p.block))
  if (!await x.verify(p.proposer, PROPOSAL_DOMAIN, payload, p.signature)) return 'bad_signature'
  return undefined
}
