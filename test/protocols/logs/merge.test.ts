import { expect } from 'chai'
import fc from 'fast-check'
import { lastN, mergeByTime } from '../../../protocols/logs/merge.js'

async function * stream<T> (items: T[]): AsyncGenerator<T> {
  for (const i of items) { await Promise.resolve(); yield i }
}

async function collect<T> (it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const x of it) out.push(x)
  return out
}

describe('logs: k-way merge by time', () => {
  it('merges random sorted streams into one sorted stream holding every item exactly once (stable on ties)', async () => {
    const sorted = fc.array(fc.integer({ min: 0, max: 50 }), { maxLength: 40 }).map(a => [...a].sort((x, y) => x - y))
    await fc.assert(fc.asyncProperty(fc.array(sorted, { maxLength: 8 }), async (inputs) => {
      const tagged = inputs.map((s, src) => s.map((t, i) => ({ t, src, i })))
      const out = await collect(mergeByTime(tagged.map(stream), x => x.t))
      expect(out.length).to.equal(tagged.flat().length)
      for (let k = 1; k < out.length; k++) {
        const a = out[k - 1]; const b = out[k]
        expect(a.t < b.t || (a.t === b.t && (a.src < b.src || (a.src === b.src && a.i < b.i)))).to.equal(true)
      }
      const expected = tagged.flat().sort((a, b) => a.t - b.t || a.src - b.src || a.i - b.i)
      expect(out).to.deep.equal(expected)
    }), { numRuns: 200 })
  })

  it('ends every source when the consumer stops early', async () => {
    let closed = 0
    async function * src (): AsyncGenerator<number> { try { for (let i = 0; ; i++) yield i } finally { closed++ } }
    for await (const x of mergeByTime([src(), src(), src()], x => x)) if (x > 3) break
    expect(closed).to.equal(3)
  })

  it('lastN keeps the newest n in order and says whether some were left out', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.integer()), fc.integer({ min: 1, max: 20 }), async (xs, n) => {
      const r = await lastN(stream(xs), n)
      expect(r.items).to.deep.equal(xs.slice(-n))
      expect(r.more).to.equal(xs.length > n)
    }))
  })
})
