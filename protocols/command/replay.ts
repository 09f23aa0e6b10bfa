/**
 * The time checks every target runs on a request before anything else:
 * expiry, bounded future skew, a bounded life, and replay. A request id is
 * remembered until the request expires; since no request may live longer
 * than `expiryWindowMs`, the set is bounded in time, and `seenMax` bounds
 * it in size. When the set is full of unexpired ids a new request is
 * refused (`replay_set_full`) rather than an id forgotten early: forgetting
 * one would let its request be replayed.
 *
 * The set lives in memory, so a restarted node has forgotten it: a request
 * issued before this guard was made (by more than the clock skew allowed)
 * is refused (`before_start`), since a previous life of this node may have
 * run it. A request issued within the skew before the start stays a replay
 * risk for that window (docs/commands.md).
 */
import { CommandRefusedError } from './errors.js'
import type { CommandConfig } from './constants.js'

export interface Stamped { id: string, issuedAt: number, expires: number }

export class ReplayGuard {
  /** id → expires (insertion order is roughly expiry order; pruning walks it all anyway when needed). */
  private readonly seen = new Map<string, number>()
  /** When this guard (this node's process) began remembering, ms. */
  private readonly since: number

  constructor (private readonly cfg: Pick<CommandConfig, 'expiryWindowMs' | 'maxFutureSkewMs' | 'seenMax'>, private readonly now: () => number = Date.now) {
    this.since = now()
  }

  /** Throws CommandRefusedError unless the request is fresh and new; does not remember it. */
  check (r: Stamped): void {
    const now = this.now()
    if (r.expires <= now) throw new CommandRefusedError('expired', `request expired ${now - r.expires} ms ago`)
    if (r.issuedAt > now + this.cfg.maxFutureSkewMs) throw new CommandRefusedError('future', `request issued ${r.issuedAt - now} ms in the future (clock skew over ${this.cfg.maxFutureSkewMs} ms)`)
    if (r.expires <= r.issuedAt || r.expires - r.issuedAt > this.cfg.expiryWindowMs) throw new CommandRefusedError('too_long', `request lives ${r.expires - r.issuedAt} ms; at most ${this.cfg.expiryWindowMs} ms`)
    if (r.issuedAt < this.since - this.cfg.maxFutureSkewMs) throw new CommandRefusedError('before_start', `request issued ${this.since - r.issuedAt} ms before this node started: it may have run here before a restart`)
    if (this.seen.has(r.id)) throw new CommandRefusedError('replayed', `request ${r.id} seen before`)
  }

  /** check(), then remember the id until the request expires. */
  admit (r: Stamped): void {
    this.check(r)
    if (this.seen.size >= this.cfg.seenMax) this.prune()
    if (this.seen.size >= this.cfg.seenMax) throw new CommandRefusedError('replay_set_full', `${this.seen.size} unexpired requests remembered; refusing new ones until some expire`)
    this.seen.set(r.id, r.expires)
  }

  get size (): number { return this.seen.size }

  private prune (): void {
    const now = this.now()
    for (const [id, exp] of this.seen) if (exp <= now) this.seen.delete(id)
  }
}
