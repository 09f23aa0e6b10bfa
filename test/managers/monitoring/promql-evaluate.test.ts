import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import { parseExpr } from '../../../managers/monitoring/promql/parse.js'
import { evaluate, evaluateInstant, type Value } from '../../../managers/monitoring/promql/evaluate.js'
import { EvaluationError } from '../../../managers/monitoring/promql/errors.js'
import { SeriesStore, seriesStoreTunables } from '../../../managers/monitoring/series-store.js'
import type { Labels } from '../../../managers/monitoring/types.js'
import { fixtureStore } from './promql-fixture.js'

const AT = 10 * 60_000 + 30_000

function storeOf (samples: Array<{ labels: Labels, v: number }>, t = AT): SeriesStore {
  const store = new SeriesStore(seriesStoreTunables.defaults('test'))
  store.appendScrape(t, samples)
  return store
}

function run (text: string, store: SeriesStore, at = AT): Value {
  return evaluate(parseExpr(text), at, store)
}

function values (v: Value): number[] {
  return v.type === 'scalar' ? [v.value] : v.samples.map(s => s.value)
}

describe('PromQL evaluator', () => {
  describe('NaN and ±Inf flow as in Prometheus', () => {
    const store = storeOf([{ labels: { __name__: 'x', k: 'nan' }, v: NaN }, { labels: { __name__: 'x', k: 'inf' }, v: Infinity }, { labels: { __name__: 'x', k: 'one' }, v: 1 }])
    it('arithmetic and comparisons', () => {
      assert.deepEqual(values(run('x + 1', store)).map(String), ['NaN', 'Infinity', '2'])
      assert.deepEqual(values(run('x > 0', store)), [Infinity, 1], 'NaN compares false')
      assert.deepEqual(values(run('x != bool 0', store)), [1, 1, 1])
      assert.deepEqual(values(run('x == bool x', store)), [0, 1, 1], 'NaN is not equal to itself')
      assert.deepEqual(values(run('1 ^ NaN', store)), [1], "Go's math.Pow(1, NaN) is 1")
      assert.deepEqual(values(run('(-1) ^ Inf', store)), [1])
      assert.deepEqual(values(run('5 % 0', store)).map(String), ['NaN'])
    })
    it('aggregations', () => {
      assert.deepEqual(values(run('sum(x)', store)).map(String), ['NaN'])
      assert.deepEqual(values(run('max(x)', store)), [Infinity], 'a NaN is replaced by any later value')
      assert.deepEqual(values(run('min(x)', store)), [1])
      assert.deepEqual(values(run('count(x)', store)), [3])
      assert.deepEqual(values(run('stddev(x{k="inf"})', store)).map(String), ['NaN'])
      assert.deepEqual(values(run('avg(x{k!="nan"})', store)), [Infinity])
    })
    it('scalar() of anything but one sample is NaN', () => {
      assert.ok(Number.isNaN(values(run('scalar(x)', store))[0]))
      assert.ok(Number.isNaN(values(run('scalar(nothing)', store))[0]))
    })
  })

  describe('evaluation errors are named, never a crash', () => {
    const store = storeOf([
      { labels: { __name__: 'a', job: 'j', i: '1' }, v: 1 },
      { labels: { __name__: 'a', job: 'j', i: '2' }, v: 2 },
      { labels: { __name__: 'b', job: 'j' }, v: 3 },
      { labels: { __name__: 'c', job: 'j', i: '1' }, v: 4 }
    ])
    it('many-to-many matching', () => {
      assert.throws(() => run('b + on(job) a', store), (err: unknown) => err instanceof EvaluationError && /many-to-many matching not allowed/.test(err.message) && /\{job="j"\}/.test(err.message))
    })
    it('many-to-one without group_left', () => {
      assert.throws(() => run('a + on(job) b', store), (err: unknown) => err instanceof EvaluationError && /many-to-one matching must be explicit/.test(err.message))
    })
    it('two samples of one label set after the name is dropped', () => {
      assert.throws(() => run('{job="j", i="1"} * 2', store), (err: unknown) => err instanceof EvaluationError && /same labelset/.test(err.message))
      assert.throws(() => run('abs({i="1"})', store), EvaluationError)
      assert.doesNotThrow(() => run('{i="1"} > 0', store), 'a filtering comparison keeps the names')
    })
  })

  it('labels: arithmetic and bool drop the name; filters keep it; on/ignoring shape one-to-one results', () => {
    const store = storeOf([{ labels: { __name__: 'a', x: '1', y: '2' }, v: 5 }, { labels: { __name__: 'b', x: '1', y: '3' }, v: 2 }])
    assert.deepEqual(run('a - 1', store), { type: 'vector', samples: [{ labels: { x: '1', y: '2' }, value: 4 }] })
    assert.deepEqual(run('a > 1', store), { type: 'vector', samples: [{ labels: { __name__: 'a', x: '1', y: '2' }, value: 5 }] })
    assert.deepEqual(run('1 < a', store), { type: 'vector', samples: [{ labels: { __name__: 'a', x: '1', y: '2' }, value: 5 }] }, 'the vector side\'s value')
    assert.deepEqual(run('a > bool 9', store), { type: 'vector', samples: [{ labels: { x: '1', y: '2' }, value: 0 }] })
    assert.deepEqual(run('a - on(x) b', store), { type: 'vector', samples: [{ labels: { x: '1' }, value: 3 }] })
    assert.deepEqual(run('a - ignoring(y) b', store), { type: 'vector', samples: [{ labels: { x: '1' }, value: 3 }] })
    assert.deepEqual(run('a > ignoring(y) b', store), { type: 'vector', samples: [{ labels: { __name__: 'a', x: '1' }, value: 5 }] })
    assert.deepEqual(run('a - b', store), { type: 'vector', samples: [] }, 'y differs: no match')
    assert.deepEqual(run('a and on(x) b', store), { type: 'vector', samples: [{ labels: { __name__: 'a', x: '1', y: '2' }, value: 5 }] })
  })

  it('a member that leaves disappears from instant selectors at once (staleness), and absent() sees it', () => {
    const store = new SeriesStore(seriesStoreTunables.defaults('test'))
    store.appendScrape(1000, [{ labels: { __name__: 'mycel_member_up', peer: 'p1' }, v: 1 }, { labels: { __name__: 'mycel_member_up', peer: 'p2' }, v: 1 }])
    store.appendScrape(2000, [{ labels: { __name__: 'mycel_member_up', peer: 'p1' }, v: 1 }])
    assert.deepEqual(values(run('count(mycel_member_up)', store, 2000)), [1])
    assert.deepEqual(run('absent(mycel_member_up{peer="p2"})', store, 2000), { type: 'vector', samples: [{ labels: { peer: 'p2' }, value: 1 }] })
  })

  it('evaluateInstant reads a scalar as one sample without labels', () => {
    const store = fixtureStore()
    assert.deepEqual(evaluateInstant(parseExpr('1 + 1'), AT, store), [{ labels: {}, value: 2 }])
    assert.equal(evaluateInstant(parseExpr('mycel_member_up'), AT, store).length, 3)
  })

  describe('properties', () => {
    const seriesArb = fc.uniqueArray(fc.record({
      region: fc.constantFrom('r1', 'r2', 'r3'),
      peer: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
      v: fc.integer({ min: -1000, max: 1000 })
    }), { selector: s => `${s.region}/${s.peer}`, maxLength: 15 })
    const load = (xs: Array<{ region: string, peer: string, v: number }>): SeriesStore => storeOf(xs.map(s => ({ labels: { __name__: 'm', region: s.region, peer: s.peer }, v: s.v })))

    it('sum by (region) is the sum of each region\'s samples, and sums to sum()', () => {
      fc.assert(fc.property(seriesArb, xs => {
        const store = load(xs)
        const by = run('sum by (region) (m)', store)
        assert.ok(by.type === 'vector')
        for (const g of by.samples) assert.equal(g.value, xs.filter(s => s.region === g.labels.region).reduce((a, s) => a + s.v, 0))
        assert.equal(by.samples.length, new Set(xs.map(s => s.region)).size)
        assert.deepEqual(values(run('sum(sum by (region) (m))', store)), xs.length === 0 ? [] : values(run('sum(m)', store)))
      }))
    })

    it('a and a is a; a unless a is empty; a or a is a', () => {
      fc.assert(fc.property(seriesArb, xs => {
        const store = load(xs)
        const a = run('m', store)
        assert.deepEqual(run('m and m', store), a)
        assert.deepEqual(run('m or m', store), a)
        assert.deepEqual(run('m unless m', store), { type: 'vector', samples: [] })
        assert.deepEqual(run('m > 0 or m <= 0', store).type === 'vector' && (run('m > 0 or m <= 0', store) as { samples: unknown[] }).samples.length, xs.length)
      }))
    })
  })

  it('evaluates 100 nodes × 20 series well under 10 ms', () => {
    const store = new SeriesStore(seriesStoreTunables.defaults('lan'))
    for (let round = 0; round < 60; round++) {
      const samples: Array<{ labels: Labels, v: number }> = []
      for (let n = 0; n < 100; n++) {
        for (let s = 0; s < 20; s++) samples.push({ labels: { __name__: `mycel_node_metric_${s}`, peer: `p${n}`, region: `r${n % 5}` }, v: round * (s + 1) + n })
      }
      store.appendScrape(round * 10_000, samples)
    }
    const exprs = ['sum by (region) (rate(mycel_node_metric_3[5m])) > 0', 'avg_over_time(mycel_node_metric_1[5m]) > on(peer, region) mycel_node_metric_2',
      'count by (region) ({__name__=~"mycel_node_metric_1.*"} > 100)', 'absent(mycel_node_metric_0{peer="p7"})'].map(parseExpr)
    const at = 59 * 10_000
    for (const e of exprs) evaluate(e, at, store)
    const runs = 20
    const start = process.hrtime.bigint()
    for (let i = 0; i < runs; i++) for (const e of exprs) evaluate(e, at, store)
    const msPerExpr = Number(process.hrtime.bigint() - start) / 1e6 / runs / exprs.length
    console.log(`      ${msPerExpr.toFixed(2)} ms per expression over 2000 series × 60 samples`)
    assert.ok(msPerExpr < 10, `${msPerExpr} ms`)
  })
})
