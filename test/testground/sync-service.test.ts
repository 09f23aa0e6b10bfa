import { strict as assert } from 'node:assert'
import { WebSocket } from 'ws'
import { createRequire } from 'node:module'
import sdk from '@testground/sdk'
import { SyncService, runPrefix, stateKey, topicKey, eventsKey } from '../../testground/runner/sync-service.js'

/* The unmodified sdk client is used throughout: these tests are about wire compatibility. */

const silent = { debug () {}, info () {}, warn () {}, error () {} }

const require = createRequire(import.meta.url)
const { parseRunParams } = require('@testground/sdk/src/runtime/params.js')

/**
 * A RunEnv built from the sdk's own parameter parser, with a silent logger (the sdk's newRunEnv makes a
 * winston logger that writes a file named ./stdout).
 */
function runParams (over: Record<string, string> = {}): any {
  const env: Record<string, string> = {
    TEST_PLAN: 'p', TEST_CASE: 'c', TEST_RUN: 'r1', TEST_GROUP_ID: 'g', TEST_INSTANCE_COUNT: '3',
    TEST_GROUP_INSTANCE_COUNT: '3', TEST_SUBNET: '16.0.0.0/16', TEST_SIDECAR: 'true', ...over
  }
  const params = parseRunParams(env)
  return { ...params, runParams: params, logger: silent, recordMessage () {} }
}

