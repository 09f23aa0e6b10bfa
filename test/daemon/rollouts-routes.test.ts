/**
 * The rollouts admin routes (daemon/api/routes/rollouts.ts) over a real
 * operator and an in-memory replicated config: start answers 201 with the
 * id, refusals keep their status, the list is newest first, the controls
 * answer the decision or 409, and the agent's parts become network facts.
 */
import { callRoute } from '../helpers/route-call.js'
import { strict as assert } from 'node:assert'
import pino from 'pino'
import { networkFacts, rolloutRoutes } from '../../daemon/api/routes/rollouts.js'
import type { ApiRequest, Route } from '../../daemon/api/router.js'
import { RolloutOperator } from '../../managers/rollout/operator.js'
import { ROLLOUTS_NAMESPACE } from '../../managers/rollout/record.js'
import type { HealthReport } from '../../protocols/health/report.js'
import { component, MemoryConfig, network, release, releases } from '../managers/rollout/operator-fixtures.js'
import { logTracer, type FinishedSpan } from '../../wire/tracing.js'
import { formatTraceparent, newSpanId, newTraceId } from '../../wire/trace-context.js'

async function call (routes: Route[], method: string, path: string, params: Record<string, string> = {}, body?: unknown, query = ''): Promise<{ status: number, json: any }> {
  return await callRoute(routes, method, path, { params, body, query })
}

