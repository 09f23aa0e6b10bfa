/**
 * k-way merge by time of streams each sorted by time: a binary heap of the
 * streams' heads, so merging k streams of n lines in all costs O(n log k)
 * and holds one item per stream, never a whole range. Ties keep the order of
 * the streams (stable), so equal inputs give equal outputs.
 */

import { MinHeap } from '../../lib/min-heap.js'

interface Head<T> { item: T, src: number, it: AsyncIterator<T> }

/** Merge async streams sorted by `key` into one sorted stream. */
export async function * mergeByTime<T> (streams: Array<AsyncIterable<T>>, key: (item: T) => number): AsyncGenerator<T> {
  const heap = new MinHeap<Head<T>>((a, b) => {
    const ka = key(a.item)
    const kb = key(b.item)
    return ka < kb || (ka === kb && a.src < b.src)
  })
  const iterators = streams.map(s => s[Symbol.asyncIterator]())
  try {
    const firsts = await Promise.all(iterators.map(async it => await it.next()))
    firsts.forEach((r, src) => { if (r.done !== true) heap.push({ item: r.value, src, it: iterators[src] }) })
    for (let h = heap.pop(); h !== undefined; h = heap.pop()) {
      yield h.item
      const n = await h.it.next()
      if (n.done !== true) heap.push({ item: n.value, src: h.src, it: h.it })
    }
  } finally {
    // A consumer that stops early (a limit, a closed client) ends every source.
    await Promise.all(iterators.map(async it => { await it.return?.() }))
  }
}

/**
 * The last `n` items of a stream, in order: a ring of n, so the newest lines
 * of a huge range cost n items of memory. `more` tells whether any were left out.
 */
export async function lastN<T> (items: AsyncIterable<T>, n: number): Promise<{ items: T[], more: boolean }> {
  const ring: T[] = new Array<T>(n)
  let count = 0
  for await (const item of items) {
    ring[count % n] = item
    count++
  }
  if (count <= n) return { items: ring.slice(0, count), more: false }
  const start = count % n
  return { items: [...ring.slice(start), ...ring.slice(0, start)], more: true }
}
