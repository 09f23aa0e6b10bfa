/**
 * yamux's keep-alive is the profile's `muxerKeepAliveMs` (daemon/node.ts):
 * pings often enough that a quiet connection to a live peer outlives the
 * socket inactivity timeout, and no more often. Real nodes over TCP
 * loopback: with the keep-alive within the timeout a connection that carries
 * nothing else stays open for four timeouts; with it above, the same
 * connection is closed as idle, which shows the timeout is real and only
 * the pings held the first one open.
 */
import { strict as assert } from 'node:assert'
import type { Connection } from '@libp2p/interface'
import { libp2pTunables } from '../../daemon/profiles.js'
import type { MycelNode } from '../../daemon/node.js'
import { loopbackNodes } from '../helpers/loopback-nodes.js'

const INACTIVITY_MS = 800

/** Resolves true if `conn` closes within `ms`, false if it is still open then. */
async function closesWithin (node: MycelNode, conn: Connection, ms: number): Promise<boolean> {
  if (conn.status !== 'open') return true
  return await new Promise<boolean>(resolve => {
    const onClose = (evt: CustomEvent<Connection>): void => {
      if (evt.detail.id !== conn.id) return
      clearTimeout(timer)
      node.removeEventListener('connection:close', onClose)
      resolve(true)
    }
    const timer = setTimeout(() => { node.removeEventListener('connection:close', onClose); resolve(false) }, ms)
    node.addEventListener('connection:close', onClose)
  })
}

describe('muxer keep-alive', function () {
  this.timeout(15_000)
  const nodes = loopbackNodes()
  after(async () => { await nodes.stopAll() })

  async function quietConnection (muxerKeepAliveMs: number): Promise<{ a: MycelNode, conn: Connection }> {
    const checked = libp2pTunables.create('test', { socketInactivityTimeoutMs: INACTIVITY_MS, muxerKeepAliveMs: Math.min(muxerKeepAliveMs, INACTIVITY_MS / 2) })
    // The relation forbids a keep-alive at or above the timeout; the control case goes past the check.
    const profile = { ...checked, muxerKeepAliveMs }
    const a = await nodes.start({ profile })
    const b = await nodes.start({ profile })
    const conn = await a.dial(b.getMultiaddrs()[0])
    return { a, conn }
  }

  it('a quiet connection to a live peer outlives the inactivity timeout', async () => {
    const { a, conn } = await quietConnection(200)
    assert.equal(await closesWithin(a, conn, 4 * INACTIVITY_MS), false, 'closed as idle although yamux pinged every 200 ms')
  })

  it('without pings inside the timeout the same connection is closed as idle', async () => {
    const { a, conn } = await quietConnection(60_000)
    assert.equal(await closesWithin(a, conn, 8 * INACTIVITY_MS), true, 'still open: the inactivity timeout did not apply')
  })

  it('the profiles ping within half their inactivity timeout, and no longer keep-alive is accepted', () => {
    for (const p of ['lan', 'wan', 'test'] as const) {
      const t = libp2pTunables.defaults(p)
      assert.ok(t.muxerKeepAliveMs <= t.socketInactivityTimeoutMs / 2, p)
    }
    assert.equal(libp2pTunables.create('lan', { muxerKeepAliveMs: 150_000 }).muxerKeepAliveMs, 150_000)
    assert.throws(() => libp2pTunables.create('lan', { muxerKeepAliveMs: 150_001 }), { name: 'InvalidTunablesError', message: /muxerKeepAliveMs \(150001\) must be at most half of socketInactivityTimeoutMs \(300000\)/ })
  })
})
