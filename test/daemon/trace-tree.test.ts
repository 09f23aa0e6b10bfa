/**
 * `mycel trace`'s presentation (daemon/cli/trace-tree.ts, trace.ts): span
 * lines as the log query answers them → a tree by parent with offsets.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { buildTraceTree, formatTraceTree, spanOfLine, type TraceSpan } from '../../daemon/cli/trace-tree.js'
import { answerNotes, parseTraceId, spansOfNdjson } from '../../daemon/cli/trace.js'

const T = '4bf92f3577b34da6a3ce929d0e0e4736'
const t0 = Date.parse('2026-12-02T12:00:00.000Z')

/** A span line as the log store serves it (pino fields of wire/tracing.ts plus `node`). */
function line (node: string, span: string, parent: string | undefined, hop: string, atMs: number, durationMs: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    time: new Date(t0 + atMs + durationMs).toISOString(), node, component: 'agent', module: 'trace', level: 'info', msg: 'span',
    trace: T, span, ...(parent !== undefined ? { parent } : {}), name: 'config.write', hop, start: new Date(t0 + atMs).toISOString(), durationMs, ok: true, ...extra
  }
}

const writer = line('12D3KooWWriterAAAA', 'a000000000000001', 'c000000000000000', 'applied', 0, 2, { ns: 'app', key: 'port', seq: 3 })
const recvB = line('12D3KooWNodeBBBBBB', 'b000000000000001', 'a000000000000001', 'received', 5, 0, { ns: 'app', seq: 3, origin: 'gossip', lagMs: 5 })
const applB = line('12D3KooWNodeBBBBBB', 'b000000000000002', 'b000000000000001', 'applied', 5, 1, { ns: 'app', seq: 3, origin: 'gossip' })
const recvC = line('12D3KooWNodeCCCCCC', 'c000000000000001', 'a000000000000001', 'received', 4, 0, { origin: 'sync' })

describe('mycel trace: span tree', () => {
  it('builds the tree by parent: children after their parent, siblings by start, offsets from the first span', () => {
    const spans = [applB, recvB, recvC, writer].map(l => spanOfLine(l, T) as TraceSpan)
    const tree = buildTraceTree(T, spans)
    assert.deepEqual(tree.rows.map(r => [r.span, r.depth, r.offsetMs]), [
      ['a000000000000001', 0, 0],
      ['c000000000000001', 1, 4],
      ['b000000000000001', 1, 5],
      ['b000000000000002', 2, 5]
    ])
    assert.deepEqual(tree.nodes, ['12D3KooWNodeBBBBBB', '12D3KooWNodeCCCCCC', '12D3KooWWriterAAAA'])
    assert.equal(tree.totalMs, 6)
    const text = formatTraceTree(tree)
    assert.match(text, /^trace 4bf92f3577b34da6a3ce929d0e0e4736: 4 spans on 3 nodes, 6\.0 ms\n/)
    const rows = text.split('\n')
    assert.match(rows[2] ?? '', /^ +\+0\.0 ms +2\.0 ms {2}…iterAAAA +config\.write applied {2}ns=app key=port seq=3$/)
    assert.match(rows[5] ?? '', /^ +\+5\.0 ms +1\.0 ms {2}…deBBBBBB {4}└ config\.write applied/)
    assert.match(text, /origin=gossip lagMs=5/)
  })

  it('shows a span whose parent is missing as a root, and a failed span as FAILED', () => {
    const lost = line('12D3KooWNodeDDDDDD', 'd000000000000001', 'ffffffffffffffff', 'received', 9, 1, { ok: false, error: 'not applied before the service stopped' })
    const tree = buildTraceTree(T, [writer, lost].map(l => spanOfLine(l, T) as TraceSpan))
    assert.deepEqual(tree.rows.map(r => r.depth), [0, 0])
    assert.match(formatTraceTree(tree), /FAILED: not applied before the service stopped/)
    assert.equal(formatTraceTree(buildTraceTree(T, [])), `trace ${T}: no spans found\n`)
  })

  it('skips lines that are not spans of the trace, and garbage in the NDJSON answer', () => {
    const text = [
      JSON.stringify(writer),
      '{"msg":"config store opened","node":"x"}',
      JSON.stringify({ ...recvB, trace: 'ffffffffffffffffffffffffffffffff' }),
      JSON.stringify({ ...recvC, start: 'yesterday' }),
      JSON.stringify({ ...applB, span: 7 }),
      'not json at all',
      '[1,2,3]',
      '',
      JSON.stringify(recvB),
      JSON.stringify({ missing: { node: '12D3KooWGone', error: 'dial timed out' } }),
      JSON.stringify({ end: { lines: 2, more: true, nodes: ['a'], missing: [{ node: '12D3KooWGone', error: 'dial timed out' }, { node: '12D3KooWAlsoGone', error: 'refused' }] } })
    ].join('\n')
    const answer = spansOfNdjson(text, T)
    assert.deepEqual(answer.spans.map(s => s.span), ['a000000000000001', 'b000000000000001'])
    assert.deepEqual(answer.missing, [{ node: '12D3KooWGone', error: 'dial timed out' }, { node: '12D3KooWAlsoGone', error: 'refused' }])
    assert.equal(answer.more, true)
    assert.match(answerNotes(answer.missing, answer.more), /^no answer from 12D3KooWGone: dial timed out \(its hops are missing\)\nno answer from 12D3KooWAlsoGone: refused .*\nmore spans than --limit/)
    assert.equal(answerNotes([], false), '')
  })

  it('takes a trace id or a whole traceparent; anything else is a usage error', () => {
    assert.equal(parseTraceId(T), T)
    assert.equal(parseTraceId(T.toUpperCase()), T)
    assert.equal(parseTraceId(`00-${T}-00f067aa0ba902b7-01`), T)
    for (const bad of ['', 'abc', '0'.repeat(32), `${T}0`, 'zz'.repeat(16)]) {
      assert.throws(() => parseTraceId(bad), { name: 'UsageError' })
    }
  })

  it('every span appears exactly once, whatever the parent links (cycles, self-parents, duplicates)', () => {
    const id = fc.integer({ min: 0, max: 11 }).map(i => i.toString(16).padStart(16, '0'))
    const spanArb = fc.record({ span: id, parent: fc.option(id, { nil: undefined }), at: fc.integer({ min: 0, max: 1000 }), d: fc.integer({ min: 0, max: 50 }) })
    fc.assert(fc.property(fc.array(spanArb, { maxLength: 30 }), (xs) => {
      const spans = xs.map(x => spanOfLine(line('n', x.span, x.parent, 'applied', x.at, x.d), T) as TraceSpan)
      const tree = buildTraceTree(T, spans)
      const ids = tree.rows.map(r => r.span)
      assert.deepEqual([...ids].sort(), [...new Set(xs.map(x => x.span))].sort())
      // A child sits right under its parent's subtree: its depth is one more than the nearest row above it of lower depth.
      for (let i = 0; i < tree.rows.length; i++) {
        const r = tree.rows[i] as (typeof tree.rows)[number]
        if (r.depth === 0) continue
        const above = tree.rows.slice(0, i).reverse().find(p => p.depth === r.depth - 1)
        assert.equal(above?.span, r.parent)
      }
      assert.ok(tree.rows.every(r => r.offsetMs >= 0))
    }))
  })
})
