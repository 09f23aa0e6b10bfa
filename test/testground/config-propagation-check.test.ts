/**
 * The testground `config-propagation` case's judgements (testground/plans/mycel/lib/config-propagation-check.js)
 * and its watch-stream parser (lib/config-watch.js): the writers' schedule, what one instance counts as
 * visible, and the run's numbers and broken invariants.
 */
import { strict as assert } from 'node:assert'
import { createRequire } from 'node:module'
import fc from 'fast-check'
import { summarize as runnerSummary } from '../../testground/runner/outcome.js'

interface Write { i: number, key: string, writer: number, writeAt: number, ackAt: number }
interface Mismatch { key: string, at: number, value?: unknown, deleted?: boolean }
interface Report { seq: number, seen: Record<string, number>, mismatches: Mismatch[] }
interface Visibility {
  seen: Map<string, number>
  mismatches: Mismatch[]
  complete: boolean
  snapshot: (entries: Record<string, unknown>, at: number) => void
  set: (key: string, value: unknown, at: number) => void
  delete: (key: string, at: number) => void
  missing: () => string[]
  report: () => { seen: Record<string, number>, mismatches: Mismatch[] }
}
interface Summary { summary: Record<string, number>, perWrite: Array<{ key: string, writer: number, ackMs: number, allVisibleMs: number | null, slowest: number | null }>, violations: string[] }

const require = createRequire(import.meta.url)
const check = require('../../testground/plans/mycel/lib/config-propagation-check.js') as {
  schedule: (seed: number, writes: number, n: number) => number[]
  writeKey: (i: number) => string
  writeValue: (i: number, writer: number, seed: number) => unknown
  expectedValues: (writers: number[], seed: number) => Map<string, unknown>
  sameJson: (a: unknown, b: unknown) => boolean
  Visibility: new (expected: Map<string, unknown>) => Visibility
  quantile: (values: number[], p: number) => number | undefined
  summarize: (writes: Write[], reports: Report[], o: { n: number, expectedWrites: number, timeoutMs: number }) => Summary
}
const { SseParser } = require('../../testground/plans/mycel/lib/config-watch.js') as {
  SseParser: new () => { push: (text: string) => Array<{ event: string, data: string }> }
}

/** A run where every write is made and every instance sees it `delay(write, seq)` ms after its PUT. */
function run (writers: number[], n: number, delay: (i: number, seq: number) => number): { writes: Write[], reports: Report[] } {
  const writes = writers.map((writer, i) => ({ i, key: check.writeKey(i), writer, writeAt: 1000 * (i + 1), ackAt: 1000 * (i + 1) + 5 }))
  const reports = Array.from({ length: n }, (_, k) => ({
    seq: k + 1,
    seen: Object.fromEntries(writes.map(w => [w.key, w.writeAt + delay(w.i, k + 1)])),
    mismatches: []
  }))
  return { writes, reports }
}

