/**
 * Lifeguard local health awareness (memberlist awareness.go). A node that
 * misses acks, gets no nacks from its indirect helpers or has to refute
 * suspicions about itself is probably the slow one (CPU starved, GC, lossy
 * NIC); it then stretches its own probe timeouts instead of accusing healthy
 * peers. Score 0 is healthy; timeouts are multiplied by score + 1.
 */
export class Awareness {
  private score = 0
  constructor (private readonly max: number, private readonly onChange?: (score: number) => void) {}

  /** Adjust the score by delta, clamped to [0, max - 1]. */
  applyDelta (delta: number): void {
    const next = Math.min(this.max - 1, Math.max(0, this.score + delta))
    if (next !== this.score) {
      this.score = next
      this.onChange?.(next)
    }
  }

  /** 0 = healthy, max - 1 = worst. */
  healthScore (): number {
    return this.score
  }

  scaleTimeout (ms: number): number {
    return ms * (this.score + 1)
  }
}
