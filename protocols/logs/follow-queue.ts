/**
 * Lines for one follower, bounded: a reader slower than the log loses the
 * overflow (counted, and told as a `gap`), never the agent's memory. The
 * producer never waits: logging must not stall on a slow remote reader.
 */
import type { LogLine } from './line.js'

export type FollowItem = { line: LogLine } | { dropped: number }

export class FollowQueue implements AsyncIterable<FollowItem> {
  private readonly items: LogLine[] = []
  private dropped = 0
  private wake?: () => void
  private isClosed = false

  constructor (private readonly max: number, private readonly onDrop: (n: number) => void = () => {}) {}

  push (line: LogLine): void {
    if (this.isClosed) return
    if (this.items.length >= this.max) {
      this.dropped++
      this.onDrop(1)
    } else {
      this.items.push(line)
    }
    this.wake?.()
  }

  /** Closed by the query that owns it: sources forget it. */
  get closed (): boolean { return this.isClosed }

  close (): void {
    this.isClosed = true
    this.wake?.()
  }

  async * [Symbol.asyncIterator] (): AsyncGenerator<FollowItem> {
    while (true) {
      if (this.dropped > 0) {
        const n = this.dropped
        this.dropped = 0
        yield { dropped: n }
        continue
      }
      const line = this.items.shift()
      if (line !== undefined) { yield { line }; continue }
      if (this.isClosed) return
      await new Promise<void>(resolve => { this.wake = resolve })
      this.wake = undefined
    }
  }
}
