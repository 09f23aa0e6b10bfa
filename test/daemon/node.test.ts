/**
 * The gossipsub fast message id: duplicates are recognised by it before any
 * signature check, so it must equal StrictSign's identity of a message
 * (author + seqno) and nothing else.
 */
import { strict as assert } from 'node:assert'
import { fastMessageId } from '../../daemon/node.js'

describe('libp2p node options', () => {
  const from = new Uint8Array([0, 36, 8, 1, 18, 32, ...new Array(32).fill(7)])
  const other = new Uint8Array([0, 36, 8, 1, 18, 32, ...new Array(32).fill(9)])
  const seq = (n: number): Uint8Array => new Uint8Array(new BigUint64Array([BigInt(n)]).buffer)

  it('fast message id: a copy of a message (any data or signature) has the same id', () => {
    const a = fastMessageId({ from, seqno: seq(1), data: new Uint8Array([1]), signature: new Uint8Array(64) } as any)
    const b = fastMessageId({ from, seqno: seq(1), data: new Uint8Array([2]), signature: new Uint8Array(64).fill(1) } as any)
    assert.equal(a, b)
  })

  it('fast message id: another seqno or another author is another message', () => {
    const ids = new Set([
      fastMessageId({ from, seqno: seq(1) }),
      fastMessageId({ from, seqno: seq(2) }),
      fastMessageId({ from: other, seqno: seq(1) }),
      fastMessageId({ from: other, seqno: seq(2) })
    ])
    assert.equal(ids.size, 4)
  })

  it('fast message id: messages without author or seqno (rejected by StrictSign) do not throw', () => {
    assert.equal(typeof fastMessageId({}), 'string')
    assert.notEqual(fastMessageId({ from }), fastMessageId({ seqno: seq(1) }))
  })
})
