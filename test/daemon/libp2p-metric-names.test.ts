import { expect } from 'chai'
import fc from 'fast-check'
import { Registry } from 'prom-client'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import type { ComponentLogger, Logger } from '@libp2p/interface'
import { LIBP2P_METRIC_RENAMES, millisecondsToSeconds, withPrometheusNames, type MetricRename } from '../../daemon/libp2p-metric-names.js'
import { DROPPED_PROCESS_METRICS, collectProcessMetrics } from '../../daemon/process-metrics.js'

// A silent libp2p logger: the metrics implementation only logs.
const log = Object.assign(() => {}, { error: () => {}, trace: () => {}, newScope: () => log, enabled: false }) as unknown as Logger
const logger: ComponentLogger = { forComponent: () => log }

// @libp2p/prometheus-metrics keeps one process-wide map of metrics by name,
// so every test registers names of its own.
let n = 0
const fresh = (base: string): string => `test_${base}_${++n}`

function renamed (renames: ReadonlyMap<string, MetricRename>): { registry: Registry, metrics: ReturnType<ReturnType<typeof prometheusMetrics>> } {
  const registry = new Registry()
  const metrics = withPrometheusNames(prometheusMetrics({ registry, preserveExistingMetrics: true, collectDefaultMetrics: false }), renames)({ logger })
  return { registry, metrics }
}

const sample = async (registry: Registry, name: string): Promise<Array<{ labels: Record<string, string | number>, value: number }>> =>
  (await registry.getSingleMetric(name)?.get())?.values.map(v => ({ labels: { ...v.labels } as Record<string, string | number>, value: v.value })) ?? []

describe('daemon/libp2p-metric-names', () => {
  it('registers a listed metric under its new name and an unlisted one under its own', async () => {
    const old = fresh('operations_total')
    const kept = fresh('kept')
    const { registry, metrics } = renamed(new Map([[old, { name: `${old}_in_flight` }]]))
    metrics.registerMetricGroup(old, { label: 'operation' }).increment({ GET_VALUE: true })
    metrics.registerMetric(kept).update(7)
    expect(registry.getSingleMetric(old)).to.equal(undefined)
    expect(await sample(registry, `${old}_in_flight`)).to.deep.equal([{ labels: { operation: 'GET_VALUE' }, value: 1 }])
    expect(await sample(registry, kept)).to.deep.equal([{ labels: {}, value: 7 }])
  })

  it('renames every kind of registration (counters, histograms, summaries, calculated ones)', async () => {
    const names = ['counter', 'counter_group', 'histogram', 'histogram_group', 'summary', 'summary_group', 'calculated'].map(fresh)
    const { registry, metrics } = renamed(new Map(names.map(x => [x, { name: `${x}_new` }])))
    metrics.registerCounter(names[0]).increment()
    metrics.registerCounterGroup(names[1]).increment({ a: 2 })
    metrics.registerHistogram(names[2]).observe(1)
    metrics.registerHistogramGroup(names[3]).observe({ a: 1 })
    metrics.registerSummary(names[4]).observe(1)
    metrics.registerSummaryGroup(names[5]).observe({ a: 1 })
    metrics.registerMetric(names[6], { calculate: () => 3 })
    for (const x of names) {
      expect(registry.getSingleMetric(x), x).to.equal(undefined)
      expect(registry.getSingleMetric(`${x}_new`), `${x}_new`).to.not.equal(undefined)
    }
    expect(await sample(registry, `${names[6]}_new`)).to.deep.equal([{ labels: {}, value: 3 }])
  })

  it('converts the values of a unit change: updates, increments and calculated groups', async () => {
    const [pushed, calculated] = ['send_times_milliseconds', 'calc_milliseconds'].map(fresh)
    const seconds = (x: string): string => x.replace(/milliseconds_\d+$/, 'seconds')
    const { registry, metrics } = renamed(new Map([pushed, calculated].map(x => [x, { name: seconds(x), convert: millisecondsToSeconds }])))
    const group = metrics.registerMetricGroup(pushed, { label: 'key' })
    group.update({ success: 250, successMovingAverage: 1500, successVariance: 4e6 })
    group.increment({ failure: 500 })
    group.increment({ failure: true })
    metrics.registerMetricGroup(calculated, { label: 'key', calculate: () => ({ success: 20, successVariance: 1e6 }) })
    expect(registry.getSingleMetric(pushed)).to.equal(undefined)
    const values = Object.fromEntries((await sample(registry, seconds(pushed))).map(s => [s.labels.key, s.value]))
    expect(values).to.deep.equal({ success: 0.25, successMovingAverage: 1.5, successVariance: 4, failure: 0.501 })
    const calc = Object.fromEntries((await sample(registry, seconds(calculated))).map(s => [s.labels.key, s.value]))
    expect(calc).to.deep.equal({ success: 0.02, successVariance: 1 })
  })

  it('milliseconds to seconds: a variance scales by the square of the factor its mean scales by', () => {
    fc.assert(fc.property(fc.array(fc.double({ min: 0, max: 1e7, noNaN: true }), { minLength: 1, maxLength: 50 }), (ms) => {
      const variance = (xs: number[]): number => { const m = xs.reduce((a, b) => a + b, 0) / xs.length; return xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length }
      const inSeconds = variance(ms.map(x => millisecondsToSeconds('success', x)))
      const converted = millisecondsToSeconds('successVariance', variance(ms))
      return Math.abs(inSeconds - converted) <= 1e-9 * Math.max(1, converted)
    }))
  })

  it('renames to names without a reserved suffix or a non-base unit', () => {
    for (const [from, to] of LIBP2P_METRIC_RENAMES) {
      expect(to.name, from).to.not.match(/_(total|sum|count|bucket|milliseconds)$/)
      expect(to.name, from).to.not.equal(from)
    }
  })

  it('process metrics: collected under mycel_process_ without the _total gauges, whose sum is the by-type gauge', async () => {
    const registry = new Registry()
    collectProcessMetrics(registry)
    const names = registry.getMetricsAsArray().map(m => m.name)
    expect(names).to.include('mycel_process_nodejs_active_handles')
    expect(names).to.include('mycel_process_process_cpu_seconds_total')
    for (const dropped of DROPPED_PROCESS_METRICS) expect(names).to.not.include(dropped)
    const handles = await sample(registry, 'mycel_process_nodejs_active_handles')
    expect(handles.reduce((a, s) => a + s.value, 0)).to.equal((process as unknown as { _getActiveHandles: () => unknown[] })._getActiveHandles().length)
    registry.clear()
  })
})
