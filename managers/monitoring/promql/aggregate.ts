/**
 * Aggregations (`sum`, `min`, `max`, `avg`, `count`, `stddev`, `stdvar`,
 * `group`) with `by` / `without`, computed as Prometheus's engine does:
 * Kahan–Neumaier sums, a direct mean that turns incremental when the sum
 * would overflow, Welford's variance, NaN replaced by any later value in
 * min/max. `by` keeps only the listed labels (the name too, if listed);
 * `without` drops the listed ones and always the metric name.
 */
import type { AggregateExpr, Grouping } from './ast.js'
import { kahanInc, labelsKey, type VectorSample } from './values.js'
import type { Labels } from '../types.js'

interface Group {
  labels: Labels
  value: number
  c: number
  mean: number
  count: number
  incrementalMean: boolean
}

/** Group label sets per grouping and input set (both immutable), so their keys are memoized too (values.ts). */
const grouped = new WeakMap<Grouping, WeakMap<Labels, Labels>>()
const NO_LABELS: Labels = Object.freeze({})

export function groupLabels (labels: Labels, grouping: Grouping | undefined): Labels {
  if (grouping === undefined) return NO_LABELS
  let byLabels = grouped.get(grouping)
  if (byLabels === undefined) grouped.set(grouping, byLabels = new WeakMap())
  let out = byLabels.get(labels)
  if (out === undefined) byLabels.set(labels, out = computeGroupLabels(labels, grouping))
  return out
}

function computeGroupLabels (labels: Labels, grouping: Grouping): Labels {
  if (!grouping.without) {
    const out: Record<string, string> = {}
    for (const l of grouping.labels) if (labels[l] !== undefined) out[l] = labels[l]
    return out
  }
  const out: Record<string, string> = {}
  for (const k in labels) if (k !== '__name__' && !grouping.labels.includes(k)) out[k] = labels[k]
  return out
}

export function aggregate (e: AggregateExpr, samples: readonly VectorSample[]): VectorSample[] {
  const groups = new Map<string, Group>()
  for (const s of samples) {
    const labels = groupLabels(s.labels, e.grouping)
    const key = labelsKey(labels)
    const g = groups.get(key)
    if (g === undefined) groups.set(key, start(e.op, labels, s.value))
    else add(e.op, g, s.value)
  }
  return [...groups.values()].map(g => ({ labels: g.labels, value: finish(e.op, g) }))
}

function start (op: AggregateExpr['op'], labels: Labels, f: number): Group {
  const g: Group = { labels, value: f, c: 0, mean: f, count: 1, incrementalMean: false }
  if (op === 'stddev' || op === 'stdvar') g.value = Number.isFinite(f) ? 0 : NaN
  if (op === 'group') g.value = 1
  return g
}

function add (op: AggregateExpr['op'], g: Group, f: number): void {
  switch (op) {
    case 'sum':
      [g.value, g.c] = kahanInc(f, g.value, g.c)
      return
    case 'avg': {
      g.count++
      if (!g.incrementalMean) {
        const [v, c] = kahanInc(f, g.value, g.c)
        if (Number.isFinite(v) || Number.isNaN(v)) { g.value = v; g.c = c; return }
        // The sum would overflow: continue with an incremental mean.
        g.incrementalMean = true
        g.mean = g.value / (g.count - 1)
        g.c /= g.count - 1
      }
      const q = (g.count - 1) / g.count;
      [g.mean, g.c] = kahanInc(f / g.count, q * g.mean, q * g.c)
      return
    }
    case 'max':
      if (g.value < f || Number.isNaN(g.value)) g.value = f
      return
    case 'min':
      if (g.value > f || Number.isNaN(g.value)) g.value = f
      return
    case 'count':
      g.count++
      return
    case 'stddev': case 'stdvar': {
      g.count++
      const delta = f - g.mean
      g.mean += delta / g.count
      g.value += delta * (f - g.mean)
      return
    }
    case 'group':
  }
}

function finish (op: AggregateExpr['op'], g: Group): number {
  switch (op) {
    case 'sum': return g.value + g.c
    case 'avg': return g.incrementalMean ? g.mean + g.c : g.value / g.count + g.c / g.count
    case 'count': return g.count
    case 'stdvar': return g.value / g.count
    case 'stddev': return Math.sqrt(g.value / g.count)
    default: return g.value
  }
}