describe('testground config-propagation case: checks', () => {
  it('draws the same writers from the same seed, each an instance 1..n, and others from another seed', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 31 }), fc.integer({ min: 1, max: 200 }), fc.integer({ min: 1, max: 300 }), (seed, writes, n) => {
      const a = check.schedule(seed, writes, n)
      assert.deepEqual(check.schedule(seed, writes, n), a)
      assert.equal(a.length, writes)
      assert.ok(a.every(w => Number.isInteger(w) && w >= 1 && w <= n))
    }))
    assert.notDeepEqual(check.schedule(1, 50, 50), check.schedule(2, 50, 50))
    // Spread over the instances, not stuck on one: 1000 draws over 10 reach every instance.
    assert.equal(new Set(check.schedule(7, 1000, 10)).size, 10)
    assert.throws(() => check.schedule(1, 0, 10), /at least one write/)
  })

  it('gives every write its own key and a value naming it', () => {
    const writers = check.schedule(3, 120, 7)
    const expected = check.expectedValues(writers, 3)
    assert.equal(expected.size, 120)
    assert.equal(new Set([...expected.values()].map(v => JSON.stringify(v))).size, 120)
    assert.ok(!check.sameJson(check.writeValue(0, 1, 3), check.writeValue(0, 1, 4)))
    assert.ok(check.sameJson({ a: [1, { b: null }], c: 's' }, { c: 's', a: [1, { b: null }] }))
    assert.ok(!check.sameJson({ a: 1 }, { a: 1, b: undefined }))
    assert.ok(!check.sameJson([1], { 0: 1 }))
  })

  it('counts a key visible at the first event holding its value; another value or a delete is a mismatch', () => {
    const expected = check.expectedValues([2, 1, 3], 9)
    const v = new check.Visibility(expected)
    v.snapshot({ [check.writeKey(0)]: check.writeValue(0, 2, 9), unrelated: 1 }, 100)
    assert.deepEqual(v.missing(), [check.writeKey(1), check.writeKey(2)])
    v.set(check.writeKey(1), check.writeValue(1, 2, 9), 150) // the wrong writer
    v.set(check.writeKey(1), check.writeValue(1, 1, 9), 200)
    v.set(check.writeKey(1), check.writeValue(1, 1, 9), 250) // seen again: the first time counts
    v.set('other', 5, 260)
    assert.equal(v.complete, false)
    v.set(check.writeKey(2), check.writeValue(2, 3, 9), 300)
    assert.equal(v.complete, true)
    v.delete(check.writeKey(0), 400)
    v.delete('other', 410)
    assert.deepEqual(v.report(), {
      seen: { [check.writeKey(0)]: 100, [check.writeKey(1)]: 200, [check.writeKey(2)]: 300 },
      mismatches: [{ key: check.writeKey(1), at: 150, value: check.writeValue(1, 2, 9) }, { key: check.writeKey(0), at: 400, deleted: true }]
    })
  })

  it('computes the same nearest-rank quantiles as the runner; p99 of fewer than 100 is the maximum', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 1e6 }), { minLength: 1, maxLength: 250 }), values => {
      const r = runnerSummary(values)
      assert.ok(r !== null)
      assert.deepEqual([check.quantile(values, 0.5), check.quantile(values, 0.95), check.quantile(values, 1)], [r.p50, r.p95, r.max])
      const p99 = check.quantile(values, 0.99) as number
      assert.ok(p99 <= r.max && p99 >= r.p95)
      if (values.length < 100) assert.equal(p99, r.max)
    }))
    assert.equal(check.quantile([], 0.5), undefined)
  })

  it('takes write → visible everywhere as the slowest instance, per write', () => {
    const { writes, reports } = run([1, 2, 3], 3, (i, seq) => 10 * (i + 1) * seq)
    const r = check.summarize(writes, reports, { n: 3, expectedWrites: 3, timeoutMs: 1000 })
    assert.deepEqual(r.violations, [])
    assert.deepEqual(r.perWrite.map(p => [p.allVisibleMs, p.slowest, p.ackMs]), [[30, 3, 5], [60, 3, 5], [90, 3, 5]])
    assert.deepEqual(r.summary, {
      writes: 3,
      instances: 3,
      visible_before_write: 0,
      all_p50_ms: 60,
      all_p99_ms: 90,
      all_max_ms: 90,
      each_p50_ms: 30,
      each_p99_ms: 90,
      each_max_ms: 90,
      ack_p50_ms: 5,
      ack_p99_ms: 5,
      ack_max_ms: 5
    })
  })

  it('all-visible time is the maximum over instances and bounds every instance\'s (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 30 }), fc.integer(), (n, writes, seed) => {
      const delays = check.schedule(seed, writes * n, 5000)
      const { writes: ws, reports } = run(check.schedule(seed, writes, n), n, (i, s) => delays[i * n + s - 1])
      const r = check.summarize(ws, reports, { n, expectedWrites: writes, timeoutMs: 10_000 })
      assert.deepEqual(r.violations, [])
      for (const p of r.perWrite) {
        const i = ws.findIndex(w => w.key === p.key)
        assert.equal(p.allVisibleMs, Math.max(...Array.from({ length: n }, (_, k) => delays[i * n + k])))
      }
      assert.ok(r.summary.all_p50_ms <= r.summary.all_p99_ms && r.summary.all_p99_ms <= r.summary.all_max_ms)
      assert.ok(r.summary.each_max_ms === r.summary.all_max_ms)
      assert.ok(r.summary.each_p50_ms <= r.summary.all_p50_ms)
    }))
  })

  it('fails a write not visible somewhere, one visible too late, a wrong value, a missing write or report', () => {
    const { writes, reports } = run([1, 2, 1, 2], 3, () => 50)
    delete reports[1].seen[check.writeKey(2)]
    reports[2].seen[check.writeKey(3)] = writes[3].writeAt + 5000
    reports[0].mismatches.push({ key: check.writeKey(0), at: 3, value: { write: 9 } }, { key: check.writeKey(1), at: 4, deleted: true })
    const r = check.summarize(writes.slice(0, 4), reports, { n: 4, expectedWrites: 5, timeoutMs: 1000 })
    assert.deepEqual(r.violations, [
      'no report from instance 4',
      'write 5 (w-0005) was never made',
      'instance 1: w-0001 held {"write":9}, not the value written',
      'instance 1: w-0002 was deleted',
      'instance 2: w-0003 (written by instance 1) never became visible within 1000 ms',
      'instance 3: w-0004 became visible after 5000 ms (limit 1000 ms)'
    ])
    // A write not visible everywhere has no all-visible time and stays out of the quantiles.
    assert.equal(r.perWrite[2].allVisibleMs, null)
    assert.deepEqual([r.summary.all_p50_ms, r.summary.all_max_ms], [50, 5000])
  })

  it('counts a visibility time before its write (clocks that disagree) and takes it as 0, without failing', () => {
    const { writes, reports } = run([1, 2], 2, (i, seq) => (seq === 2 ? -3 : 40))
    const r = check.summarize(writes, reports, { n: 2, expectedWrites: 2, timeoutMs: 1000 })
    assert.deepEqual(r.violations, [])
    assert.equal(r.summary.visible_before_write, 2)
    assert.equal(r.summary.each_p50_ms, 0)
    assert.equal(r.summary.all_max_ms, 40)
  })
})

