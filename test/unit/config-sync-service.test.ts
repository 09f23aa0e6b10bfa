/**
 * The config service over real libp2p nodes in one process (real streams,
 * real gossipsub), with a scripted membership in place of SWIM.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { Registry } from 'prom-client'
import { createNode, type MycelNode } from '../../daemon/node.js'
import { LIBP2P_PROFILES } from '../../daemon/profiles.js'
import { Router } from '../../daemon/api/router.js'
import type { Member, Membership } from '../../protocols/membership/types.js'
import { configService, configSyncConfig, SYNC_PROTOCOL, type ConfigService, type ConfigSyncConfig } from '../../protocols/config-sync/index.js'
import { request } from '../../protocols/wire/rpc.js'
import { identity, prng } from './crdt-fixtures.js'

/** Membership whose alive set the test decides. */
class ScriptedMembership extends EventTarget {
  alive = new Set<string>()
  constructor (readonly selfId: string) { super() }
  self (): Member { return this.member(this.selfId) }
  members (): Member[] { return [...this.alive].map(p => this.member(p)) }
  get (p: string): Member | undefined { return this.alive.has(p) ? this.member(p) : undefined }
  alivePeers (): Member[] { return this.members() }
  randomAlive (n: number, filter?: (m: Member) => boolean): Member[] {
    return this.members().filter(m => filter === undefined || filter(m)).sort(() => Math.random() - 0.5).slice(0, n)
  }
  join (p: string): void { this.alive.add(p); this.dispatchEvent(new CustomEvent('member:join', { detail: this.member(p) })) }
  member (peerId: string): Member { return { peerId, state: 'alive', incarnation: 0, region: 'r', roles: [], addrs: [], version: 't', lastSeen: Date.now() } }
  updateSelf (): void {}
  async leave (): Promise<void> {}
  start (): void {}
  stop (): void {}
}

interface TestAgent { node: MycelNode, svc: ConfigService, membership: ScriptedMembership, peerId: string, dir: string, registry: Registry }

async function until (cond: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}

const logger = pino({ level: 'silent' })

async function startAgent (n: number, namespaces?: unknown, dir?: string, overrides: Partial<ConfigSyncConfig> = {}): Promise<TestAgent> {
  const id = await identity(n)
  const node = await createNode({ privateKey: id.privateKey, listen: ['/ip4/127.0.0.1/tcp/0'], profile: LIBP2P_PROFILES.test })
  await node.start()
  const membership = new ScriptedMembership(id.peerId)
  const registry = new Registry()
  dir = dir ?? mkdtempSync(join(tmpdir(), 'mycel-cfgsvc-'))
  const svc = configService({ config: configSyncConfig('test', { antiEntropyIntervalMs: 60_000, ...overrides }), namespaces: namespaces as never })({
    node, peerId: id.peerId, privateKey: id.privateKey, dataDir: dir, logger, registry, membership: membership as unknown as Membership
  })
  await svc.start()
  return { node, svc, membership, peerId: id.peerId, dir, registry }
}

async function connect (agents: TestAgent[]): Promise<void> {
  for (const a of agents) {
    for (const b of agents) {
      if (a === b) continue
      if (a.peerId < b.peerId) await a.node.dial(b.node.getMultiaddrs()[0])
      a.membership.alive.add(b.peerId)
    }
  }
}

async function stopAgent (a: TestAgent, keepDir = false): Promise<void> {
  await a.svc.stop()
  await a.svc.stop()
  await a.node.stop()
  if (!keepDir) rmSync(a.dir, { recursive: true, force: true })
}

describe('config-sync service (in-process libp2p)', function () {
  this.timeout(60_000)
  const agents: TestAgent[] = []
  afterEach(async () => { for (const a of agents.splice(0)) await stopAgent(a) })

  it('gossips a write to every node and records acknowledgements with waitFor', async () => {
    for (let i = 0; i < 3; i++) agents.push(await startAgent(20 + i))
    await connect(agents)
    await until(() => agents.every(a => a.node.services.pubsub.getSubscribers('mycel/config/1').length === 2))
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

  it('pushes its own writes to a peer that missed the gossip, and survives garbage on the sync protocol', async () => {
    const a = await startAgent(40)
    const b = await startAgent(41)
    agents.push(a, b)
    await a.svc.write('app', 'offline-write', 42) // no peers yet: gossip goes nowhere
    await connect(agents)
    const rand = prng(3)
    for (let i = 0; i < 50; i++) {
      const junk = new Uint8Array(Math.floor(rand() * 200)).map(() => Math.floor(rand() * 256))
      await request(a.node, b.node.peerId, SYNC_PROTOCOL, junk, { timeoutMs: 2_000, maxBytes: 1 << 20 }).catch(() => {})
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
    router.add(...a.svc.routes())
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
})
