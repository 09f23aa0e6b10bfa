/**
 * Updates waiting to be piggybacked on probes and acks (memberlist's
 * TransmitLimitedQueue). Each update is sent retransmitMult × ceil(log10(N+1))
 * times, least-sent first, so an update reaches everyone in O(log N) probe
 * rounds while a node's piggyback traffic stays bounded by the byte budget of
 * one probe, whatever N is. A newer update about a member replaces the older
 * one (only the latest state of a member is worth spreading).
 */
import { updateWireSize, type SignedUpdate } from './messages.js'
import { retransmitLimit } from './constants.js'

interface Item {
  member: string
  raw: SignedUpdate
  transmits: number
  /** Insertion order, to prefer fresher updates among equally sent ones. */
  id: number
}

export class BroadcastQueue {
  private readonly items = new Map<string, Item>()
  private nextId = 0
  /** Resolvers of `nonEmpty` waits, called by the next enqueue. */
  private waiters: Array<() => void> = []

  constructor (private readonly retransmitMult: number, private readonly maxItems: number) {}

  get size (): number {
    return this.items.size
  }

  /** Queue an update about `member`, replacing any older one about it. */
  enqueue (member: string, raw: SignedUpdate): void {
    this.items.delete(member)
    this.items.set(member, { member, raw, transmits: 0, id: this.nextId++ })
    if (this.items.size > this.maxItems) this.evict()
    if (this.waiters.length > 0) {
      const waiters = this.waiters
      this.waiters = []
      for (const wake of waiters) wake()
    }
  }

  /**
   * Resolves once the queue holds an update (at once if it does), or when
   * `signal` aborts: the gossip loop sleeps here instead of waking every
   * gossip interval to find nothing to send.
   */
  async nonEmpty (signal: AbortSignal): Promise<void> {
    if (this.items.size > 0 || signal.aborted) return
    await new Promise<void>(resolve => {
      const done = (): void => {
        signal.removeEventListener('abort', done)
        this.waiters = this.waiters.filter(w => w !== done)
        resolve()
      }
      this.waiters.push(done)
      signal.addEventListener('abort', done, { once: true })
    })
  }

  /**
   * Take updates for one message, at most `budgetBytes` of them. Every
   * returned update counts one transmission; those that reached the limit
   * for a cluster of `n` leave the queue.
   */
  take (budgetBytes: number, n: number): SignedUpdate[] {
    if (this.items.size === 0) return []
    const limit = retransmitLimit(this.retransmitMult, n)
    const sorted = [...this.items.values()].sort((a, b) => a.transmits - b.transmits || b.id - a.id)
    const out: SignedUpdate[] = []
    let used = 0
    for (const item of sorted) {
      const size = updateWireSize(item.raw)
      if (used + size > budgetBytes) continue
      used += size
      out.push(item.raw)
      item.transmits++
      if (item.transmits >= limit) this.items.delete(item.member)
    }
    return out
  }

  clear (): void {
    this.items.clear()
  }

  private evict (): void {
    // Drop the most-sent (then oldest) update: it has had its chance.
    let worst: Item | undefined
    for (const item of this.items.values()) {
      if (worst === undefined || item.transmits > worst.transmits || (item.transmits === worst.transmits && item.id < worst.id)) worst = item
    }
    if (worst !== undefined) this.items.delete(worst.member)
  }
}
