/**
 * A dial's two deadlines (daemon/profiles.ts `tcpConnectTimeoutMs`,
 * `dialTimeoutMs`; wired in daemon/node.ts): a host whose kernel never
 * completes TCP's handshake is given up after the connect timeout, a host
 * that connects but whose agent answers late is given the whole dial, and
 * the responder gives an inbound handshake as long as a dialer does.
 * Real sockets, a real agent process for the late answer.
 */
import { strict as assert } from 'node:assert'
import { spawn } from 'node:child_process'
import net from 'node:net'
import { once } from 'node:events'
import { multiaddr } from '@multiformats/multiaddr'
import { libp2pTunables } from '../../daemon/profiles.js'
import { AgentProcess } from '../../harness/agent-process.js'
import { loopbackNodes } from '../helpers/loopback-nodes.js'

/** The test profile with a short connect and a dial long enough to tell the two apart. */
const profile = libp2pTunables.create('test', { tcpConnectTimeoutMs: 500, dialTimeoutMs: 5_000 })

/**
 * A listener whose process never accepts (its event loop blocked for good):
 * once its accept queue is full the kernel drops further SYNs, so a connect
 * hangs as it does towards a host that is gone.
 */
async function deafListener (): Promise<{ port: number, close: () => void }> {
  const script = `const s = require('net').createServer(); s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
    process.stdout.write(String(s.address().port) + '\\n'); Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0) })`
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  const fillers: net.Socket[] = []
  const close = (): void => {
    for (const s of fillers) s.destroy()
    child.kill('SIGKILL')
  }
  try {
    const [line] = await once(child.stdout!, 'data') as [Buffer]
    const port = Number(line.toString().trim())
    // Fill the accept queue (Linux holds backlog + 1): more connects than fit
    // at once, then a second for the kernel, and at least one must still hang.
    for (let i = 0; i < 8; i++) {
      const s = net.connect({ port, host: '127.0.0.1' })
      s.on('error', () => {})
      fillers.push(s)
    }
    await new Promise(resolve => setTimeout(resolve, 1_000))
    if (!fillers.some(s => s.connecting)) throw new Error('the accept queue never filled: every connect completed')
    return { port, close }
  } catch (err) {
    close()
    throw err
  }
}

describe('dial timeouts', function () {
  this.timeout(30_000)
  const nodes = loopbackNodes()
  after(async () => { await nodes.stopAll() })

  it('gives up on a host that never completes the TCP handshake after the connect timeout, not the whole dial', async () => {
    const deaf = await deafListener()
    try {
      const node = await nodes.start({ profile })
      const t0 = Date.now()
      await assert.rejects(node.dial(multiaddr(`/ip4/127.0.0.1/tcp/${deaf.port}`)), { name: 'TimeoutError', message: /Connection timeout/ })
      const took = Date.now() - t0
      assert.ok(took >= 400 && took < 2_500, `gave up after ${took} ms; connect timeout 500 ms, dial 5,000 ms`)
    } finally {
      deaf.close()
    }
  })

  it('gives a host that connects but answers late the whole dial', async () => {
    const agent = await AgentProcess.start({ profile: 'test', logLevel: 'warn' })
    try {
      const node = await nodes.start({ profile })
      // Stopped, the agent answers nothing, but its kernel still completes
      // TCP's handshake from the accept backlog: a starved host.
      process.kill(agent.agentPid, 'SIGSTOP')
      const resume = setTimeout(() => { process.kill(agent.agentPid, 'SIGCONT') }, 2_000)
      try {
        const t0 = Date.now()
        const conn = await node.dial(multiaddr(agent.addr))
        const took = Date.now() - t0
        assert.equal(conn.remotePeer.toString(), agent.peerId)
        assert.ok(took >= 1_900, `connected after ${took} ms, before the agent was resumed`)
      } finally {
        clearTimeout(resume)
        process.kill(agent.agentPid, 'SIGCONT')
      }
    } finally {
      await agent.cleanup()
    }
  })

  it('the responder gives an inbound handshake the dial timeout, then closes it', async () => {
    const node = await nodes.start({ profile: libp2pTunables.create('test', { tcpConnectTimeoutMs: 500, dialTimeoutMs: 1_500 }) })
    const port = Number(/\/tcp\/(\d+)/.exec(node.getMultiaddrs()[0].toString())?.[1])
    // A peer that connects and never speaks: the handshake it started is given up at the responder's deadline.
    const s = net.connect({ port, host: '127.0.0.1' })
    s.on('error', () => {})
    s.resume()
    await once(s, 'connect')
    const t0 = Date.now()
    // Closed or reset, either way: once() would reject on the reset.
    await new Promise(resolve => s.once('close', resolve))
    const took = Date.now() - t0
    assert.ok(took >= 1_300 && took < 4_000, `closed after ${took} ms; dial timeout 1,500 ms (libp2p's own: 10,000 ms)`)
  })
})
