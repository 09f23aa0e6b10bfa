/**
 * Start things a few at a time. Starting 50 Node processes at once on two
 * cores measures the scheduler, not the protocol; one at a time makes a
 * large join mostly the time to start processes.
 */

/**
 * Run `start(i)` for i = 0 … count−1, `batch` at a time (a batch starts
 * when the previous one has finished); results in index order. A failure
 * rejects once its batch has settled, so nothing of that batch still runs.
 */
export async function startInBatches<T> (count: number, batch: number, start: (i: number) => Promise<T>): Promise<T[]> {
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`batch must be a positive integer, got ${batch}`)
  const out: T[] = []
  for (let i = 0; i < count; i += batch) {
    const settled = await Promise.allSettled(Array.from({ length: Math.min(batch, count - i) }, async (_, j) => await start(i + j)))
    for (const r of settled) {
      if (r.status === 'rejected') throw r.reason
      out.push(r.value)
    }
  }
  return out
}
