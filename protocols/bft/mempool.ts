/**
 * Entries waiting to be proposed, in arrival order. Bounded; expired and
 * committed entries are dropped when a height closes.
 */
import { MAX_MEMPOOL_ENTRIES } from './constants.js'
import type { Entry } from './types.js'

export class Mempool {
  private readonly entries = new Map<string, Entry>()

  constructor (private readonly max = MAX_MEMPOOL_ENTRIES) {}

  /** false when already present or full. */
  add (id: string, e: Entry): boolean {
    if (this.entries.has(id) || this.entries.size >= this.max) return false
    this.entries.set(id, e)
    return true
  }

  has (id: string): boolean { return this.entries.has(id) }
  delete (id: string): void { this.entries.delete(id) }
  get size (): number { return this.entries.size }
  list (): Array<[string, Entry]> { return [...this.entries] }

  /** Drop what `keep` rejects. */
  prune (keep: (id: string, e: Entry) => boolean): void {
    for (const [id, e] of this.entries) if (!keep(id, e)) this.entries.delete(id)
  }
}
