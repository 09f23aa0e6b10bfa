/**
 * The functions of signatures.ts, as Prometheus's promql/functions.go
 * computes them for float samples: `rate` / `increase` / `delta` with its
 * extrapolation and counter-reset handling (extrapolatedRate), the
 * `*_over_time` family with Kahan sums, `absent` with the labels of the
 * selector's equality matchers. Every function but `last_over_time` drops
 * the metric name, and a result with two samples of one label set is an
 * error, as in Prometheus.
 */
import type { Call, Expr, LabelMatcher, MatrixSelector } from './ast.js'
import { EvaluationError } from './errors.js'
import { checkUniqueLabelsets, dropName, kahanInc, vector, type Value, type VectorSample } from './values.js'
import type { Labels, Sample } from '../types.js'
import type { SeriesReader } from '../series-store.js'

export interface CallContext {
  at: number
  store: SeriesReader
  /** Evaluates an instant-vector or scalar argument. */
  evaluate: (e: Expr) => Value
}

type RangeFn = (samples: readonly Sample[], m: MatrixSelector, at: number) => number | undefined

const RANGE_FNS: Readonly<Record<string, RangeFn>> = {
  rate: (s, m, at) => extrapolatedRate(s, m, at, true, true),
  increase: (s, m, at) => extrapolatedRate(s, m, at, true, false),
  delta: (s, m, at) => extrapolatedRate(s, m, at, false, false),
  count_over_time: s => s.length,
  last_over_time: s => s[s.length - 1].v,
  max_over_time: s => s.reduce((max, x) => x.v > max || Number.isNaN(max) ? x.v : max, s[0].v),
  min_over_time: s => s.reduce((min, x) => x.v < min || Number.isNaN(min) ? x.v : min, s[0].v),
  sum_over_time: s => {
    let sum = 0
    let c = 0
    for (const x of s) [sum, c] = kahanInc(x.v, sum, c)
    return Number.isFinite(sum) || Number.isNaN(sum) ? sum + c : sum
  },
  avg_over_time: avgOverTime
}

const SIMPLE_FNS: Readonly<Record<string, (v: number) => number>> = { abs: Math.abs, ceil: Math.ceil, floor: Math.floor, sqrt: Math.sqrt }

export function evalCall (e: Call, ctx: CallContext): Value {
  const rangeFn = RANGE_FNS[e.func]
  if (Object.hasOwn(RANGE_FNS, e.func)) {
    const m = e.args[0] as MatrixSelector
    const out: VectorSample[] = []
    for (const series of ctx.store.range(m.selector.matchers, ctx.at, m.rangeMs)) {
      const value = rangeFn(series.samples, m, ctx.at)
      if (value !== undefined) out.push({ labels: e.func === 'last_over_time' ? series.labels : dropName(series.labels), value })
    }
    checkUniqueLabelsets(out)
    return vector(out)
  }
  const simple = SIMPLE_FNS[e.func]
  if (Object.hasOwn(SIMPLE_FNS, e.func)) return mapVector(ctx.evaluate(e.args[0]), simple)
  switch (e.func) {
    case 'time': return { type: 'scalar', value: ctx.at / 1000 }
    case 'vector': return vector([{ labels: {}, value: scalarArg(ctx.evaluate(e.args[0])) }])
    case 'scalar': {
      const v = vectorArg(ctx.evaluate(e.args[0]))
      return { type: 'scalar', value: v.length === 1 ? v[0].value : NaN }
    }
    case 'absent': {
      if (vectorArg(ctx.evaluate(e.args[0])).length > 0) return vector([])
      const arg = e.args[0]
      return vector([{ labels: arg.kind === 'vectorSelector' ? absentLabels(arg.matchers) : {}, value: 1 }])
    }
    case 'absent_over_time': {
      const m = e.args[0] as MatrixSelector
      if (ctx.store.range(m.selector.matchers, ctx.at, m.rangeMs).length > 0) return vector([])
      return vector([{ labels: absentLabels(m.selector.matchers), value: 1 }])
    }
    case 'clamp': return clamp(ctx.evaluate(e.args[0]), scalarArg(ctx.evaluate(e.args[1])), scalarArg(ctx.evaluate(e.args[2])))
    case 'clamp_min': return clamp(ctx.evaluate(e.args[0]), scalarArg(ctx.evaluate(e.args[1])), Infinity)
    case 'clamp_max': return clamp(ctx.evaluate(e.args[0]), -Infinity, scalarArg(ctx.evaluate(e.args[1])))
    default: throw new EvaluationError(`function '${e.func}' is not implemented`)
  }
}

