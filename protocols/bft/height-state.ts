/**
 * Everything the consensus state machine knows about the one height it is
 * working on, in one object (CometBFT's `RoundState`, with its
 * `HeightVoteSet` inside). It is made by `newHeightState` and replaced whole
 * when the height advances, never reset field by field: a value of height h
 * (a lock, a valid value, a vote, a timer, a cached validity verdict) cannot
 * leak into h+1 because nothing of h's object is reachable from h+1's.
 *
 * Containers are `readonly`: within a height they are filled, never swapped,
 * so "start afresh" has exactly one spelling (a new object).
 *
 * What outlives a height stays on `Consensus` and is listed there: the
 * mempool, the per-peer sync rate limits, the evidence log, when each
 * validator was last heard from (status), the halt record.
 */
import { HeightVotes } from './vote-set.js'
import type { Step } from './consensus-types.js'
import type { BftMessage, Block, Proposal, Vote } from './types.js'
import type { Restored } from './wal-restore.js'

export interface HeightState {
  readonly height: number
  round: number
  step: Step
  /** The height has work (an entry or a message) and we take part in it. */
  active: boolean
  /** Clock time at which `active` became true (commit latency). */
  activeSince: number
  /** Algorithm 1's lockedValue / lockedRound (rule 36). */
  lockedValue: Block | null
  lockedRound: number
  /** Algorithm 1's validValue / validRound (rules 36 and 42). */
  validValue: Block | null
  validRound: number
  /** Every counted vote of this height, all rounds. */
  readonly votes: HeightVotes
  /** First proposal seen per round. */
  readonly proposals: Map<number, Proposal>
  /** Blocks by hash (hex): from proposals and from our WAL. */
  readonly blocks: Map<string, Block>
  /** valid(v) verdicts by block hash (hex); they depend on the chain below this height. */
  readonly validity: Map<string, boolean>
  /** Our own votes, keyed `${round}/${type}`: never signed twice for one slot. */
  readonly myVotes: Map<string, Vote>
  readonly myProposals: Map<number, Proposal>
  /** Rounds whose prevote / precommit timeout is already scheduled (rules 34 and 47 fire once). */
  readonly prevoteWait: Set<number>
  readonly precommitWait: Set<number>
  /** Rounds whose polka was acted on (rule 36 fires once per round). */
  readonly polkaSeen: Set<number>
  /** Cancel functions of this height's step timeouts. */
  readonly timers: Set<() => void>
  /** Cancel function of this height's rebroadcast timer. */
  rebroadcast?: () => void
  /** Votes and proposals for height + 1 that arrived while at this height; handled once it opens. */
  readonly future: Array<{ from: string, msg: BftMessage }>
}

/**
 * A fresh height. With `restored` (our WAL's records for this height after a
 * restart) it starts from our own votes, proposals and lock, in the highest
 * round we had reached.
 */
export function newHeightState (height: number, restored?: Restored): HeightState {
  const hs: HeightState = {
    height,
    round: 0,
    step: 'propose',
    active: false,
    activeSince: 0,
    lockedValue: null,
    lockedRound: -1,
    validValue: null,
    validRound: -1,
    votes: new HeightVotes(),
    proposals: new Map(),
    blocks: new Map(),
    validity: new Map(),
    myVotes: new Map(),
    myProposals: new Map(),
    prevoteWait: new Set(),
    precommitWait: new Set(),
    polkaSeen: new Set(),
    timers: new Set(),
    future: []
  }
  if (restored === undefined) return hs
  for (const [k, v] of restored.myVotes) hs.myVotes.set(k, v)
  for (const [round, p] of restored.myProposals) {
    hs.myProposals.set(round, p)
    hs.proposals.set(round, p)
  }
  for (const v of restored.votes) hs.votes.add(v)
  for (const [k, b] of restored.blocks) hs.blocks.set(k, b)
  // Our own latest non-nil precommit is our lock.
  if (restored.lock !== null) {
    hs.lockedValue = restored.lock.block; hs.lockedRound = restored.lock.round
    hs.validValue = restored.lock.block; hs.validRound = restored.lock.round
  }
  if (restored.maxRound >= 0) hs.round = restored.maxRound
  return hs
}

/** Cancel every timer of `hs` (the height is over, or the instance stops or halts). */
export function cancelHeightTimers (hs: HeightState): void {
  for (const c of hs.timers) c()
  hs.timers.clear()
  hs.rebroadcast?.()
  hs.rebroadcast = undefined
}