describe('testground config-propagation case: the watch stream parser', () => {
  const stream = 'event: snapshot\ndata: {"namespace":"ns","entries":{},"writers":{}}\n\n: keepalive\n\nevent: set\ndata: {"key":"w-0001","value":{"write":1,"note":"é"},"writer":"p"}\n\nevent: delete\r\ndata: {"key":"k"}\r\n\r\n'
  const expected = [
    { event: 'snapshot', data: '{"namespace":"ns","entries":{},"writers":{}}' },
    { event: 'set', data: '{"key":"w-0001","value":{"write":1,"note":"é"},"writer":"p"}' },
    { event: 'delete', data: '{"key":"k"}' }
  ]

  it('yields the events whole, comments dropped, however the bytes are split (property)', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: stream.length }), { maxLength: 12 }), cuts => {
      const points = [0, ...[...new Set(cuts)].sort((a, b) => a - b), stream.length]
      const p = new SseParser()
      const got = []
      for (let k = 1; k < points.length; k++) got.push(...p.push(stream.slice(points[k - 1], points[k])))
      assert.deepEqual(got, expected)
    }))
  })

  it('joins multi-line data and holds an event until its blank line', () => {
    const p = new SseParser()
    assert.deepEqual(p.push('event: dropped\ndata: {"reason":\ndata: "slow"}\n'), [])
    assert.deepEqual(p.push('\n'), [{ event: 'dropped', data: '{"reason":\n"slow"}' }])
    assert.deepEqual(p.push('data:x\n\n'), [{ event: 'message', data: 'x' }])
  })
})
