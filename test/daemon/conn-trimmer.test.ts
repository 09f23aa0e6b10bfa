/**
 * The connection trimmer (daemon/conn-trimmer.ts): its choices against a
 * fake connection list (on real libp2p nodes: test/integration/conn-trimmer.test.ts).
 */
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { ConnectionTrimmer, type ConnectionTrimmerComponents } from '../../daemon/conn-trimmer.js'

interface FakeConn { remotePeer: { toString: () => string }, timeline: { open: number }, streams: Array<{ protocol: string }>, closed: boolean, close: () => Promise<void>, abort: () => void }

function conn (peer: string, open: number, protocols: string[] = ['/meshsub/1.2.0']): FakeConn {
  const c: FakeConn = {
    remotePeer: { toString: () => peer },
    timeline: { open },
    streams: protocols.map(protocol => ({ protocol })),
    closed: false,
    close: async () => { c.closed = true },
    abort: () => { c.closed = true }
  }
  return c
}

const fakeNode = (conns: FakeConn[]): ConnectionTrimmerComponents['node'] => ({ getConnections: () => conns.filter(c => !c.closed) }) as unknown as ConnectionTrimmerComponents['node']
const log = pino({ level: 'silent' })
const NOW = 1_000_000

describe('connection trimmer', () => {
  it('does nothing at or below the high watermark', () => {
    const conns = Array.from({ length: 6 }, (_, i) => conn(`p${i}`, 0))
    const t = new ConnectionTrimmer({ lowWater: 2, highWater: 6, graceMs: 10, intervalMs: 1_000, protect: () => [] }, { node: fakeNode(conns), logger: log })
    assert.equal(t.trim(NOW), 0)
    assert.ok(conns.every(c => !c.closed))
  })

  it('closes the oldest idle unprotected peers down to the low watermark', () => {
    const conns = Array.from({ length: 10 }, (_, i) => conn(`p${i}`, i))
    const t = new ConnectionTrimmer({ lowWater: 4, highWater: 8, graceMs: 10, intervalMs: 1_000, protect: () => ['p0', 'p1'] }, { node: fakeNode(conns), logger: log })
    assert.equal(t.trim(NOW), 6)
    assert.deepEqual(conns.filter(c => !c.closed).map(c => c.remotePeer.toString()), ['p0', 'p1', 'p8', 'p9'])
  })

  it('spares young connections and connections with a request in flight', () => {
    const conns = [
      conn('young', NOW - 5),
      conn('busy', 0, ['/meshsub/1.2.0', '/mycel/pushpull/1.0.0']),
      conn('idle1', 0),
      conn('idle2', 1),
      conn('idle3', 2)
    ]
    const t = new ConnectionTrimmer({ lowWater: 1, highWater: 4, graceMs: 10, intervalMs: 1_000, protect: () => [] }, { node: fakeNode(conns), logger: log })
    assert.equal(t.trim(NOW), 3)
    assert.deepEqual(conns.filter(c => !c.closed).map(c => c.remotePeer.toString()), ['young', 'busy'])
  })

  it('counts peers, not connections, and closes every connection of a victim', () => {
    const conns = [conn('a', 0), conn('a', 1), conn('b', 2), conn('c', 3)]
    const t = new ConnectionTrimmer({ lowWater: 1, highWater: 2, graceMs: 0, intervalMs: 1_000, protect: () => ['c'] }, { node: fakeNode(conns), logger: log })
    assert.equal(t.trim(NOW), 2)
    assert.deepEqual(conns.map(c => c.closed), [true, true, true, false])
  })

  it('rejects watermarks that cannot work', () => {
    assert.throws(() => new ConnectionTrimmer({ lowWater: 5, highWater: 5, graceMs: 0, intervalMs: 1, protect: () => [] }, { node: fakeNode([]), logger: log }), RangeError)
  })
})
