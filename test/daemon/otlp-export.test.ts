/**
 * The agent's OTLP/HTTP span export (daemon/otlp-export.ts) against a
 * collector stand-in in the test: the spans arrive with the ids, parent,
 * times, name and attributes the agent logged; a collector that is down
 * costs a bounded stop and a rate-limited warning, never a failure.
 */
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { Writable } from 'node:stream'
import pino from 'pino'
import { AgentTracing } from '../../daemon/tracing.js'
import { formatTraceparent, newSpanId, newTraceId } from '../../wire/trace-context.js'

interface OtlpSpan {
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  startTimeUnixNano: string | number
  endTimeUnixNano: string | number
  status?: { code?: number, message?: string }
  attributes: Array<{ key: string, value: { stringValue?: string, intValue?: string | number, boolValue?: boolean } }>
}
interface OtlpRequest {
  resourceSpans: Array<{ resource: { attributes: OtlpSpan['attributes'] }, scopeSpans: Array<{ spans: OtlpSpan[] }> }>
}

/** An OTLP/HTTP collector stand-in: keeps every JSON request to /v1/traces. */
async function collector (): Promise<{ server: Server, url: string, requests: OtlpRequest[], paths: string[] }> {
  const requests: OtlpRequest[] = []
  const paths: string[] = []
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      paths.push(`${req.method ?? ''} ${req.url ?? ''} ${req.headers['content-type'] ?? ''}`)
      requests.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpRequest)
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end('{}')
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const addr = server.address() as { port: number }
  return { server, url: `http://127.0.0.1:${addr.port}/v1/traces`, requests, paths }
}

const attr = (attrs: OtlpSpan['attributes'], key: string): unknown => {
  const v = attrs.find(a => a.key === key)?.value
  return v?.stringValue ?? (v?.intValue !== undefined ? Number(v.intValue) : v?.boolValue)
}

/** A logger whose lines the test reads. */
function capture (): { logger: pino.Logger, lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const sink = new Writable({ write (chunk: Buffer, _enc, done) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); done() } })
  return { logger: pino({ level: 'info' }, sink), lines }
}

describe('OTLP span export', function () {
  this.timeout(20_000)

  it('exports each span with its trace id, span id, parent, times, name and attributes, and flushes on stop', async () => {
    const c = await collector()
    const { logger, lines } = capture()
    const tracing = new AgentTracing({ logger, node: '12D3KooWTestNode', region: 'eu', version: '9.9.9', profile: 'test', otlpEndpoint: c.url })
    await tracing.start()
    try {
      const caller = { traceId: newTraceId(), spanId: newSpanId() }
      const root = tracing.tracer.start('config.write', 'applied', formatTraceparent({ ...caller, flags: '01' }), { ns: 'app', key: 'port' })
      await new Promise(resolve => setTimeout(resolve, 5))
      root.end({ seq: 3 })
      const child = tracing.tracer.start('config.write', 'received', root.traceparent, { origin: 'gossip' })
      child.end({}, new Error('refused'))
      const fresh = tracing.tracer.start('rollout', 'applied')
      fresh.end()
      await tracing.stop()
      await tracing.stop()
      assert.ok(c.paths.every(p => p.startsWith('POST /v1/traces application/json')), c.paths.join(', '))
      const spans = c.requests.flatMap(r => r.resourceSpans.flatMap(rs => rs.scopeSpans.flatMap(ss => ss.spans)))
      assert.equal(spans.length, 3)
      const resource = c.requests[0]?.resourceSpans[0]?.resource.attributes ?? []
      assert.equal(attr(resource, 'service.name'), 'mycel')
      assert.equal(attr(resource, 'mycel.node'), '12D3KooWTestNode')
      assert.equal(attr(resource, 'mycel.region'), 'eu')
      const byId = new Map(spans.map(s => [s.spanId, s]))
      const r = byId.get(root.spanId)
      assert.ok(r !== undefined, 'the root span kept its own span id')
      assert.equal(r.traceId, caller.traceId)
      assert.equal(r.parentSpanId, caller.spanId)
      assert.equal(r.name, 'config.write applied')
      assert.equal(attr(r.attributes, 'mycel.hop'), 'applied')
      assert.equal(attr(r.attributes, 'mycel.node'), '12D3KooWTestNode')
      assert.equal(attr(r.attributes, 'ns'), 'app')
      assert.equal(attr(r.attributes, 'seq'), 3)
      // The times are the logged span's: its start, and its duration.
      const logged = lines.find(l => l.msg === 'span' && l.span === root.spanId)
      assert.ok(logged !== undefined)
      const startMs = Number(BigInt(r.startTimeUnixNano) / 1_000_000n)
      const endMs = Number(BigInt(r.endTimeUnixNano) / 1_000_000n)
      assert.equal(startMs, Date.parse(logged.start as string))
      assert.equal(endMs - startMs, logged.durationMs)
      const k = byId.get(child.spanId)
      assert.equal(k?.traceId, caller.traceId)
      assert.equal(k?.parentSpanId, root.spanId)
      assert.equal(k?.status?.code, 2, 'an error span is exported with status ERROR')
      assert.equal(k?.status?.message, 'refused')
      const f = byId.get(fresh.spanId)
      assert.equal(f?.traceId, fresh.traceId, 'a new trace keeps the id the log line has')
      assert.ok(f?.parentSpanId === undefined || f.parentSpanId === '')
    } finally {
      await tracing.stop()
      c.server.close()
    }
  })

  it('a collector that is down: spans are still logged, stop stays bounded, failures are warned about at a rate', async () => {
    // A port nobody listens on: bind one, then close it.
    const c = await collector()
    const url = c.url
    await new Promise<void>(resolve => c.server.close(() => resolve()))
    const { logger, lines } = capture()
    const tracing = new AgentTracing({ logger, node: 'n', region: 'eu', version: '1.0.0', profile: 'test', otlpEndpoint: url })
    await tracing.start()
    for (let i = 0; i < 50; i++) tracing.tracer.start('config.write', 'applied').end()
    // Several batch periods (test profile: 200 ms) of failing exports.
    await new Promise(resolve => setTimeout(resolve, 700))
    const started = Date.now()
    await tracing.stop()
    assert.ok(Date.now() - started < 5_000, 'stop waited for a dead collector')
    assert.equal(lines.filter(l => l.msg === 'span').length, 50, 'every span is in the log whatever the collector does')
    const warnings = lines.filter(l => typeof l.msg === 'string' && l.msg.startsWith('OTLP span export failed'))
    assert.ok(warnings.length >= 1, 'the failure is logged')
    assert.ok(warnings.length <= 2, `at most one warning per second, got ${warnings.length}`)
  })
})
