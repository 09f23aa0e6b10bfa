import { strict as assert } from 'node:assert'
import { SeriesStore, seriesStoreTunables } from '../../../managers/monitoring/series-store.js'
import type { LabelMatcher } from '../../../managers/monitoring/promql/ast.js'
import { InvalidTunablesError } from '../../../lib/tunables.js'

const eq = (name: string, value: string): LabelMatcher => ({ name, type: '=', value, matches: v => v === value })
const up = (peer: string): { labels: Record<string, string>, v: number } => ({ labels: { __name__: 'up', peer }, v: 1 })
const S = 1000

describe('SeriesStore', () => {
  it('an instant read takes the latest sample within the lookback, open at its start', () => {
    const store = new SeriesStore(seriesStoreTunables.create('test', { lookbackMs: 60 * S }))
    store.appendScrape(10 * S, [{ labels: { __name__: 'x' }, v: 1 }])
    store.appendScrape(20 * S, [{ labels: { __name__: 'x' }, v: 2 }, { labels: { __name__: 'y' }, v: 5 }])
    assert.deepEqual(store.instant([eq('__name__', 'x')], 15 * S), [{ labels: { __name__: 'x' }, value: 1 }])
    assert.deepEqual(store.instant([eq('__name__', 'x')], 20 * S), [{ labels: { __name__: 'x' }, value: 2 }])
    assert.deepEqual(store.instant([eq('__name__', 'x')], 5 * S), [], 'nothing before the first sample')
    assert.deepEqual(store.instant([eq('__name__', 'x')], 79 * S).length, 1)
    assert.deepEqual(store.instant([eq('__name__', 'x')], 80 * S), [], '(t − lookback, t]: a sample exactly lookback old is out')
  })

  it('a series missing from a round is stale at once, not after the lookback, and returns when scraped again', () => {
    const store = new SeriesStore(seriesStoreTunables.defaults('test'))
    store.appendScrape(1 * S, [up('a'), up('b')])
    store.appendScrape(2 * S, [up('a')])
    assert.deepEqual(store.instant([eq('__name__', 'up')], 2 * S).map(s => s.labels.peer), ['a'])
    assert.deepEqual(store.instant([eq('__name__', 'up')], 1.5 * S).map(s => s.labels.peer), ['a', 'b'], 'before the marker it was there')
    store.appendScrape(3 * S, [up('a'), up('b')])
    assert.deepEqual(store.instant([eq('__name__', 'up')], 3 * S).map(s => s.labels.peer), ['a', 'b'])
    // A range read drops the marker and keeps the samples around it.
    assert.deepEqual(store.range([eq('peer', 'b')], 3 * S, 10 * S)[0].samples, [{ t: 1 * S, v: 1 }, { t: 3 * S, v: 1 }])
  })

  it('a range read takes (t − range, t]', () => {
    const store = new SeriesStore(seriesStoreTunables.defaults('test'))
    for (let i = 1; i <= 5; i++) store.appendScrape(i * S, [{ labels: { __name__: 'x' }, v: i }])
    assert.deepEqual(store.range([eq('__name__', 'x')], 4 * S, 2 * S)[0].samples.map(s => s.v), [3, 4])
    assert.deepEqual(store.range([eq('__name__', 'x')], 10 * S, 2 * S), [], 'series without samples in the window are omitted')
  })

  it('NaN and ±Inf are values, not markers', () => {
    const store = new SeriesStore(seriesStoreTunables.defaults('test'))
    store.appendScrape(S, [{ labels: { __name__: 'x', k: 'nan' }, v: NaN }, { labels: { __name__: 'x', k: 'inf' }, v: -Infinity }])
    const got = store.instant([eq('__name__', 'x')], S).map(s => s.value)
    assert.ok(Number.isNaN(got[0]))
    assert.equal(got[1], -Infinity)
  })

  it('labels are one series whatever their order; empty values are no label', () => {
    const store = new SeriesStore(seriesStoreTunables.defaults('test'))
    store.appendScrape(S, [{ labels: { __name__: 'x', a: '1', b: '2' }, v: 1 }])
    store.appendScrape(2 * S, [{ labels: { b: '2', a: '1', __name__: 'x', c: '' }, v: 2 }])
    assert.equal(store.stats().series, 1)
    assert.deepEqual(store.range([eq('a', '1')], 2 * S, 10 * S)[0].samples.map(s => s.v), [1, 2])
  })

  it('keeps at most retentionMs and maxSamplesPerSeries of history, and drops series left empty', () => {
    const store = new SeriesStore(seriesStoreTunables.create('test', { retentionMs: 10 * S, lookbackMs: 5 * S, maxSamplesPerSeries: 4 }))
    for (let i = 1; i <= 20; i++) store.appendScrape(i * S, [{ labels: { __name__: 'x' }, v: i }, ...(i < 5 ? [{ labels: { __name__: 'gone' }, v: i }] : [])])
    assert.deepEqual(store.range([eq('__name__', 'x')], 20 * S, 100 * S)[0].samples.map(s => s.v), [17, 18, 19, 20], 'the ring keeps the newest 4')
    assert.equal(store.stats().series, 1, "'gone' expired with its last sample")
    const wide = new SeriesStore(seriesStoreTunables.create('test', { retentionMs: 10 * S, lookbackMs: 5 * S }))
    for (let i = 1; i <= 30; i++) wide.appendScrape(i * S, [{ labels: { __name__: 'x' }, v: i }])
    assert.deepEqual(wide.range([eq('__name__', 'x')], 30 * S, 100 * S)[0].samples.map(s => s.t / S), [21, 22, 23, 24, 25, 26, 27, 28, 29, 30])
  })

  it('over maxSeries: evicts the series gone longest, refuses when all are live, and counts both', () => {
    const store = new SeriesStore(seriesStoreTunables.create('test', { maxSeries: 2 }))
    store.appendScrape(1 * S, [up('a'), up('b')])
    store.appendScrape(2 * S, [up('a'), up('c')])
    assert.deepEqual(store.instant([eq('__name__', 'up')], 2 * S).map(s => s.labels.peer), ['a', 'c'], "b (stale) made room for c")
    store.appendScrape(3 * S, [up('a'), up('c'), up('d')])
    assert.deepEqual(store.instant([eq('__name__', 'up')], 3 * S).map(s => s.labels.peer), ['a', 'c'])
    assert.deepEqual({ ...store.stats(), samples: 0 }, { series: 2, samples: 0, refusedSeries: 1, evictedSeries: 1, outOfOrderScrapes: 0 })
  })

  it('drops and counts a round not after the previous one', () => {
    const store = new SeriesStore(seriesStoreTunables.defaults('test'))
    store.appendScrape(2 * S, [up('a')])
    store.appendScrape(2 * S, [up('b')])
    store.appendScrape(1 * S, [up('b')])
    assert.equal(store.stats().outOfOrderScrapes, 2)
    assert.deepEqual(store.instant([eq('__name__', 'up')], 2 * S).map(s => s.labels.peer), ['a'])
  })

  it('selects by any matcher, with or without a metric name', () => {
    const store = new SeriesStore(seriesStoreTunables.defaults('test'))
    store.appendScrape(S, [up('a'), { labels: { __name__: 'load', peer: 'a' }, v: 3 }])
    assert.equal(store.instant([eq('peer', 'a')], S).length, 2)
    assert.equal(store.instant([eq('__name__', 'nope')], S).length, 0)
  })

  it('every profile keeps at least the lookback', () => {
    for (const p of ['lan', 'wan', 'test'] as const) assert.ok(seriesStoreTunables.defaults(p).retentionMs >= seriesStoreTunables.defaults(p).lookbackMs)
    assert.throws(() => seriesStoreTunables.create('lan', { retentionMs: 1000 }), InvalidTunablesError)
  })
})
