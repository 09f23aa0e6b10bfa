/** bench/lib/batches.ts: a few at a time, results in order, a failure after its batch settled. */
import assert from 'node:assert/strict'
import { startInBatches } from '../../bench/lib/batches.js'

describe('bench/lib/batches', () => {
  it('runs at most `batch` at once, in index order, and returns the results in order', async () => {
    let running = 0
    let most = 0
    const started: number[] = []
    const out = await startInBatches(7, 3, async i => {
      started.push(i)
      running++
      most = Math.max(most, running)
      await new Promise(resolve => setTimeout(resolve, 7 - i))
      running--
      return i * 10
    })
    assert.deepEqual(out, [0, 10, 20, 30, 40, 50, 60])
    assert.deepEqual(started, [0, 1, 2, 3, 4, 5, 6])
    assert.equal(most, 3)
  })

  it('rejects once the failing batch has settled, and starts no later batch', async () => {
    const finished: number[] = []
    await assert.rejects(startInBatches(6, 2, async i => {
      await new Promise(resolve => setTimeout(resolve, i === 2 ? 1 : 20))
      if (i === 2) throw new Error('start 2 failed')
      finished.push(i)
      return i
    }), /start 2 failed/)
    assert.deepEqual(finished, [0, 1, 3])
  })

  it('refuses a batch size that is not a positive integer', async () => {
    await assert.rejects(startInBatches(1, 0, async () => 1), RangeError)
  })
})
