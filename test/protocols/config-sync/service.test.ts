/**
 * The config service over an in-memory network (libp2p stream objects and a
 * flooding pubsub, no sockets), with a scripted membership in place of SWIM.
 */
import assert from 'node:assert/strict'
import pino from 'pino'
import { ApiServer } from '../../../daemon/api/server.js'
import { Router } from '../../../daemon/api/router.js'
import { configRoutes } from '../../../daemon/api/routes/config.js'
import { SYNC_PROTOCOL } from '../../../protocols/config-sync/index.js'
import { request } from '../../../wire/rpc.js'
import { identity, prng } from '../../crdt/fixtures.js'
import { connect, startAgent, stopAgent, until, type TestAgent } from './fixtures.js'

describe('config-sync service (in-memory network)', function () {
  this.timeout(60_000)
  const agents: TestAgent[] = []
  afterEach(async () => { for (const a of agents.splice(0)) await stopAgent(a) })

  it('gossips a write to every node and records acknowledgements with waitFor', async () => {
    for (let i = 0; i < 3; i++) agents.push(await startAgent(20 + i))
    await connect(agents)
    await until(() => agents.every(a => a.host.pubsub.getSubscribers('mycel/config/1').length === 2))
    const r = await agents[0].svc.write('app', 'greeting', { text: 'hello' })
    assert.equal(r.envelope?.seq, 1)
    await until(() => agents.every(a => a.svc.get('app', 'greeting') !== undefined))
    assert.equal(agents[2].svc.get('app', 'greeting')?.writer, agents[0].peerId)
    const acked = await agents[1].svc.write('app', 'greeting', 'again', { waitFor: 2, timeoutMs: 10_000 })
    assert.equal(acked.acked.length, 2)
    await assert.rejects(agents[1].svc.write('app', 'k', 1, { waitFor: 5, timeoutMs: 300 }), { name: 'AckTimeoutError' })
    const metrics = await agents[2].registry.getSingleMetricAsString('mycel_config_envelopes_total')
    assert.match(metrics, /result="applied"/)
  })

  it('a late joiner catches up through anti-entropy, in bounded batches', async () => {
    // Small pulls and frames: the catch-up must take several of them.
    agents.push(await startAgent(30, undefined, undefined, { pullMaxEnvelopes: 50, batchMaxEnvelopes: 16 }))
    for (let i = 0; i < 300; i++) await agents[0].svc.write('bulk', `k${i}`, { i })
    const late = await startAgent(31)
    agents.push(late)
    await connect(agents)
    late.membership.join(agents[0].peerId)
    await until(() => late.svc.entries('bulk').length === 300)
    assert.deepEqual(late.svc.entries('bulk'), agents[0].svc.entries('bulk'))
    await until(() => late.svc.store.durableVersionVector().bulk?.[agents[0].peerId] === 300)
    const served = (await agents[0].svc.metrics.rounds.get()).values.find(v => v.labels.role === 'responder' && v.labels.result === 'ok')
    assert.ok((served?.value ?? 0) >= 6, `only ${served?.value} pulls served`)
  })

  it('starts rounds with ring subjects only: periodic rounds, and at once with a subject that joins', async () => {
    // Rounds with members outside the rings would each cost a handshake, and
    // rounds toward the members that probe us would dial a link they dial
    // too (service.ts, `partner`).
    const served = async (a: TestAgent): Promise<number> =>
      (await a.svc.metrics.rounds.get()).values.find(v => v.labels.role === 'responder' && v.labels.result === 'ok')?.value ?? 0
    const fast = await startAgent(70, undefined, undefined, { antiEntropyIntervalMs: 20 })
    const subject = await startAgent(71)
    const other = await startAgent(72)
    agents.push(fast, subject, other)
    await connect(agents)
    fast.membership.probes = new Set([subject.peerId])
    await until(async () => await served(subject) >= 20)
    assert.equal(await served(other), 0, 'a periodic round went to a member this node does not probe')

    // Event-triggered rounds: `f` joins first and is not a subject; `e` is.
    const d = await startAgent(73)
    const e = await startAgent(74)
    const f = await startAgent(75)
    agents.push(d, e, f)
    await connect([d, e, f])
    d.membership.probes = new Set([e.peerId])
    d.membership.join(f.peerId)
    d.membership.join(e.peerId)
    await until(async () => await served(e) >= 1)
    d.membership.join(e.peerId)
    await until(async () => await served(e) >= 2)
    assert.equal(await served(f), 0, 'a joining member this node does not probe was synced at once')
    d.membership.probes.add(f.peerId)
    d.membership.join(f.peerId)
    await until(async () => await served(f) >= 1)
  })

  it('pushes its own writes to a peer that missed the gossip, and survives garbage on the sync protocol', async () => {
    const a = await startAgent(40)
    const b = await startAgent(41)
    agents.push(a, b)
    await a.svc.write('app', 'offline-write', 42) // no peers yet: gossip goes nowhere
    await connect(agents)
    const rand = prng(3)
    for (let i = 0; i < 50; i++) {
      const junk = new Uint8Array(Math.floor(rand() * 200)).map(() => Math.floor(rand() * 256))
      await request(a.host, b.host.peerId, SYNC_PROTOCOL, junk, { timeoutMs: 2_000, maxBytes: 1 << 20 }).catch(() => {})
    }
    await a.svc.syncWith(b.peerId)
    assert.equal(b.svc.get('app', 'offline-write')?.value, 42)
    assert.deepEqual(a.svc.acks.ackedBy('app', a.peerId, 1), [b.peerId])
  })

  it('serves the admin API routes with clear errors', async () => {
    const id0 = await identity(50)
    const a = await startAgent(50, { locked: { writers: [id0.peerId] }, typed: { schema: { type: 'integer' } } })
    agents.push(a)
    const router = new Router()
    router.add(...configRoutes(a.svc))
    const call = async (method: string, path: string, body?: unknown, query = ''): Promise<unknown> => {
      const m = router.match(method, path)
      assert.ok(m !== undefined && m !== 'method', `${method} ${path}`)
      const out = await m.route.handler({ method: method as 'GET', params: m.params, query: new URLSearchParams(query), body, signal: new AbortController().signal, raw: undefined as never })
      return 'json' in out ? out.json : out
    }
    assert.deepEqual(await call('PUT', '/v1/config/typed/n', { value: 5 }), { namespace: 'typed', key: 'n', writer: a.peerId, seq: 1, acked: [] })
    await assert.rejects(call('PUT', '/v1/config/typed/n', { value: 'five' }), (e: { status: number }) => e.status === 422)
    await assert.rejects(call('PUT', '/v1/config/typed/n', { nope: 1 }), (e: { status: number }) => e.status === 400)
    await assert.rejects(call('PUT', '/v1/config/BAD/n', { value: 1 }), (e: { status: number }) => e.status === 400)
    await assert.rejects(call('GET', '/v1/config/typed/missing'), (e: { status: number }) => e.status === 404)
    assert.deepEqual(await call('GET', '/v1/config/typed/n'), { namespace: 'typed', key: 'n', value: 5, writer: a.peerId })
    assert.deepEqual(await call('GET', '/v1/config/typed'), { namespace: 'typed', entries: { n: 5 }, writers: { n: a.peerId } })
    assert.equal((await call('DELETE', '/v1/config/typed/n') as { deleted: boolean }).deleted, true)
    assert.equal((await call('DELETE', '/v1/config/typed/n') as { deleted: boolean }).deleted, false)
    await assert.rejects(call('PUT', '/v1/config/typed/n', { value: 1 }, 'waitFor=x'), (e: { status: number }) => e.status === 400)
  })

  it('restarts from its log with every acknowledged write', async () => {
    const a = await startAgent(60)
    for (let i = 0; i < 20; i++) await a.svc.write('app', `k${i % 7}`, i)
    const before = a.svc.entries('app')
    await stopAgent(a, true)
    const again = await startAgent(60, undefined, a.dir)
    agents.push(again)
    assert.deepEqual(again.svc.entries('app'), before)
    assert.equal((await again.svc.write('app', 'next', true)).envelope?.seq, 21)
  })

  it('over HTTP: the reported poison values get a clear 4xx, odd but valid ones replicate identically, later writes still arrive', async () => {
    const a = await startAgent(90)
    const b = await startAgent(91)
    agents.push(a, b)
    await connect(agents)
    await until(() => agents.every(x => x.host.pubsub.getSubscribers('mycel/config/1').length === 1))
    const servers: ApiServer[] = []
    const api = async (x: TestAgent): Promise<string> => {
      const s = new ApiServer({ host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }) })
      s.add(...configRoutes(x.svc))
      await s.start()
      servers.push(s)
      return `http://127.0.0.1:${s.address().port}`
    }
    try {
      const baseA = await api(a)
      const baseB = await api(b)
      // Raw JSON text, exactly as the report sent it.
      const put = async (path: string, body: string): Promise<{ status: number, json: { error?: string, acked?: string[] } }> => {
        const res = await fetch(`${baseA}${path}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body })
        return { status: res.status, json: await res.json() as { error?: string } }
      }
      const evil = await put('/v1/config/app/evil', '{"value":{"__proto__":{"x":1}}}')
      assert.equal(evil.status, 422)
      assert.match(evil.json.error ?? '', /"__proto__"/)
      const lone = await put('/v1/config/app/surrogate', '{"value":"\\ud800"}')
      assert.equal(lone.status, 422)
      assert.match(lone.json.error ?? '', /lone UTF-16 surrogate \(U\+D800\)/)
      assert.equal((await put('/v1/config/app/%ED%A0%80', '{"value":1}')).status, 400, 'a key that is not UTF-8')
      assert.equal((await put('/v1/config/app/ctor', '{"value":{"constructor":1}}')).status, 200)
      assert.equal((await put('/v1/config/app/__proto__', '{"value":{"prototype":[-0]}}')).status, 200)
      const after = await put('/v1/config/app/after?waitFor=1&timeoutMs=20000', '{"value":"arrives"}')
      assert.equal(after.status, 200, after.json.error)
      assert.deepEqual(after.json.acked, [b.peerId])
      const listA = await (await fetch(`${baseA}/v1/config/app`)).text()
      const listB = await (await fetch(`${baseB}/v1/config/app`)).text()
      assert.equal(listB, listA)
      assert.deepEqual(JSON.parse(listA).entries, JSON.parse('{"__proto__":{"prototype":[0]},"after":"arrives","ctor":{"constructor":1}}'))
      assert.deepEqual(await (await fetch(`${baseB}/v1/config/app/ctor`)).json(), { namespace: 'app', key: 'ctor', value: { constructor: 1 }, writer: a.peerId })
      // A restart of the writer reads back the same.
      for (const s of servers.splice(0)) await s.stop()
      await stopAgent(a, true)
      agents.splice(agents.indexOf(a), 1)
      const again = await startAgent(90, undefined, a.dir)
      agents.push(again)
      const listAgain = await (await fetch(`${await api(again)}/v1/config/app`)).text()
      assert.equal(listAgain, listA)
    } finally {
      for (const s of servers) await s.stop()
    }
  })
})
