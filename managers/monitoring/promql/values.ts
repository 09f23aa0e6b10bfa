/**
 * What an evaluation gives (an instant vector or a scalar; range vectors
 * exist only as function arguments) and the label handling every operator
 * shares: dropping the metric name, matching signatures, and Prometheus's
 * refusal of a vector with two samples of the same label set.
 */
import type { Labels } from '../types.js'
import type { VectorMatching } from './ast.js'
import { EvaluationError } from './errors.js'

export interface VectorSample { labels: Labels, value: number }

export type Value =
  | { type: 'vector', samples: VectorSample[] }
  | { type: 'scalar', value: number }

export function vector (samples: VectorSample[]): Value { return { type: 'vector', samples } }

/*
 * Label sets are immutable and the store hands out the same object for a
 * series at every evaluation, so the derived set and keys are memoized per
 * object: an evaluation over thousands of series then costs map lookups.
 */
const nameless = new WeakMap<Labels, Labels>()
const keys = new WeakMap<Labels, string>()

/** The label set without `__name__` (the same object when it has none). */
export function dropName (labels: Labels): Labels {
  if (labels.__name__ === undefined) return labels
  let out = nameless.get(labels)
  if (out === undefined) {
    const { __name__: _, ...rest } = labels
    nameless.set(labels, out = rest)
  }
  return out
}

/** Canonical identity of a label set. */
export function labelsKey (labels: Labels): string {
  let key = keys.get(labels)
  if (key === undefined) keys.set(labels, key = Object.keys(labels).sort().map(k => `${k}\u0000${labels[k]}`).join('\u0001'))
  return key
}

/**
 * The key two samples must share to match: the `on` labels, or every label
 * but the `ignoring` ones and the metric name (no modifier: ignoring nothing).
 */
export function matchKey (labels: Labels, matching: VectorMatching | undefined): string {
  if (matching?.on === true) return matching.labels.map(l => labels[l] ?? '').join('\u0001')
  if (matching === undefined || matching.labels.length === 0) return labelsKey(dropName(labels))
  const ignored = matching?.labels ?? []
  return Object.keys(labels).filter(k => k !== '__name__' && !ignored.includes(k)).sort().map(k => `${k}\u0000${labels[k]}`).join('\u0001')
}

/** Prometheus refuses a result where two samples have one label set (e.g. after dropping their names). */
export function checkUniqueLabelsets (samples: readonly VectorSample[]): void {
  if (samples.length < 2) return
  const seen = new Set<string>()
  for (const s of samples) {
    const key = labelsKey(s.labels)
    if (seen.has(key)) throw new EvaluationError('vector cannot contain metrics with the same labelset')
    seen.add(key)
  }
}

/** `{a="1", b="2"}` (Prometheus's spelling of a label set, for messages and fixtures). */
export function formatLabels (labels: Labels): string {
  const name = labels.__name__ ?? ''
  const rest = Object.keys(labels).filter(k => k !== '__name__').sort().map(k => `${k}=${JSON.stringify(labels[k])}`)
  return rest.length === 0 && name !== '' ? name : `${name}{${rest.join(', ')}}`
}

/**
 * Kahan–Neumaier summation step, as Prometheus's kahansum.Inc: returns the
 * new sum and compensation.
 */
export function kahanInc (inc: number, sum: number, c: number): [number, number] {
  const t = sum + inc
  if (t === Infinity || t === -Infinity) return [t, 0]
  if (Math.abs(sum) >= Math.abs(inc)) return [t, c + ((sum - t) + inc)]
  return [t, c + ((inc - t) + sum)]
}
