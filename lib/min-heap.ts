/**
 * A binary min-heap ordered by `less`: O(log n) push and pop. Used where
 * the smallest of many must come out first, over and over: the k-way merge
 * of log streams (protocols/logs/merge.ts) and the simulators' virtual
 * timers (harness/sim/clock.ts). Ties come out in whatever order `less`
 * breaks them; callers that need stability put a sequence number in it.
 */
export class MinHeap<T> {
  private readonly items: T[] = []

  constructor (private readonly less: (a: T, b: T) => boolean) {}

  get size (): number { return this.items.length }

  /** The smallest item, left in place; undefined when empty. */
  peek (): T | undefined { return this.items[0] }

  push (item: T): void {
    const h = this.items
    h.push(item)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.less(h[i], h[p])) break
      ;[h[i], h[p]] = [h[p], h[i]]
      i = p
    }
  }

  /** Take the smallest item out; undefined when empty. */
  pop (): T | undefined {
    const h = this.items
    const top = h[0]
    const last = h.pop()
    if (last === undefined || h.length === 0) return top
    h[0] = last
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < h.length && this.less(h[l], h[m])) m = l
      if (r < h.length && this.less(h[r], h[m])) m = r
      if (m === i) return top
      ;[h[i], h[m]] = [h[m], h[i]]
      i = m
    }
  }
}
