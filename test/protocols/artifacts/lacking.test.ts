/** What the fetcher remembers of partial holders: lacks that expire, and each node's own chunk order. */
import { expect } from 'chai'
import fc from 'fast-check'
import { LackingChunks, spreadOrder } from '../../../protocols/artifacts/lacking.js'
import { blockCid } from '../../../protocols/artifacts/chunks.js'
import { PROPERTY_RUNS } from '../../helpers/wire-evolution.js'

describe('artifact lacking chunks', () => {
  it('a lack holds until its expiry, per peer and chunk; the next expiry is the earliest still ahead', () => {
    const l = new LackingChunks(100)
    l.mark('c1', 'p1', 1_000)
    l.mark('c2', 'p1', 1_050)
    expect(l.has('c1', 'p1', 1_099)).to.equal(true)
    expect(l.has('c1', 'p1', 1_100)).to.equal(false)
    expect(l.has('c1', 'p2', 1_000)).to.equal(false)
    expect(l.nextExpiry(1_000)).to.equal(1_100)
    expect(l.nextExpiry(1_100)).to.equal(1_150)
    expect(l.nextExpiry(1_150)).to.equal(Infinity)
    // Marked again: a new expiry from then.
    l.mark('c1', 'p1', 2_000)
    expect(l.has('c1', 'p1', 2_050)).to.equal(true)
  })

  it('spreadOrder is a permutation, the same for one node, another for another', () => {
    fc.assert(fc.property(fc.uniqueArray(fc.uint8Array({ minLength: 1, maxLength: 8 }), { minLength: 0, maxLength: 40, comparator: (a, b) => Buffer.from(a).equals(b) }), fc.string(), (blocks, self) => {
      const cids = blocks.map(b => blockCid(b))
      const order = spreadOrder(cids, self).map(String)
      expect([...order].sort()).to.deep.equal(cids.map(String).sort())
      expect(spreadOrder(cids, self).map(String)).to.deep.equal(order)
    }), { numRuns: PROPERTY_RUNS })
    const cids = Array.from({ length: 32 }, (_, i) => blockCid(Uint8Array.of(i)))
    expect(spreadOrder(cids, 'a').map(String)).to.not.deep.equal(spreadOrder(cids, 'b').map(String))
  })
})
