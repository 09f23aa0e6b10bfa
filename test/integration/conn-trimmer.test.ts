/**
 * The connection trimmer (daemon/conn-trimmer.ts) on real libp2p nodes over
 * TCP on 127.0.0.1: idle unprotected peers are closed on both sides, the
 * protected one is kept. Its choices on a fake list: test/daemon/conn-trimmer.test.ts.
 */
import assert from 'node:assert/strict'
import { pino } from 'pino'
import { ConnectionTrimmer } from '../../daemon/conn-trimmer.js'
import type { MycelNode } from '../../daemon/node.js'
import { loopbackNodes } from '../helpers/loopback-nodes.js'

const log = pino({ level: 'silent' })

describe('connection trimmer over real libp2p nodes', function () {
  this.timeout(30_000)
  const nodes = loopbackNodes()
  after(async () => { await nodes.stopAll() })

  it('closes idle connections to unprotected peers and keeps the protected one', async () => {
    const started: MycelNode[] = []
    for (let i = 0; i < 5; i++) started.push(await nodes.start())
    const [hub, keep, ...others] = started
    for (const n of [keep, ...others]) await hub.dial(n.getMultiaddrs()[0])
    assert.equal(hub.getPeers().length, 4)
    // Wait for identify and gossipsub's stream setup to finish: the trimmer spares connections mid-RPC.
    const start = Date.now()
    const idle = (): boolean => hub.getConnections().every(c => c.streams.every(s => s.protocol?.startsWith('/meshsub/') === true))
    while (!idle() && Date.now() - start < 10_000) await new Promise(resolve => setTimeout(resolve, 50))
    const t = new ConnectionTrimmer({ lowWater: 1, highWater: 2, graceMs: 0, intervalMs: 60_000, protect: () => [keep.peerId.toString()] }, { node: hub, logger: log })
    assert.equal(t.trim(), 3)
    const deadline = Date.now() + 10_000
    while (hub.getPeers().length > 1 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 50))
    assert.deepEqual(hub.getPeers().map(p => p.toString()), [keep.peerId.toString()])
    // The far side learns of the close asynchronously (its muxer sees the socket end).
    const seen = Date.now() + 10_000
    while (others.some(o => o.getConnections(hub.peerId).length > 0) && Date.now() < seen) await new Promise(resolve => setTimeout(resolve, 50))
    for (const o of others) assert.equal(o.getConnections(hub.peerId).length, 0, 'the other side saw the close')
  })
})