describe('rollouts admin routes', () => {
  let config: MemoryConfig
  let routes: Route[]
  let now: number

  beforeEach(() => {
    now = 1_000
    config = new MemoryConfig().deploy({ name: 'web', version: '1.0.0' }).deploy({ name: 'db', version: '1.0.0' })
    let n = 0
    routes = rolloutRoutes(new RolloutOperator({
      config,
      release: releases({ '2.0.0': release() }),
      probe: async () => true,
      network: () => network(),
      logger: pino({ level: 'silent' }),
      now: () => now,
      makeId: (c, to) => `${c}-${to}-${++n}`
    }))
  })

  it('start → 201 {id, rollout}; status by id and in the list, newest first; ?component= filters', async () => {
    const web = await call(routes, 'POST', '/v1/rollouts', {}, { component: 'web', version: '2.0.0', canary: 1 })
    assert.equal(web.status, 201)
    assert.equal(web.json.id, 'web-2.0.0-1')
    assert.equal(web.json.rollout.from, '1.0.0')
    now = 2_000
    const db = await call(routes, 'POST', '/v1/rollouts', {}, { component: 'db', version: '2.0.0' })
    assert.equal(db.status, 201)
    assert.deepEqual((await call(routes, 'GET', '/v1/rollouts')).json.rollouts.map((v: any) => v.id), ['db-2.0.0-2', 'web-2.0.0-1'])
    assert.deepEqual((await call(routes, 'GET', '/v1/rollouts', {}, undefined, 'component=web')).json.rollouts.map((v: any) => v.id), ['web-2.0.0-1'])
    const one = await call(routes, 'GET', '/v1/rollouts/:id', { id: 'web-2.0.0-1' })
    assert.equal(one.status, 200)
    assert.equal(one.json.state, 'running')
    assert.deepEqual(one.json.regions.map((r: any) => r.state), ['pending', 'pending'])
  })

  it('a start continues the caller\'s traceparent: the record carries its span, the answer names the trace; a refused start records an error span', async () => {
    const spans: FinishedSpan[] = []
    const traced = rolloutRoutes(new RolloutOperator({
      config, release: releases({ '2.0.0': release() }), probe: async () => true, network: () => network(), logger: pino({ level: 'silent' }),
      tracer: logTracer(pino({ level: 'silent' }), [s => { spans.push(s) }]), makeId: (c, to) => `${c}-${to}-t`
    }))
    const post = traced.find(r => r.method === 'POST' && r.path === '/v1/rollouts') as Route
    const caller = { traceId: newTraceId(), spanId: newSpanId() }
    const req = (body: unknown): ApiRequest => ({ method: 'POST', params: {}, query: new URLSearchParams(), body, signal: new AbortController().signal, raw: { headers: { traceparent: formatTraceparent({ ...caller, flags: '01' }) } } } as unknown as ApiRequest)
    const out = await post.handler(req({ component: 'web', version: '2.0.0' })) as { status: number, json: any, headers: Record<string, string> }
    assert.equal(out.status, 201)
    assert.equal(out.json.trace, caller.traceId)
    assert.equal(out.headers['x-trace-id'], caller.traceId)
    const [span] = spans
    assert.deepEqual([span?.name, span?.hop, span?.parentSpanId, span?.attrs.rollout], ['rollout', 'applied', caller.spanId, 'web-2.0.0-t'])
    const tp = formatTraceparent({ traceId: caller.traceId, spanId: span?.spanId ?? '', flags: '01' })
    assert.equal(out.headers.traceresponse, tp)
    assert.equal((config.get(ROLLOUTS_NAMESPACE, 'web-2.0.0-t')?.value as { tc?: string }).tc, tp, 'the record carries the start\'s span')
    await assert.rejects(async () => await post.handler(req({ component: 'web', version: '2.0.0' })), { name: 'RolloutOpenError' })
    assert.ok(spans[1]?.error !== undefined, 'a refused start is an error span')
  })

  it('refusals keep their status and write nothing: 400 body, 422 knobs, 404 deployment or id, 409 open rollout', async () => {
    assert.equal((await call(routes, 'POST', '/v1/rollouts', {}, [1])).status, 400)
    assert.equal((await call(routes, 'POST', '/v1/rollouts', {}, { component: 'web', version: '2.0.0', canary: -1 })).status, 422)
    assert.equal((await call(routes, 'POST', '/v1/rollouts', {}, { component: 'api', version: '2.0.0' })).status, 404)
    assert.equal((await call(routes, 'POST', '/v1/rollouts', {}, { component: 'web', version: '3.0.0' })).status, 404, 'unknown release')
    assert.equal((await call(routes, 'GET', '/v1/rollouts/:id', { id: 'nope' })).status, 404)
    assert.equal((await call(routes, 'POST', '/v1/rollouts/:id/pause', { id: 'nope' })).status, 404)
    assert.equal((await call(routes, 'GET', '/v1/rollouts', {}, undefined, 'component=Not%20A%20Name')).status, 400)
    assert.equal(config.writes.length, 0)
    await call(routes, 'POST', '/v1/rollouts', {}, { component: 'web', version: '2.0.0' })
    const second = await call(routes, 'POST', '/v1/rollouts', {}, { component: 'web', version: '2.0.0' })
    assert.equal(second.status, 409)
    assert.match(second.json.error, /web-2\.0\.0-1 .* refused, not queued/)
    assert.equal(config.writes.length, 1)
  })

  it('controls write the record back and answer the decision; one that does not apply is 409 with the state', async () => {
    await call(routes, 'POST', '/v1/rollouts', {}, { component: 'web', version: '2.0.0' })
    const id = { id: 'web-2.0.0-1' }
    const paused = await call(routes, 'POST', '/v1/rollouts/:id/pause', id)
    assert.deepEqual([paused.status, paused.json.verb, paused.json.previous, paused.json.rollout.state], [200, 'pause', 'running', 'paused'])
    const again = await call(routes, 'POST', '/v1/rollouts/:id/pause', id)
    assert.equal(again.status, 409)
    assert.match(again.json.error, /is paused/)
    assert.equal((await call(routes, 'POST', '/v1/rollouts/:id/promote', id)).status, 409)
    assert.equal((await call(routes, 'POST', '/v1/rollouts/:id/resume', id)).json.rollout.state, 'running')
    assert.equal((await call(routes, 'POST', '/v1/rollouts/:id/rollback', id)).json.rollout.state, 'rolled-back')
    assert.equal((await call(routes, 'POST', '/v1/rollouts/:id/abort', id)).status, 409)
    const stored = config.get(ROLLOUTS_NAMESPACE, 'web-2.0.0-1')?.value as any
    assert.equal(stored.control.state, 'rollback')
    assert.equal(config.writes.length, 4, 'start, pause, resume, rollback')
  })

  it('network facts: members from membership, reports from health, this node\'s own components live from its host', () => {
    const report = (peerId: string, components: HealthReport['components']): { report: HealthReport, stale: boolean } => ({
      report: { peerId, version: '0.5.0', labels: {}, components } as unknown as HealthReport, stale: false
    })
    const stub = networkFacts({
      membership: { members: () => network().members.map(m => ({ ...m, incarnation: 0, roles: [], addrs: [], lastSeen: 0 })) },
      // The own report is a tick old: the host's live list wins.
      health: { reports: () => [report('eu-1', [component('web', '1.0.0')]), report('eu-2', [component('web', '1.0.0')])] },
      host: { report: () => [component('web', '2.0.0')] },
      self: 'eu-1',
      labels: { disk: 'ssd' }
    })
    assert.deepEqual(stub.members.map(m => m.peerId), network().members.map(m => m.peerId))
    assert.equal(stub.reports.get('eu-1')?.components?.[0]?.version, '2.0.0')
    assert.deepEqual(stub.reports.get('eu-1')?.labels, { disk: 'ssd' })
    assert.equal(stub.reports.get('eu-2')?.components?.[0]?.version, '1.0.0')
    assert.equal(stub.reports.has('us-1'), false)
  })
})
