import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import { MinHeap } from '../../lib/min-heap.js'

describe('MinHeap', () => {
  it('gives back what went in, smallest first, whatever the interleaving of pushes and pops (property)', () => {
    // A push is a number, a pop is null; the model is a sorted array.
    fc.assert(fc.property(fc.array(fc.option(fc.integer({ min: -50, max: 50 }), { nil: null }), { maxLength: 200 }), ops => {
      const heap = new MinHeap<number>((a, b) => a < b)
      const model: number[] = []
      for (const op of ops) {
        if (op === null) {
          assert.equal(heap.pop(), model.shift())
        } else {
          heap.push(op)
          model.push(op)
          model.sort((a, b) => a - b)
        }
        assert.equal(heap.size, model.length)
        assert.equal(heap.peek(), model[0])
      }
    }))
  })

  it('breaks ties as `less` says: a sequence number keeps equal keys in insertion order', () => {
    let seq = 0
    const heap = new MinHeap<{ key: number, seq: number }>((a, b) => a.key < b.key || (a.key === b.key && a.seq < b.seq))
    for (const key of [2, 1, 2, 1, 2]) heap.push({ key, seq: seq++ })
    const out: Array<[number, number]> = []
    for (let x = heap.pop(); x !== undefined; x = heap.pop()) out.push([x.key, x.seq])
    assert.deepEqual(out, [[1, 1], [1, 3], [2, 0], [2, 2], [2, 4]])
  })
})