function vectorArg (v: Value): VectorSample[] {
  if (v.type !== 'vector') throw new EvaluationError('expected an instant vector argument')
  return v.samples
}

function scalarArg (v: Value): number {
  if (v.type !== 'scalar') throw new EvaluationError('expected a scalar argument')
  return v.value
}

function mapVector (v: Value, f: (x: number) => number): Value {
  const out = vectorArg(v).map(s => ({ labels: dropName(s.labels), value: f(s.value) }))
  checkUniqueLabelsets(out)
  return vector(out)
}

function clamp (v: Value, min: number, max: number): Value {
  // Prometheus returns nothing for an empty interval.
  if (max < min) return vector([])
  return mapVector(v, x => Math.max(min, Math.min(max, x)))
}

/** absent()'s labels: each label an equality matcher names once (historic Prometheus rule: named twice, dropped). */
function absentLabels (matchers: readonly LabelMatcher[]): Labels {
  const out: Record<string, string> = {}
  const has = new Set<string>()
  for (const m of matchers) {
    if (m.name === '__name__') continue
    if (m.type === '=' && !has.has(m.name)) {
      has.add(m.name)
      if (m.value !== '') out[m.name] = m.value
    } else {
      delete out[m.name]
    }
  }
  return out
}

/** Go's time.Duration.Seconds() of a whole number of ms, rounded as Go rounds it. */
function seconds (ms: number): number {
  return Math.trunc(ms / 1000) + ((ms % 1000) * 1e6) / 1e9
}

/**
 * Prometheus 3's extrapolatedRate for float samples: the increase over the
 * samples in the window (counter resets add the value before the reset),
 * extrapolated to the window's edges when the first / last sample is within
 * 1.1 average intervals of them, else by half an interval; a counter is not
 * extrapolated below zero. Fewer than two samples: no result.
 */
function extrapolatedRate (s: readonly Sample[], m: MatrixSelector, at: number, isCounter: boolean, isRate: boolean): number | undefined {
  if (s.length < 2) return undefined
  const first = s[0]
  const last = s[s.length - 1]
  let result = last.v - first.v
  if (isCounter) {
    for (let i = 1; i < s.length; i++) if (s[i].v < s[i - 1].v) result += s[i - 1].v
  }
  const rangeStart = at - m.rangeMs
  let durationToStart = (first.t - rangeStart) / 1000
  let durationToEnd = (at - last.t) / 1000
  const sampledInterval = (last.t - first.t) / 1000
  const averageInterval = sampledInterval / (s.length - 1)
  const threshold = averageInterval * 1.1
  if (durationToStart >= threshold) durationToStart = averageInterval / 2
  if (isCounter) {
    let durationToZero = durationToStart
    if (result > 0 && first.v >= 0) durationToZero = sampledInterval * (first.v / result)
    if (durationToZero < durationToStart) durationToStart = durationToZero
  }
  if (durationToEnd >= threshold) durationToEnd = averageInterval / 2
  let factor = 1
  if (sampledInterval !== 0) factor = (sampledInterval + durationToStart + durationToEnd) / sampledInterval
  if (isRate) factor /= seconds(m.rangeMs)
  return result * factor
}

/** Prometheus's avg_over_time: a Kahan sum divided at the end, turning incremental if the sum would overflow. */
function avgOverTime (s: readonly Sample[]): number {
  let sum = s[0].v
  let count = 1
  let mean = 0
  let c = 0
  let incremental = false
  for (let i = 1; i < s.length; i++) {
    const f = s[i].v
    count = i + 1
    if (!incremental) {
      const [ns, nc] = kahanInc(f, sum, c)
      if (Number.isFinite(ns) || Number.isNaN(ns)) { sum = ns; c = nc; continue }
      incremental = true
      mean = sum / (count - 1)
      c /= count - 1
    }
    const q = (count - 1) / count;
    [mean, c] = kahanInc(f / count, q * mean, q * c)
  }
  return incremental ? mean + c : sum / count + c / count
}
