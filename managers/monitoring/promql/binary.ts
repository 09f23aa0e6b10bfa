/**
 * Binary operators with Prometheus's semantics: arithmetic and comparisons
 * between scalars and instant vectors (one-to-one matching, `on` /
 * `ignoring`, `bool`), and the set operators `and`, `or`, `unless`.
 *
 * Labels: arithmetic and `bool` comparisons drop the metric name; a
 * filtering comparison keeps the sample as it was (with the vector side's
 * value even when the scalar is on the left). One-to-one results keep only
 * the `on` labels, or lose the `ignoring` ones. Set operators keep each
 * sample's labels untouched.
 */
import type { BinaryExpr, BinaryOp } from './ast.js'
import { EvaluationError } from './errors.js'
import { checkUniqueLabelsets, dropName, formatLabels, matchKey, vector, type Value, type VectorSample } from './values.js'
import type { Labels } from '../types.js'

const COMPARISON = new Set<BinaryOp>(['==', '!=', '>', '<', '>=', '<='])

/** Go's math.Pow, where it differs from JavaScript's: 1^y is 1 and (−1)^±Inf is 1. */
function pow (x: number, y: number): number {
  if (x === 1 || (x === -1 && !Number.isFinite(y) && !Number.isNaN(y))) return 1
  return x ** y
}

/** The value of `l op r`, and whether a comparison holds (always true for arithmetic). */
function apply (op: BinaryOp, l: number, r: number): [number, boolean] {
  switch (op) {
    case '+': return [l + r, true]
    case '-': return [l - r, true]
    case '*': return [l * r, true]
    case '/': return [l / r, true]
    // JavaScript's % is Go's math.Mod (sign of the dividend, NaN for x % 0).
    case '%': return [l % r, true]
    case '^': return [pow(l, r), true]
    case '==': return [l, l === r]
    case '!=': return [l, l !== r]
    case '>': return [l, l > r]
    case '<': return [l, l < r]
    case '>=': return [l, l >= r]
    case '<=': return [l, l <= r]
    default: throw new EvaluationError(`operator '${op}' not allowed here`)
  }
}

export function evalBinary (e: BinaryExpr, lhs: Value, rhs: Value): Value {
  if (lhs.type === 'scalar' && rhs.type === 'scalar') {
    const [v, keep] = apply(e.op, lhs.value, rhs.value)
    return { type: 'scalar', value: COMPARISON.has(e.op) ? (keep ? 1 : 0) : v }
  }
  if (lhs.type === 'vector' && rhs.type === 'vector') {
    switch (e.op) {
      case 'and': return vector(setOp(lhs.samples, rhs.samples, e, true))
      case 'unless': return vector(setOp(lhs.samples, rhs.samples, e, false))
      case 'or': return vector(or(lhs.samples, rhs.samples, e))
      default: return vector(oneToOne(lhs.samples, rhs.samples, e))
    }
  }
  const out = lhs.type === 'vector' ? vectorScalar(lhs.samples, (rhs as { value: number }).value, e, false) : vectorScalar((rhs as { samples: VectorSample[] }).samples, (lhs as { value: number }).value, e, true)
  checkUniqueLabelsets(out)
  return vector(out)
}

function vectorScalar (samples: readonly VectorSample[], scalar: number, e: BinaryExpr, scalarLeft: boolean): VectorSample[] {
  const comparison = COMPARISON.has(e.op)
  const out: VectorSample[] = []
  for (const s of samples) {
    const [v, keep] = scalarLeft ? apply(e.op, scalar, s.value) : apply(e.op, s.value, scalar)
    if (e.returnBool) out.push({ labels: dropName(s.labels), value: keep ? 1 : 0 })
    else if (!comparison) out.push({ labels: dropName(s.labels), value: v })
    else if (keep) out.push({ labels: s.labels, value: s.value })
  }
  return out
}

function oneToOne (lhs: readonly VectorSample[], rhs: readonly VectorSample[], e: BinaryExpr): VectorSample[] {
  if (lhs.length === 0 || rhs.length === 0) return []
  const right = new Map<string, VectorSample>()
  for (const r of rhs) {
    const key = matchKey(r.labels, e.matching)
    const dup = right.get(key)
    if (dup !== undefined) {
      const [a, b] = [formatLabels(r.labels), formatLabels(dup.labels)].sort()
      throw new EvaluationError(`found duplicate series for the match group ${formatLabels(matchedLabels(r.labels, e))} on the right hand-side of the operation: [${a}, ${b}];many-to-many matching not allowed: matching labels must be unique on one side`)
    }
    right.set(key, r)
  }
  const matched = new Set<string>()
  const dropsName = !COMPARISON.has(e.op) || e.returnBool
  const out: VectorSample[] = []
  for (const l of lhs) {
    const key = matchKey(l.labels, e.matching)
    const r = right.get(key)
    if (r === undefined) continue
    if (matched.has(key)) throw new EvaluationError('multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)')
    matched.add(key)
    const [v, keep] = apply(e.op, l.value, r.value)
    if (!keep && !e.returnBool) continue
    out.push({ labels: resultLabels(l.labels, e, dropsName), value: e.returnBool ? (keep ? 1 : 0) : v })
  }
  checkUniqueLabelsets(out)
  return out
}

function matchedLabels (labels: Labels, e: BinaryExpr): Labels {
  if (e.matching?.on === true) return Object.fromEntries(e.matching.labels.filter(l => labels[l] !== undefined).map(l => [l, labels[l]]))
  const ignored = e.matching?.labels ?? []
  return Object.fromEntries(Object.entries(labels).filter(([k]) => k !== '__name__' && !ignored.includes(k)))
}

function resultLabels (labels: Labels, e: BinaryExpr, dropsName: boolean): Labels {
  const base = dropsName ? dropName(labels) : labels
  if (e.matching === undefined) return base
  if (e.matching.on) return Object.fromEntries(e.matching.labels.filter(l => base[l] !== undefined).map(l => [l, base[l]]))
  const ignored = e.matching.labels
  return Object.fromEntries(Object.entries(base).filter(([k]) => !ignored.includes(k)))
}

/** `and` (keep: true) or `unless` (keep: false): the left samples with (without) a match on the right. */
function setOp (lhs: readonly VectorSample[], rhs: readonly VectorSample[], e: BinaryExpr, keep: boolean): VectorSample[] {
  const right = new Set(rhs.map(r => matchKey(r.labels, e.matching)))
  return lhs.filter(l => right.has(matchKey(l.labels, e.matching)) === keep)
}

function or (lhs: readonly VectorSample[], rhs: readonly VectorSample[], e: BinaryExpr): VectorSample[] {
  const left = new Set(lhs.map(l => matchKey(l.labels, e.matching)))
  return [...lhs, ...rhs.filter(r => !left.has(matchKey(r.labels, e.matching)))]
}
