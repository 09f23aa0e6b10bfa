/**
 * The typed PromQL syntax tree our evaluator walks (parse.ts builds it from
 * the official lezer grammar's tree). It holds only the constructs we
 * evaluate: everything else is refused at parse time with its position, so
 * an `Expr` is always evaluable.
 */
import type { Matcher } from '../types.js'

/** Offsets into the expression text, `from` inclusive, `to` exclusive. */
export interface Span { from: number, to: number }

/** PromQL's value types; `matrix` (a range vector) only as a function argument. */
export type ValueType = 'scalar' | 'vector' | 'matrix'

/** A selector's matcher, regexes compiled once at parse time (anchored, RE2-checked: regex.ts). */
export interface LabelMatcher extends Matcher {
  /** True when a label value (`''` for a missing label, as in Prometheus) satisfies the matcher. */
  readonly matches: (value: string) => boolean
}

export type ArithmeticOp = '+' | '-' | '*' | '/' | '%' | '^'
export type ComparisonOp = '==' | '!=' | '>' | '<' | '>=' | '<='
export type SetOp = 'and' | 'or' | 'unless'
export type BinaryOp = ArithmeticOp | ComparisonOp | SetOp

export const AGGREGATE_OPS = ['sum', 'min', 'max', 'avg', 'count', 'stddev', 'stdvar', 'group'] as const
export type AggregateOp = typeof AGGREGATE_OPS[number]

export interface NumberLiteral { kind: 'number', value: number, span: Span }

export interface VectorSelector {
  kind: 'vectorSelector'
  /** Every matcher, the metric name as `__name__="…"` among them. */
  matchers: readonly LabelMatcher[]
  span: Span
}

export interface MatrixSelector { kind: 'matrixSelector', selector: VectorSelector, rangeMs: number, span: Span }

export interface UnaryExpr { kind: 'unary', op: '-' | '+', expr: Expr, span: Span }

/** `on(labels)` (on: true) or `ignoring(labels)` (on: false); absent: match on every label but the name. */
export interface VectorMatching { on: boolean, labels: readonly string[] }

export interface BinaryExpr {
  kind: 'binary'
  op: BinaryOp
  lhs: Expr
  rhs: Expr
  /** The `bool` modifier of a comparison. */
  returnBool: boolean
  matching: VectorMatching | undefined
  span: Span
}

/** `by (labels)` (without: false) or `without (labels)`; absent: one group of everything. */
export interface Grouping { without: boolean, labels: readonly string[] }

export interface AggregateExpr { kind: 'aggregate', op: AggregateOp, expr: Expr, grouping: Grouping | undefined, span: Span }

export interface Call { kind: 'call', func: string, args: readonly Expr[], span: Span }

export type Expr = NumberLiteral | VectorSelector | MatrixSelector | UnaryExpr | BinaryExpr | AggregateExpr | Call
