/**
 * A validator set: equal-weight ed25519 identities, sorted so every node
 * derives the same proposer order and hash. n = 3f + 1 tolerates f faulty
 * validators; a quorum is any ⌊2n/3⌋ + 1 of them, so two quorums always
 * share at least f + 1 validators, one of which is honest.
 */
import { encodeCbor } from '../../wire/codec.js'
import { sha256 } from './crypto.js'

export class ValidatorSet {
  readonly ids: readonly string[]
  readonly n: number
  /** Faulty validators tolerated. */
  readonly f: number
  /** Votes needed for a polka or a commit. */
  readonly quorum: number
  readonly hash: Uint8Array
  private readonly members: Set<string>

  constructor (ids: Iterable<string>) {
    this.ids = [...new Set(ids)].sort()
    if (this.ids.length === 0) throw new Error('a validator set cannot be empty')
    this.members = new Set(this.ids)
    this.n = this.ids.length
    this.f = Math.floor((this.n - 1) / 3)
    this.quorum = Math.floor((2 * this.n) / 3) + 1
    this.hash = sha256(encodeCbor({ v: 1, validators: this.ids }))
  }

  has (id: string): boolean { return this.members.has(id) }

  /** Round-robin over heights and rounds: a dead proposer costs one round, not a height. */
  proposer (height: number, round: number): string {
    return this.ids[(height + round) % this.n]
  }
}
