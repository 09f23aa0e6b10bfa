/**
 * W3C traceparent parsing (what a receiver must accept and refuse) and the
 * span log lines of wire/tracing.ts.
 */
import { strict as assert } from 'node:assert'
import { Writable } from 'node:stream'
import fc from 'fast-check'
import { pino } from 'pino'
import { continueTrace, formatTraceparent, newSpanId, newTraceId, parseTraceparent } from '../../wire/trace-context.js'
import { logTracer, type FinishedSpan } from '../../wire/tracing.js'

const hex = (n: number): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n })

describe('traceparent', () => {
  it('reads back what it formats, for every valid id', () => {
    fc.assert(fc.property(hex(32).filter(s => !/^0+$/.test(s)), hex(16).filter(s => !/^0+$/.test(s)), hex(2), (traceId, spanId, flags) => {
      assert.deepEqual(parseTraceparent(formatTraceparent({ traceId, spanId, flags })), { traceId, spanId, flags })
    }))
  })

  it('refuses what W3C says a receiver must not continue', () => {
    const t = '4bf92f3577b34da6a3ce929d0e0e4736'
    const s = '00f067aa0ba902b7'
    assert.ok(parseTraceparent(`00-${t}-${s}-01`))
    for (const bad of [
      `ff-${t}-${s}-01`, // version ff
      `00-${'0'.repeat(32)}-${s}-01`, // all-zero trace id
      `00-${t}-${'0'.repeat(16)}-01`, // all-zero span id
      `00-${t.toUpperCase()}-${s}-01`, // upper case
      `00-${t}-${s}-01-extra`, // version 00 has exactly four fields
      `00-${t}-${s}`, '', 'garbage', `00-${t}-${s}-01`.padEnd(300, 'x')
    ]) assert.equal(parseTraceparent(bad), undefined, bad)
    // A later version may append fields.
    assert.deepEqual(parseTraceparent(`01-${t}-${s}-01-more`), { traceId: t, spanId: s, flags: '01' })
  })

  it('never throws on arbitrary input', () => {
    fc.assert(fc.property(fc.string({ maxLength: 400 }), (s) => { parseTraceparent(s) }))
  })

  it('continues a valid parent and starts a new trace otherwise', () => {
    const parent = `00-${newTraceId()}-${newSpanId()}-00`
    const c = continueTrace(parent)
    assert.equal(c.traceId, parent.split('-')[1])
    assert.equal(c.parentSpanId, parent.split('-')[2])
    assert.equal(c.flags, '00')
    const fresh = continueTrace('nonsense')
    assert.match(fresh.traceId, /^[0-9a-f]{32}$/)
    assert.equal(fresh.parentSpanId, undefined)
  })
})

describe('logTracer', () => {
  it('logs one span line per hop, child of the parent, and hands it to exporters', () => {
    const lines: Array<Record<string, unknown>> = []
    const sink = new Writable({ write (chunk, _enc, cb) { lines.push(JSON.parse(String(chunk))); cb() } })
    const exported: FinishedSpan[] = []
    const tracer = logTracer(pino({ level: 'info' }, sink), [(s) => { exported.push(s) }])
    const root = tracer.start('config.write', 'applied', undefined, { ns: 'app' })
    const child = tracer.start('config.write', 'received', root.traceparent)
    child.end({ from: 'peer' })
    child.end() // once only
    root.end({}, new Error('boom'))
    assert.equal(lines.length, 2)
    assert.equal(lines[0]?.trace, root.traceId)
    assert.equal(lines[0]?.parent, root.spanId)
    assert.equal(lines[0]?.hop, 'received')
    assert.equal(lines[0]?.msg, 'span')
    assert.equal(lines[1]?.ok, false)
    assert.equal(lines[1]?.error, 'boom')
    assert.equal(lines[1]?.ns, 'app')
    assert.deepEqual(exported.map(s => s.spanId), [child.spanId, root.spanId])
  })

  it('records spans at info even when the logger is at warn', () => {
    const lines: Array<Record<string, unknown>> = []
    const sink = new Writable({ write (chunk, _enc, cb) { lines.push(JSON.parse(String(chunk))); cb() } })
    logTracer(pino({ level: 'warn' }, sink)).start('x', 'acted').end()
    assert.equal(lines.length, 1)
    assert.equal(lines[0]?.msg, 'span')
  })
})
