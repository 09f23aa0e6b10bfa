/**
 * Lifeguard's dynamic suspicion timeout, as memberlist's suspicion.go does it:
 * a suspicion starts at `max` and shrinks logarithmically toward `min` as
 * independent members confirm it, so a member that many see as failed is
 * declared dead quickly while a lone (possibly unhealthy) accuser must wait
 * the full `max`, giving the suspect time to refute.
 */
import type { Clock, TimerHandle } from '../../lib/clock.js'

/**
 * Time left on a suspicion after `n` of the expected `k` confirmations,
 * `elapsedMs` after it began. Mirrors memberlist's remainingSuspicionTime:
 * timeout = max - (log(n+1)/log(k+1)) × (max - min), never below min.
 */
export function remainingSuspicionTime (n: number, k: number, elapsedMs: number, minMs: number, maxMs: number): number {
  const frac = Math.log(n + 1) / Math.log(k + 1)
  const raw = maxMs - frac * (maxMs - minMs)
  let timeout = Math.floor(raw)
  if (!Number.isFinite(timeout) || timeout < minMs) timeout = minMs
  return timeout - elapsedMs
}

export class Suspicion {
  /** Confirmations so far (the first accuser does not count). */
  n = 0
  readonly k: number
  readonly minMs: number
  readonly maxMs: number
  readonly start: number
  private readonly confirmations = new Set<string>()
  private timer?: TimerHandle
  private fired = false

  /**
   * @param from the first accuser (never counted as a confirmation)
   * @param k confirmations expected; 0 means the timer runs `min` from the start
   * @param onTimeout called once when the suspicion expires
   */
  constructor (private readonly clock: Clock, from: string, k: number, minMs: number, maxMs: number, private readonly onTimeout: (confirmations: number) => void) {
    this.k = k
    this.minMs = minMs
    this.maxMs = Math.max(minMs, maxMs)
    this.start = clock.now()
    this.confirmations.add(from)
    const timeout = k < 1 ? minMs : this.maxMs
    this.timer = clock.setTimeout(() => { this.fire() }, timeout)
  }

  /** The timeout currently in force (from the start), ms. */
  currentTimeoutMs (): number {
    return this.k < 1 ? this.minMs : remainingSuspicionTime(this.n, this.k, 0, this.minMs, this.maxMs)
  }

  /**
   * Count an independent confirmation. Returns true if it was new (and so
   * worth re-gossiping), false for a repeat accuser or once k is reached.
   */
  confirm (from: string): boolean {
    if (this.fired || this.n >= this.k) return false
    if (this.confirmations.has(from)) return false
    this.confirmations.add(from)
    this.n++
    const elapsed = this.clock.now() - this.start
    const remaining = remainingSuspicionTime(this.n, this.k, elapsed, this.minMs, this.maxMs)
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer)
    if (remaining > 0) {
      this.timer = this.clock.setTimeout(() => { this.fire() }, remaining)
    } else {
      this.timer = this.clock.setTimeout(() => { this.fire() }, 0)
    }
    return true
  }

  cancel (): void {
    this.fired = true
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer)
    this.timer = undefined
  }

  private fire (): void {
    if (this.fired) return
    this.fired = true
    this.timer = undefined
    this.onTimeout(this.n)
  }
}
