/**
 * Watch streams stay bounded whatever the clients do (issue 11, item 9):
 * watchers that never read are dropped with a final `dropped` event, a
 * watcher that reads gets every event, the number of streams is capped,
 * and the agent's memory does not grow with the backlog of slow watchers.
 * The agent is the config service over a real libp2p node with the real
 * admin API server, in this process; slow watchers are raw sockets that
 * stop reading after the first bytes.
 */
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import type { ServerResponse } from 'node:http'
import { connect as netConnect, type Socket } from 'node:net'
import pino from 'pino'
import FakeTimers from '@sinonjs/fake-timers'
import { ApiServer } from '../../daemon/api/server.js'
import { configRoutes } from '../../daemon/api/routes/config.js'
import { prng } from '../crdt/fixtures.js'
import { startAgent, stopAgent, until, type TestAgent } from '../protocols/config-sync/fixtures.js'
import { ConfigWatchers } from '../../protocols/config-sync/watch.js'
import { watchNamespace } from '../../daemon/cli/config.js'
import { ApiClient } from '../../daemon/cli/client.js'
import { exitCodeOf } from '../../daemon/cli/exit-codes.js'
import type { ChangeEvent } from '../../crdt/replica.js'

const SLOW = 40
const WRITES = 300
const MiB = 1024 * 1024

/** A watcher that takes the response headers and the snapshot, then never reads again. */
async function slowWatcher (port: number, path: string): Promise<Socket> {
  const socket = netConnect(port, '127.0.0.1')
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject)
    socket.once('data', () => { socket.pause(); resolve() })
    socket.write(`GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\naccept: text/event-stream\r\n\r\n`)
  })
  return socket
}

/** Everything a socket still has to give, until the server ends the stream. */
async function drain (socket: Socket): Promise<string> {
  const chunks: Buffer[] = []
  socket.on('data', (c: Buffer) => chunks.push(c))
  socket.resume()
  await new Promise<void>(resolve => {
    const check = (): void => { if (Buffer.concat(chunks).includes('\r\n0\r\n\r\n')) resolve() }
    socket.on('data', check)
    socket.once('close', () => { resolve() })
    socket.once('end', () => { resolve() })
  })
  return Buffer.concat(chunks).toString('utf8')
}

/** Server-sent events of a fetch response, as they come. */
async function readEvents (res: Response, onEvent: (event: string, data: unknown) => void): Promise<void> {
  const decoder = new TextDecoder()
  let buf = ''
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true })
    for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
      const block = buf.slice(0, end)
      buf = buf.slice(end + 2)
      const event = /^event: (.*)$/m.exec(block)?.[1]
      const data = /^data: (.*)$/m.exec(block)?.[1]
      if (event !== undefined && data !== undefined) onEvent(event, JSON.parse(data))
    }
  }
}

