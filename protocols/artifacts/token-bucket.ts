/**
 * A token bucket over bytes: `take(n)` waits until n bytes fit the rate. It
 * fills at `bytesPerSecond` up to `burstBytes`; a take larger than what is in
 * the bucket runs it into debt and waits that debt off, so one large block is
 * never refused, only delayed. A rate of 0 means no limit.
 */
import { sleep } from '../../lib/clock.js'

export class TokenBucket {
  private tokens: number
  private last: number

  constructor (private readonly bytesPerSecond: number, private readonly burstBytes: number, private readonly now: () => number = () => performance.now()) {
    this.tokens = burstBytes
    this.last = now()
  }

  /** Resolves once `n` bytes may go; rejects with the signal's reason if it aborts first. */
  async take (n: number, signal?: AbortSignal): Promise<void> {
    if (this.bytesPerSecond === 0) return
    this.refill()
    this.tokens -= n
    if (this.tokens >= 0) return
    await sleep(Math.ceil(-this.tokens / this.bytesPerSecond * 1000), signal)
    signal?.throwIfAborted()
  }

  private refill (): void {
    const t = this.now()
    this.tokens = Math.min(this.burstBytes, this.tokens + (t - this.last) / 1000 * this.bytesPerSecond)
    this.last = t
  }
}
