/**
 * Trace context of config writes (docs/tracing.md): the writer's span is
 * signed into the envelope, and every receiver's spans, by gossip or by
 * anti-entropy, are children of it in the same trace.
 */
import assert from 'node:assert/strict'
import pino from 'pino'
import { logTracer, type FinishedSpan, type Tracer } from '../../../wire/tracing.js'
import { formatTraceparent, newSpanId, newTraceId } from '../../../wire/trace-context.js'
import { CONFIG_WRITE_SPAN, EnvelopeSpans } from '../../../protocols/config-sync/tracing.js'
import type { Envelope } from '../../../crdt/envelope.js'
import { ApiServer } from '../../../daemon/api/server.js'
import { configRoutes } from '../../../daemon/api/routes/config.js'
import { connect, startAgent, stopAgent, until, type TestAgent } from './fixtures.js'

const silent = pino({ level: 'silent' })

/** A tracer per agent whose finished spans the test reads. */
function recording (): { tracer: Tracer, spans: FinishedSpan[] } {
  const spans: FinishedSpan[] = []
  return { tracer: logTracer(silent, [s => { spans.push(s) }]), spans }
}

describe('config-sync trace context', function () {
  this.timeout(30_000)
  const agents: TestAgent[] = []
  afterEach(async () => { for (const a of agents.splice(0)) await stopAgent(a) })

  it('a traced write continues the caller\'s trace; every receiver records received and applied as its children', async () => {
    const recs = [recording(), recording(), recording()]
    for (let i = 0; i < 3; i++) agents.push(await startAgent(60 + i, undefined, undefined, {}, { tracer: recs[i]?.tracer }))
    await connect(agents)
    await until(() => agents.every(a => a.host.pubsub.getSubscribers('mycel/config/1').length === 2))
    const caller = { traceId: newTraceId(), spanId: newSpanId() }
    const r = await agents[0].svc.write('app', 'port', 8080, { trace: { parent: formatTraceparent({ ...caller, flags: '01' }) } })
    assert.equal(r.trace?.traceId, caller.traceId)
    const [writer] = recs[0].spans
    assert.ok(writer !== undefined)
    assert.deepEqual([writer.name, writer.hop, writer.traceId, writer.parentSpanId], [CONFIG_WRITE_SPAN, 'applied', caller.traceId, caller.spanId])
    assert.equal(writer.attrs.seq, 1)
    // The envelope carries the writer's span, under its signature.
    assert.equal(r.envelope?.tc, r.trace?.traceparent)
    assert.equal(r.trace?.traceparent, formatTraceparent({ traceId: caller.traceId, spanId: writer.spanId, flags: '01' }))
    for (const rec of recs.slice(1)) {
      await until(() => rec.spans.some(s => s.hop === 'applied'))
      const received = rec.spans.find(s => s.hop === 'received')
      const applied = rec.spans.find(s => s.hop === 'applied')
      assert.ok(received !== undefined && applied !== undefined)
      assert.equal(received.traceId, caller.traceId)
      assert.equal(received.parentSpanId, writer.spanId)
      assert.equal(received.attrs.origin, 'gossip')
      assert.equal(applied.traceId, caller.traceId)
      assert.equal(applied.parentSpanId, received.spanId)
      assert.equal(applied.error, undefined)
    }
  })

  it('a late joiner that gets the envelope by anti-entropy records its hops too (origin sync)', async () => {
    const w = recording()
    const late = recording()
    agents.push(await startAgent(70, undefined, undefined, {}, { tracer: w.tracer }))
    const r = await agents[0].svc.write('app', 'mode', 'blue', { trace: {} })
    const joiner = await startAgent(71, undefined, undefined, {}, { tracer: late.tracer })
    agents.push(joiner)
    await connect(agents)
    joiner.membership.join(agents[0].peerId)
    await until(() => late.spans.some(s => s.hop === 'applied'))
    const received = late.spans.find(s => s.hop === 'received')
    assert.equal(received?.traceId, r.trace?.traceId)
    assert.equal(received?.parentSpanId, w.spans[0]?.spanId)
    assert.equal(received?.attrs.origin, 'sync')
  })

  it('history a node catches up on (older than traceMaxAgeMs) records no spans', async () => {
    const w = recording()
    const late = recording()
    agents.push(await startAgent(75, undefined, undefined, {}, { tracer: w.tracer }))
    await agents[0].svc.write('app', 'old', 1, { trace: {} })
    await new Promise(resolve => setTimeout(resolve, 30))
    const joiner = await startAgent(76, undefined, undefined, { traceMaxAgeMs: 10 }, { tracer: late.tracer })
    agents.push(joiner)
    await connect(agents)
    joiner.membership.join(agents[0].peerId)
    await until(() => joiner.svc.get('app', 'old') !== undefined)
    assert.deepEqual(late.spans, [])
  })

  it('applied spans still open are bounded: the oldest ends as not applied; stop ends the rest', () => {
    const spans: FinishedSpan[] = []
    const es = new EnvelopeSpans(logTracer(silent, [s => { spans.push(s) }]), 60_000, 2)
    const tc = formatTraceparent({ traceId: newTraceId(), spanId: newSpanId(), flags: '01' })
    const env = (seq: number): Envelope => ({ v: 1, writer: 'w', seq, ns: 'app', update: new Uint8Array(), time: Date.now(), tc, sig: new Uint8Array(64) })
    for (const seq of [1, 2, 3]) es.received(env(seq), 'gossip')
    const ended = spans.filter(s => s.hop === 'applied')
    assert.deepEqual(ended.map(s => [s.attrs.seq, s.error]), [[1, 'not applied: too many envelopes waiting']])
    es.applied(env(3))
    es.applied(env(3))
    es.close()
    assert.deepEqual(spans.filter(s => s.hop === 'applied').map(s => [s.attrs.seq, s.error]), [
      [1, 'not applied: too many envelopes waiting'], [3, undefined], [2, 'not applied before the service stopped']
    ])
  })

  it('a bad caller traceparent starts a new trace; an untraced write carries no tc and records nothing', async () => {
    const rec = recording()
    const other = recording()
    agents.push(await startAgent(80, undefined, undefined, {}, { tracer: rec.tracer }), await startAgent(81, undefined, undefined, {}, { tracer: other.tracer }))
    await connect(agents)
    await until(() => agents.every(a => a.host.pubsub.getSubscribers('mycel/config/1').length === 1))
    for (const bad of ['', 'garbage', '00-00000000000000000000000000000000-0000000000000001-01', 'ff-' + 'a'.repeat(32) + '-' + 'b'.repeat(16) + '-01', 'x'.repeat(10_000)]) {
      const r = await agents[0].svc.write('app', 'k', bad.length, { trace: { parent: bad } })
      assert.match(r.trace?.traceId ?? '', /^[0-9a-f]{32}$/)
      assert.equal(rec.spans.at(-1)?.parentSpanId, undefined, `a new trace for ${JSON.stringify(bad.slice(0, 20))}`)
    }
    const before = rec.spans.length
    const plain = await agents[0].svc.write('app', 'untraced', 1)
    assert.equal(plain.envelope?.tc, undefined)
    assert.equal(plain.trace, undefined)
    await until(() => agents[1].svc.get('app', 'untraced') !== undefined)
    assert.equal(rec.spans.length, before)
    assert.ok(other.spans.every(s => s.attrs.seq !== plain.envelope?.seq), 'the receiver recorded no span of the untraced write')
  })

  it('over HTTP: the traceparent header is continued, a bad one starts a trace and is never refused; the answer names the trace', async () => {
    const rec = recording()
    const a = await startAgent(90, undefined, undefined, {}, { tracer: rec.tracer })
    agents.push(a)
    const server = new ApiServer({ host: '127.0.0.1', port: 0, logger: silent })
    server.add(...configRoutes(a.svc))
    await server.start()
    try {
      const base = `http://127.0.0.1:${server.address().port}`
      const put = async (key: string, headers: Record<string, string>): Promise<{ status: number, json: { trace?: string }, traceId: string | null, traceresponse: string | null }> => {
        const res = await fetch(`${base}/v1/config/app/${key}`, { method: 'PUT', headers: { 'content-type': 'application/json', ...headers }, body: '{"value":1}' })
        return { status: res.status, json: await res.json() as { trace?: string }, traceId: res.headers.get('x-trace-id'), traceresponse: res.headers.get('traceresponse') }
      }
      const caller = { traceId: newTraceId(), spanId: newSpanId() }
      const ok = await put('a', { traceparent: formatTraceparent({ ...caller, flags: '01' }) })
      assert.equal(ok.status, 200)
      assert.equal(ok.json.trace, caller.traceId)
      assert.equal(ok.traceId, caller.traceId)
      assert.equal(ok.traceresponse, formatTraceparent({ traceId: caller.traceId, spanId: rec.spans.at(-1)?.spanId ?? '', flags: '01' }))
      assert.equal(rec.spans.at(-1)?.parentSpanId, caller.spanId)
      for (const bad of ['nonsense', `00-${caller.traceId}-${'0'.repeat(16)}-01`, `00-${caller.traceId.toUpperCase()}-${caller.spanId}-01`, 'é'.repeat(300)]) {
        const r = await put('b', { traceparent: bad })
        assert.equal(r.status, 200, `refused with traceparent ${JSON.stringify(bad.slice(0, 20))}`)
        assert.match(r.json.trace ?? '', /^[0-9a-f]{32}$/)
        assert.notEqual(r.json.trace, caller.traceId)
        assert.equal(r.traceId, r.json.trace)
      }
      const none = await put('c', {})
      assert.match(none.json.trace ?? '', /^[0-9a-f]{32}$/)
    } finally {
      await server.stop()
    }
  })
})
