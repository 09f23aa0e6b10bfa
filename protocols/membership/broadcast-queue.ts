/**
 * Updates waiting to be piggybacked on probes and acks (memberlist's
 * TransmitLimitedQueue). Each update is sent retransmitMult × ceil(log10(N+1))
 * times, so an update reaches everyone in O(log N) probe rounds while a
 * node's piggyback traffic stays bounded by the byte budget of one probe,
 * whatever N is. A newer update about a member replaces the older one (only
 * the latest state of a member is worth spreading).
 *
 * An update either drives gossip rounds or only rides along. A driving
 * update is one this node has to spread itself: its own, or one that reached
 * it by probe while gossipsub cannot carry it here (swim.ts `ingest`). One
 * that gossipsub delivered, or that a push-pull brought, is on its way to
 * everyone already; it rides on the probes and acks that are sent anyway and
 * never makes the gossip loop send a message of its own. Driving updates go
 * first in a message.
 */
import { updateWireSize, type SignedUpdate } from './messages.js'
import { retransmitLimit } from './constants.js'

interface Item {
  member: string
  raw: SignedUpdate
  transmits: number
  /** Insertion order, to prefer fresher updates among equally sent ones. */
  id: number
  /** Whether it makes the gossip loop send rounds (above), or only rides along. */
  drive: boolean
}

export class BroadcastQueue {
  private readonly items = new Map<string, Item>()
  private nextId = 0
  /** How many of the items drive gossip rounds. */
  private drivingCount = 0
  /** Resolvers of `driving` waits, called by the next enqueue of a driving update. */
  private waiters: Array<() => void> = []

  constructor (private readonly retransmitMult: number, private readonly maxItems: number) {}

  get size (): number {
    return this.items.size
  }

  /** How many queued updates drive gossip rounds. */
  get driving (): number {
    return this.drivingCount
  }

  /**
   * Queue an update about `member`, replacing any older one about it;
   * `drive` says whether it makes the gossip loop send (see above).
   */
  enqueue (member: string, raw: SignedUpdate, drive = true): void {
    this.remove(member)
    this.items.set(member, { member, raw, transmits: 0, id: this.nextId++, drive })
    if (drive) this.drivingCount++
    if (this.items.size > this.maxItems) this.evict()
    if (drive && this.waiters.length > 0) {
      const waiters = this.waiters
      this.waiters = []
      for (const wake of waiters) wake()
    }
  }

  /**
   * Resolves once the queue holds a driving update (at once if it does), or
   * when `signal` aborts: the gossip loop sleeps here instead of waking
   * every gossip interval to find nothing to send.
   */
  async whenDriving (signal: AbortSignal): Promise<void> {
    if (this.drivingCount > 0 || signal.aborted) return
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
    const sorted = [...this.items.values()].sort((a, b) => Number(b.drive) - Number(a.drive) || a.transmits - b.transmits || b.id - a.id)
    const out: SignedUpdate[] = []
    let used = 0
    for (const item of sorted) {
      const size = updateWireSize(item.raw)
      if (used + size > budgetBytes) continue
      used += size
      out.push(item.raw)
      item.transmits++
      if (item.transmits >= limit) this.remove(item.member)
    }
    return out
  }

  clear (): void {
    this.items.clear()
    this.drivingCount = 0
  }

  private remove (member: string): void {
    const item = this.items.get(member)
    if (item === undefined) return
    this.items.delete(member)
    if (item.drive) this.drivingCount--
  }

  private evict (): void {
    // Drop the most-sent (then oldest) update: it has had its chance.
    let worst: Item | undefined
    for (const item of this.items.values()) {
      if (worst === undefined || item.transmits > worst.transmits || (item.transmits === worst.transmits && item.id < worst.id)) worst = item
    }
    if (worst !== undefined) this.remove(worst.member)
  }
}
