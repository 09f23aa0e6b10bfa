/**
 * What a validator gets back from its WAL for the open height after a
 * restart: its own votes (never to be contradicted), the prevotes that
 * justified its lock, its proposals, its lock, and the round to resume in.
 */
import { blockHash, hex } from './crypto.js'
import { PRECOMMIT, type Block, type Proposal, type Vote } from './types.js'
import type { WalRecord } from './wal.js'

export interface Restored {
  /** Keyed `${round}/${type}`. */
  myVotes: Map<string, Vote>
  myProposals: Map<number, Proposal>
  /** Own votes plus the logged polkas, to count again. */
  votes: Vote[]
  blocks: Map<string, Block>
  /** Block of the latest own non-nil precommit and its round. */
  lock: { block: Block, round: number } | null
  /** Highest round with a record; -1 when nothing was logged for this height. */
  maxRound: number
}

export function restoreHeight (records: WalRecord[], height: number, self: string): Restored {
  const r: Restored = { myVotes: new Map(), myProposals: new Map(), votes: [], blocks: new Map(), lock: null, maxRound: -1 }
  for (const rec of records) {
    if (rec.kind === 'vote') {
      const v = rec.vote
      if (v.height !== height || v.validator !== self) continue
      r.myVotes.set(`${v.round}/${v.type}`, v)
      r.votes.push(v, ...rec.polka)
      r.maxRound = Math.max(r.maxRound, v.round)
      if (rec.block !== null && v.blockHash !== null) {
        r.blocks.set(hex(v.blockHash), rec.block)
        if (v.type === PRECOMMIT && (r.lock === null || v.round >= r.lock.round)) r.lock = { block: rec.block, round: v.round }
      }
    } else {
      const p = rec.proposal
      if (p.height !== height || p.proposer !== self) continue
      r.myProposals.set(p.round, p)
      r.blocks.set(hex(blockHash(p.block)), p.block)
      r.maxRound = Math.max(r.maxRound, p.round)
    }
  }
  return r
}
