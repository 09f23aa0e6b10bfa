/**
 * A dial outlives the asker that gives up (daemon/patient-dials.ts), over real sockets: two daemon
 * libp2p nodes, the second reached through a TCP relay that holds every chunk for a while (a peer too
 * slow to finish the handshake within the asker's wait). The asker's call fails on its own deadline;
 * the dial goes on and the connection is there afterwards, so the next request needs no handshake.
 */
import { strict as assert } from 'node:assert'
import net from 'node:net'
import { multiaddr } from '@multiformats/multiaddr'
import { Registry } from 'prom-client'
import type { MycelNode } from '../../daemon/node.js'
import { loopbackNodes } from '../helpers/loopback-nodes.js'
import { dialDeadline } from '../../daemon/patient-dials.js'

/** A TCP relay to `target` that forwards each chunk after `delayMs`, both ways. */
async function slowRelay (target: { host: string, port: number }, delayMs: number): Promise<{ port: number, close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>()
  const pipe = (from: net.Socket, to: net.Socket): void => {
    from.on('data', (chunk) => { setTimeout(() => { if (!to.destroyed) to.write(chunk) }, delayMs) })
    from.on('close', () => { setTimeout(() => { to.destroy() }, delayMs) })
    from.on('error', () => { to.destroy() })
  }
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host)
    sockets.add(client).add(upstream)
    pipe(client, upstream)
    pipe(upstream, client)
  })
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => { server.close(() => { resolve() }) })
    }
  }
}

function tcpOf (node: MycelNode): { host: string, port: number } {
  const m = node.getMultiaddrs().map(a => /^\/ip4\/([\d.]+)\/tcp\/(\d+)/.exec(a.toString())).find(x => x !== null)
  assert.ok(m !== undefined && m !== null, 'a TCP address')
  return { host: m[1], port: Number(m[2]) }
}

async function until (what: string, ok: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}

describe('patient dials: a dial outlives an asker that gave up', function () {
  this.timeout(30_000)
  const nodes = loopbackNodes()
  const relays: Array<{ close: () => Promise<void> }> = []
  after(async () => {
    await Promise.all(relays.map(async r => { await r.close() }))
    await nodes.stopAll()
  })

  it('the asker fails on its own deadline; the connection is made anyway and counted', async () => {
    const registry = new Registry()
    const a = await nodes.start({ registry })
    const b = await nodes.start()
    // Noise XX is three messages and multistream-select a few more: each held 150 ms is well past 100 ms.
    const relay = await slowRelay(tcpOf(b), 150)
    relays.push(relay)
    const via = multiaddr(`/ip4/127.0.0.1/tcp/${relay.port}/p2p/${b.peerId.toString()}`)
    const started = Date.now()
    await assert.rejects(a.dial(via, { signal: AbortSignal.timeout(100) }), (err: Error) => err.name === 'TimeoutError' || err.name === 'AbortError')
    assert.ok(Date.now() - started < 1_000, `the asker waited ${Date.now() - started} ms, not its own 100 ms`)
    assert.equal(a.getConnections(b.peerId).length, 0, 'not connected when the asker gave up')
    await until('the connection to b', () => a.getConnections(b.peerId).length > 0)
    const outlived = async (result: string): Promise<number> =>
      (await registry.getSingleMetric('mycel_dials_outlived_total')?.get())?.values.find(v => v.labels.result === result)?.value ?? 0
    await until('the outlived dial counted', async () => await outlived('connected') === 1)
    // The next request to b finds the connection: no second handshake.
    const conn = await a.dial(b.peerId, { signal: AbortSignal.timeout(100) })
    assert.equal(conn.remotePeer.toString(), b.peerId.toString())
    assert.equal(await outlived('failed'), 0)
  })

  it('a dial nobody waits for still ends at the dial timeout: a peer that never answers is given up, and counted', async () => {
    const registry = new Registry()
    const a = await nodes.start({ registry })
    // Accepts TCP and never answers: the handshake cannot finish.
    const sockets = new Set<net.Socket>()
    const mute = net.createServer((s) => { sockets.add(s) })
    await new Promise<void>((resolve) => { mute.listen(0, '127.0.0.1', resolve) })
    relays.push({ close: async () => { for (const s of sockets) s.destroy(); await new Promise<void>((resolve) => { mute.close(() => { resolve() }) }) } })
    const other = await nodes.start()
    const via = multiaddr(`/ip4/127.0.0.1/tcp/${(mute.address() as net.AddressInfo).port}/p2p/${other.peerId.toString()}`)
    await assert.rejects(a.dial(via, { signal: AbortSignal.timeout(100) }))
    const failed = async (): Promise<number> =>
      (await registry.getSingleMetric('mycel_dials_outlived_total')?.get())?.values.find(v => v.labels.result === 'failed')?.value ?? 0
    // The test profile's dialTimeoutMs (3 s) ends it.
    await until('the outlived dial to end', async () => await failed() === 1, 8_000)
    assert.equal(a.getConnections(other.peerId).length, 0)
  })
})

describe('patient dials: a dial\'s deadline', () => {
  const aborted = async (signal: AbortSignal, withinMs: number): Promise<boolean> => {
    if (signal.aborted) return true
    return await new Promise(resolve => {
      const t = setTimeout(() => { resolve(false) }, withinMs)
      signal.addEventListener('abort', () => { clearTimeout(t); resolve(true) }, { once: true })
    })
  }

  it('a dial still queued when its asker gives up is dropped at once', async () => {
    const asker = new AbortController()
    const d = dialDeadline(asker.signal, 5_000)
    asker.abort()
    assert.equal(await aborted(d.signal, 0), true)
    assert.equal(d.running(), false)
    d.clear()
  })

  it('a dial under way outlives its asker until its own deadline, and no longer', async () => {
    const asker = new AbortController()
    const made = Date.now()
    const d = dialDeadline(asker.signal, 1_000)
    d.started()
    asker.abort()
    assert.equal(await aborted(d.signal, 300), false, 'still running after the asker gave up')
    assert.equal(await aborted(d.signal, 3_000), true, 'ended at its own deadline')
    assert.ok(Date.now() - made >= 990, `ended ${Date.now() - made} ms after it was made`)
    d.clear()
  })

  it('an asker with a later deadline keeps the dial until then', async () => {
    const asker = new AbortController()
    const d = dialDeadline(asker.signal, 50)
    d.started()
    assert.equal(await aborted(d.signal, 150), false, 'past the dial timeout, the asker still waits')
    asker.abort()
    assert.equal(await aborted(d.signal, 0), true)
    d.clear()
  })
})
