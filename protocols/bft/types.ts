/**
 * The data the protocol agrees on and the messages it exchanges. Wire
 * schemas are in messages.ts; signing payloads in crypto.ts. Every body
 * reserves the trace context `tc` (docs/wire.md).
 */
import type { Traced } from '../../wire/trace-context.js'

/** One admin-signed change of a critical key. `value: null` deletes the key. */
export interface Entry extends Traced {
  key: string
  value: string | null
  /** Peer id of the admin that signed it. */
  admin: string
  /** 16 random bytes: makes every entry unique, so a replay is recognisable. */
  nonce: Uint8Array
  /** Unix ms after which no fresh proposal may include it (see docs/bft.md). */
  expiresAt: number
  /**
   * Authority other than the admin set (critical-state.ts `EntryAuthority`):
   * e.g. an admin-signed join token that lets `admin` (then the joining
   * peer, not an admin) set its own admission key. Each use is counted per
   * grant (sha256 of these bytes), network-wide.
   */
  grant?: Uint8Array
  signature: Uint8Array
}

export interface Block extends Traced {
  v: 1
  /** Genesis hash: a block (and every vote on it) belongs to one network. */
  chain: Uint8Array
  height: number
  /** Hash of block height-1 (the genesis hash for height 1). */
  prevHash: Uint8Array
  /** Hash of the validator set in force at this height. */
  validatorSetHash: Uint8Array
  /** Proposer's clock when the block was built, Unix ms; informational. */
  time: number
  entries: Entry[]
}

export const PREVOTE = 1
export const PRECOMMIT = 2
export type VoteType = typeof PREVOTE | typeof PRECOMMIT

export interface Vote extends Traced {
  type: VoteType
  height: number
  round: number
  /** null is a vote for nothing (nil). */
  blockHash: Uint8Array | null
  validator: string
  signature: Uint8Array
}

export interface Proposal extends Traced {
  height: number
  round: number
  /** Round of the polka that justifies re-proposing this block, or -1. */
  validRound: number
  block: Block
  proposer: string
  signature: Uint8Array
}

export interface CommitSignature {
  validator: string
  signature: Uint8Array
}

/** A block plus 2f+1 precommits of one round: proof the network committed it. */
export interface Certificate extends Traced {
  v: 1
  block: Block
  round: number
  precommits: CommitSignature[]
}

export type BftMessage = Traced & (
  | { v: 1, kind: 'proposal', proposal: Proposal }
  | { v: 1, kind: 'vote', vote: Vote }
  | { v: 1, kind: 'commit', certificate: Certificate }
  | { v: 1, kind: 'submit', entry: Entry }
  | { v: 1, kind: 'sync', from: number })