describe('config watch streams: bounded memory, slow watchers dropped', function () {
  this.timeout(180_000)
  let agent: TestAgent | undefined
  let server: ApiServer | undefined
  const sockets: Socket[] = []
  after(async () => {
    for (const s of sockets) s.destroy()
    await server?.stop()
    if (agent !== undefined) await stopAgent(agent)
  })

  it(`${SLOW} watchers that never read and ${WRITES} writes of 30-60 KB: memory stays bounded, a reading watcher gets every event`, async () => {
    agent = await startAgent(80, undefined, undefined, { maxWatchers: SLOW + 1, watchDropGraceMs: 60_000 })
    server = new ApiServer({ host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }) })
    server.add(...configRoutes(agent.svc))
    await server.start()
    const { port } = server.address()
    const base = `http://127.0.0.1:${port}`
    await agent.svc.write('app', 'before', 'in the snapshot')

    const reader = new AbortController()
    const seen: Array<{ key: string, bytes: number }> = []
    let snapshot: unknown
    const readerRes = await fetch(`${base}/v1/config/app?watch=1`, { signal: reader.signal })
    assert.equal(readerRes.status, 200)
    const reading = readEvents(readerRes, (event, data) => {
      const d = data as { key: string, value: string }
      if (event === 'snapshot') snapshot = data
      else if (event === 'set') seen.push({ key: d.key, bytes: d.value.length })
    }).catch(() => {})
    for (let i = 0; i < SLOW; i++) sockets.push(await slowWatcher(port, '/v1/config/app?watch=1'))
    await until(() => snapshot !== undefined)
    assert.deepEqual(snapshot, { namespace: 'app', entries: { before: 'in the snapshot' }, writers: { before: agent.peerId } })

    const rand = prng(5)
    const letters = 'abcdefghijklmnopqrstuvwxyz'
    const expected: Array<{ key: string, bytes: number }> = []
    const baseline = process.memoryUsage().rss
    let peak = baseline
    const sample = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss) }, 5)
    try {
      for (let i = 0; i < WRITES; i++) {
        const bytes = 30_000 + Math.floor(rand() * 30_000)
        const value = letters[i % 26].repeat(bytes)
        await agent.svc.write('app', `k${i % 10}`, value)
        expected.push({ key: `k${i % 10}`, bytes })
        peak = Math.max(peak, process.memoryUsage().rss)
      }
      await until(() => seen.length >= WRITES, 60_000)
    } finally {
      clearInterval(sample)
    }
    const growth = peak - baseline
    // The store itself holds every envelope (~14 MB here). Before the fix
    // each silent watcher could hold 8 MiB and their number was unbounded.
    assert.ok(growth < 150 * MiB, `RSS grew by ${Math.round(growth / MiB)} MiB`)
    assert.deepEqual(seen, expected, 'the reading watcher got every change, in order')

    // Every silent watcher was dropped, and is told so once it reads again.
    const drops = (await agent.svc.metrics.watchDrops.get()).values.find(v => v.labels.reason === 'slow')?.value
    assert.equal(drops, SLOW)
    const tail = await drain(sockets[0])
    assert.match(tail, /event: dropped\ndata: \{"reason":"slow","message":"this watcher fell too far behind[^\n]*watch again/)
    await until(() => agent?.svc.watchers.count === SLOW)

    // Over the cap: a clear refusal, counted.
    sockets.push(await slowWatcher(port, '/v1/config/app?watch=1'))
    await until(() => agent?.svc.watchers.count === SLOW + 1)
    const refused = await fetch(`${base}/v1/config/app?watch=1`)
    assert.equal(refused.status, 503)
    assert.match((await refused.json() as { error: string }).error, /config watch streams \(maxWatchers\)/)
    assert.equal((await agent.svc.metrics.watchRefusals.get()).values[0]?.value, 1)
    reader.abort()
    await reading
  })

  it('`mycel config watch` says why the agent ended its stream and exits non-zero', async () => {
    const a = await startAgent(81)
    const s = new ApiServer({ host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }) })
    s.add(...configRoutes(a.svc))
    await s.start()
    try {
      // The command's own function, in this process (cli-ux runs the real `mycel` process).
      let out = ''
      const watching = watchNamespace(new ApiClient(`127.0.0.1:${s.address().port}`), 'app', false, new AbortController().signal, text => { out += text })
      const ended = watching.then(() => undefined, (err: Error) => err)
      await until(() => out.includes('-- watching app'), 60_000)
      a.svc.watchers.closeAll()
      const err = await ended
      assert.ok(err !== undefined, 'the watch ends with an error')
      assert.equal(exitCodeOf(err), 1)
      assert.match(err.message, /^the agent at \S+ ended the watch of app: the agent is stopping$/)
      assert.equal((await a.svc.metrics.watchDrops.get()).values.find(v => v.labels.reason === 'stopping')?.value, 1)
    } finally {
      await s.stop()
      await stopAgent(a)
    }
  })
})

/** A response that takes everything written to it. */
class FakeResponse extends EventEmitter {
  readonly written: string[] = []
  destroyed = false
  writableNeedDrain = false
  writeHead (): this { return this }
  write (chunk: string): boolean { this.written.push(chunk); return true }
  end (chunk?: string): void { if (chunk !== undefined) this.written.push(chunk) }
  destroy (): void { this.destroyed = true; this.emit('close') }
}

describe('config watch streams: shared work', () => {
  it('one keep-alive timer and one serialisation per change serve every stream; no timer once none is open', async () => {
    const clock = FakeTimers.install({ toFake: ['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout'] })
    try {
      const listeners = new Set<(e: ChangeEvent) => void>()
      const source = { onChange: (l: (e: ChangeEvent) => void) => { listeners.add(l); return () => { listeners.delete(l) } }, entries: () => [] }
      const watchers = new ConfigWatchers(source, { maxWatchers: 8, watchBacklogBytes: 1024 * 1024, watchDropGraceMs: 10_000, watchKeepaliveMs: 15_000 }, { dropped: () => {}, refused: () => {} })
      const streams = ['app', 'app', 'other'].map(ns => {
        const res = new FakeResponse()
        const abort = new AbortController()
        const done = watchers.open(ns)(res as unknown as ServerResponse, abort.signal)
        return { res, abort, done }
      })
      await clock.tickAsync(0)
      assert.equal(clock.countTimers(), 1, 'one keep-alive timer for three streams')
      assert.equal(listeners.size, 1, 'one change listener for three streams')
      await clock.tickAsync(15_000)
      for (const { res } of streams) assert.equal(res.written.filter(c => c === ': keepalive\n\n').length, 1)
      for (const l of listeners) l({ ns: 'app', key: 'k', value: 1, deleted: false, writer: 'w' })
      const [a, b, other] = streams.map(x => x.res.written.at(-1))
      assert.equal(a, 'event: set\ndata: {"key":"k","value":1,"writer":"w"}\n\n')
      assert.equal(b, a)
      assert.equal(other, ': keepalive\n\n', 'another namespace sees nothing')
      for (const { abort } of streams) abort.abort()
      await Promise.all(streams.map(async x => { await x.done }))
      assert.equal(clock.countTimers(), 0)
      assert.equal(listeners.size, 0)
      assert.equal(watchers.count, 0)
    } finally {
      clock.uninstall()
    }
  })
})
