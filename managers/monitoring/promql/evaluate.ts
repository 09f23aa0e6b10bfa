/**
 * Evaluates a parsed PromQL expression (parse.ts) at one instant over the
 * series history (series-store.ts), with Prometheus's semantics: see
 * binary.ts, aggregate.ts and functions.ts for each family. NaN and ±Inf
 * flow through as in Prometheus; a failure on the data (many-to-many
 * matching, duplicate label sets) is an EvaluationError, never a crash.
 */
import type { Expr } from './ast.js'
import { aggregate } from './aggregate.js'
import { evalBinary } from './binary.js'
import { EvaluationError } from './errors.js'
import { evalCall } from './functions.js'
import { checkUniqueLabelsets, dropName, vector, type Value, type VectorSample } from './values.js'
import type { SeriesReader } from '../series-store.js'

export type { Value, VectorSample } from './values.js'

/** The value of `expr` at unix ms `at`. */
export function evaluate (expr: Expr, at: number, store: SeriesReader): Value {
  const ev = (e: Expr): Value => {
    switch (e.kind) {
      case 'number': return { type: 'scalar', value: e.value }
      case 'vectorSelector': return vector(store.instant(e.matchers, at).map(s => ({ labels: s.labels, value: s.value })))
      case 'matrixSelector': throw new EvaluationError('a range vector can only be a function argument')
      case 'unary': {
        const v = ev(e.expr)
        if (e.op === '+') return v
        if (v.type === 'scalar') return { type: 'scalar', value: -v.value }
        const out = v.samples.map(s => ({ labels: dropName(s.labels), value: -s.value }))
        checkUniqueLabelsets(out)
        return vector(out)
      }
      case 'binary': return evalBinary(e, ev(e.lhs), ev(e.rhs))
      case 'aggregate': {
        const v = ev(e.expr)
        if (v.type !== 'vector') throw new EvaluationError('aggregation over a scalar')
        return vector(aggregate(e, v.samples))
      }
      case 'call': return evalCall(e, { at, store, evaluate: ev })
    }
  }
  return ev(expr)
}

/**
 * An alerting rule's result: the instant vector, a scalar read as one
 * sample without labels (as Prometheus's rule manager reads it).
 */
export function evaluateInstant (expr: Expr, at: number, store: SeriesReader): VectorSample[] {
  const v = evaluate(expr, at, store)
  return v.type === 'vector' ? v.samples : [{ labels: {}, value: v.value }]
}
