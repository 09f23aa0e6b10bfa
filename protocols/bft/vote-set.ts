/**
 * Votes of one height, per round and type. A second, different vote from a
 * validator for the same (round, type) is equivocation: it is reported as
 * evidence, yet still counted toward the block it names. That is safe
 * (quorum intersection only needs honest validators to sign once per slot;
 * any 2f+1 signatures for a block are a valid proof, which is all a
 * certificate is) and it is needed for liveness: an honest validator that
 * locked on a polka containing an equivocator's vote re-proposes it with
 * those prevotes, and peers that first saw the equivocator's other vote
 * must be able to count them (Tendermint does the same for blocks a peer
 * claims a +2/3 majority for). Each validator holds at most a few distinct
 * votes per slot, so an equivocator cannot grow memory without bound.
 */
import { bytesEqual, hex } from './crypto.js'
import { PREVOTE, type Vote, type VoteType } from './types.js'

export type AddResult =
  | { kind: 'added' }
  | { kind: 'duplicate' }
  | { kind: 'equivocation', first: Vote, counted: boolean }

const NIL = 'nil'
const keyOf = (h: Uint8Array | null): string => h === null ? NIL : hex(h)
/** Distinct votes kept per validator per slot (the first plus conflicting ones). */
const MAX_VOTES_PER_SLOT = 3

export class RoundVotes {
  private readonly byValidator = new Map<string, Vote[]>()
  private readonly byBlock = new Map<string, Map<string, Vote>>()

  add (v: Vote): AddResult {
    const prev = this.byValidator.get(v.validator)
    if (prev?.some(p => bytesEqual(p.blockHash, v.blockHash)) === true) return { kind: 'duplicate' }
    const counted = prev === undefined || prev.length < MAX_VOTES_PER_SLOT
    if (counted) {
      if (prev === undefined) this.byValidator.set(v.validator, [v])
      else prev.push(v)
      const k = keyOf(v.blockHash)
      let m = this.byBlock.get(k)
      if (m === undefined) { m = new Map(); this.byBlock.set(k, m) }
      m.set(v.validator, v)
    }
    return prev === undefined ? { kind: 'added' } : { kind: 'equivocation', first: prev[0], counted }
  }

  /** Distinct validators that voted (anything). */
  total (): number { return this.byValidator.size }
  count (hash: Uint8Array | null): number { return this.byBlock.get(keyOf(hash))?.size ?? 0 }
  /** A non-nil block hash (hex) holding at least `q` votes, if any. */
  majority (q: number): string | undefined {
    for (const [k, m] of this.byBlock) if (k !== NIL && m.size >= q) return k
    return undefined
  }

  votesFor (hashHex: string): Vote[] { return [...(this.byBlock.get(hashHex)?.values() ?? [])] }
}

export class HeightVotes {
  private readonly rounds = new Map<number, { prevotes: RoundVotes, precommits: RoundVotes }>()
  /** Validators heard from per round (any message), for the f+1 round skip. */
  private readonly senders = new Map<number, Set<string>>()

  get (round: number, type: VoteType): RoundVotes {
    let r = this.rounds.get(round)
    if (r === undefined) {
      r = { prevotes: new RoundVotes(), precommits: new RoundVotes() }
      this.rounds.set(round, r)
    }
    return type === PREVOTE ? r.prevotes : r.precommits
  }

  add (v: Vote): AddResult {
    const res = this.get(v.round, v.type).add(v)
    if (res.kind !== 'duplicate') this.noteSender(v.round, v.validator)
    return res
  }

  noteSender (round: number, validator: string): void {
    let s = this.senders.get(round)
    if (s === undefined) { s = new Set(); this.senders.set(round, s) }
    s.add(validator)
  }

  sendersIn (round: number): number { return this.senders.get(round)?.size ?? 0 }
  /** Rounds above `round` in which `validator` has sent something. */
  futureRoundsOf (validator: string, round: number): number[] {
    const out: number[] = []
    for (const [r, s] of this.senders) if (r > round && s.has(validator)) out.push(r)
    return out
  }

  roundsAbove (round: number): number[] { return [...this.senders.keys()].filter(r => r > round).sort((a, b) => a - b) }
  allRounds (): number[] { return [...this.rounds.keys()].sort((a, b) => a - b) }
}