describe('testground sync service vs @testground/sdk', function () {
  this.timeout(20_000)
  let svc: SyncService
  let port: number
  const clients: any[] = []

  async function client (over: Record<string, string> = {}): Promise<any> {
    process.env.SYNC_SERVICE_HOST = '127.0.0.1'
    process.env.SYNC_SERVICE_PORT = String(port)
    const runenv = runParams(over)
    const c = await sdk.sync.newBoundClient(runenv)
    clients.push(c)
    return c
  }

  beforeEach(async () => {
    svc = new SyncService()
    port = await svc.listen('127.0.0.1', 0)
  })
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close()
    await svc.close()
    delete process.env.SYNC_SERVICE_HOST
    delete process.env.SYNC_SERVICE_PORT
  })

  it('signalEntry returns increasing seqs and barrier waits for the target', async () => {
    const [a, b, c] = [await client(), await client(), await client()]
    assert.equal(await a.signalEntry('ready'), 1)
    let released = false
    const bar = await a.barrier('ready', 3)
    const waiting = bar.wait.then(() => { released = true })
    assert.equal(await b.signalEntry('ready'), 2)
    await new Promise(resolve => setTimeout(resolve, 50))
    assert.equal(released, false)
    assert.equal(await c.signalEntry('ready'), 3)
    await waiting
    assert.equal(svc.count(stateKey(runPrefix('r1', 'p', 'c'), 'ready')), 3)
    // an already reached barrier answers at once
    await (await b.barrier('ready', 2)).wait
  })

  it('signalAndWait across clients', async () => {
    const cs = [await client(), await client(), await client()]
    const seqs = await Promise.all(cs.map(c => c.signalAndWait('all', 3)))
    assert.deepEqual([...seqs].sort(), [1, 2, 3])
  })

  it('publish/subscribe replays earlier messages in order and delivers later ones', async () => {
    const a = await client()
    const b = await client()
    assert.equal(await a.publish('addrs', { addr: 'x', n: 1 }), 1)
    assert.equal(await a.publish('addrs', 'plain string'), 2)
    const sub = await b.subscribe('addrs')
    const got: unknown[] = []
    const done = (async () => {
      for await (const m of sub.wait) {
        got.push(m)
        if (got.length === 3) break
      }
    })()
    await a.publish('addrs', [1, 2, 3])
    await done
    sub.cancel()
    assert.deepEqual(got, [{ addr: 'x', n: 1 }, 'plain string', [1, 2, 3]])
  })

  it('scopes keys by run, plan and case like testground', async () => {
    const a = await client()
    await a.publish('t', 1)
    await a.signalEntry('s')
    const prefix = runPrefix('r1', 'p', 'c')
    const seen: string[] = []
    const unsub = svc.subscribe(topicKey(prefix, 't'), j => seen.push(j))
    unsub()
    assert.deepEqual(seen, ['1'])
    assert.equal(svc.count(stateKey(prefix, 's')), 1)
    // another run does not see it
    const other = await client({ TEST_RUN: 'r2' })
    assert.equal(await other.signalEntry('s'), 1)
  })

  it('carries run events (signalEvent) to in-process subscribers', async () => {
    const a = await client()
    const events: unknown[] = []
    svc.subscribe(eventsKey(runPrefix('r1', 'p', 'c')), j => events.push(JSON.parse(j)))
    await a.signalEvent({ success_event: { group: 'g' } })
    assert.deepEqual(events, [{ success_event: { group: 'g' } }])
  })

  it('network client: waitNetworkInitialized and configureNetwork round trip through a sidecar', async () => {
    const a = await client()
    const runenv = runParams({ TEST_INSTANCE_COUNT: '1' })
    const prefix = runPrefix('r1', 'p', 'c')
    const net = sdk.network.newClient(a, runenv)
    const configs: any[] = []
    // a minimal sidecar: signal network-initialized, answer config requests with the callback state
    const { hostname } = await import('node:os')
    svc.signalEntry(stateKey(prefix, 'network-initialized'))
    svc.subscribe(topicKey(prefix, `network:${hostname()}`), j => {
      const cfg = JSON.parse(j)
      configs.push(cfg)
      svc.signalEntry(stateKey(prefix, cfg.callback_state))
    })
    await net.waitNetworkInitialized()
    await net.configureNetwork({
      network: 'default', enable: true, callbackState: 'cfg-1', routingPolicy: 'allow_all',
      default: { latency: 0, bandwidth: 1 << 20 }, rules: [{ subnet: '16.0.1.0/24', filter: 2 }]
    } as any)
    assert.equal(configs.length, 1)
    assert.equal(configs[0].callback_state, 'cfg-1')
    assert.equal(configs[0].routing_policy, 'allow_all')
    assert.deepEqual(configs[0].rules, [{ subnet: '16.0.1.0/24', filter: 2 }])
  })

  it('answers every request with all response fields and survives garbage', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`)
    await new Promise(resolve => ws.once('open', resolve))
    const replies: any[] = []
    ws.on('message', d => replies.push(JSON.parse(d.toString())))
    ws.send('not json')
    ws.send(Buffer.from([0xff, 0x00, 0x13]))
    ws.send(JSON.stringify([1, 2]))
    ws.send(JSON.stringify({ id: '7', barrier: { state: 's', target: -1 } }))
    ws.send(JSON.stringify({ id: '8', publish: { topic: 't', payload: { a: 1 } } }))
    ws.send(JSON.stringify({ id: '9', signal_entry: { state: 's' } }))
    ws.send(JSON.stringify({ id: '10' }))
    for (let i = 0; i < 100 && replies.length < 4; i++) await new Promise(resolve => setTimeout(resolve, 10))
    ws.close()
    assert.equal(replies.length, 4)
    for (const r of replies) assert.deepEqual(Object.keys(r).sort(), ['error', 'id', 'publish', 'signal_entry', 'subscribe'])
    const byId = Object.fromEntries(replies.map(r => [r.id, r]))
    assert.match(byId['7'].error, /target/)
    assert.deepEqual(byId['8'], { id: '8', error: '', publish: { seq: 1 }, subscribe: '', signal_entry: null })
    assert.deepEqual(byId['9'].signal_entry, { seq: 1 })
    assert.match(byId['10'].error, /none of/)
    assert.ok(svc.getStats().malformed >= 5)
  })
})
