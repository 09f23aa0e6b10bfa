/**
 * One rule group's evaluation, as Prometheus's AlertingRule.Eval does it:
 * the expression at `at` over the series store; each result sample becomes
 * an alert whose labels are the sample's (without `__name__`) plus the
 * rule's labels, templates expanded with the sample's labels and value, and
 * `alertname`; annotations expanded the same way. The lifecycle
 * (alert-lifecycle.ts) then decides pending, firing, resolved.
 */
import { EvaluationError } from './promql/errors.js'
import { evaluateInstant } from './promql/evaluate.js'
import { parseExpr } from './promql/parse.js'
import type { Expr } from './promql/ast.js'
import type { SeriesReader } from './series-store.js'
import { expandTemplate, parseTemplate, type Template } from './template.js'
import type { EvalResult } from './alert-lifecycle.js'
import type { ParsedGroup } from './rule-file.js'
import type { AlertRule, Labels } from './types.js'

export interface CompiledRule {
  group: string
  rule: AlertRule
  /** The rule's key in the alert state: `<group>/<alert>` (alert names are unique in a file). */
  key: string
  expr: Expr
  /** The longest range the expression reads (`x[15m]`), ms; 0 when it reads instants only. */
  rangeMs: number
  labels: ReadonlyArray<readonly [string, Template]>
  annotations: ReadonlyArray<readonly [string, Template]>
}

export interface CompiledGroup {
  name: string
  /** The group's own interval, ms; undefined: the duty's. */
  intervalMs?: number
  limit: number
  rules: readonly CompiledRule[]
}

/** Compile groups that parseRuleFile accepted (so nothing here throws for them). */
export function compileRules (groups: readonly ParsedGroup[]): CompiledGroup[] {
  return groups.map(g => ({
    name: g.name,
    ...(g.intervalMs !== undefined ? { intervalMs: g.intervalMs } : {}),
    limit: g.limit,
    rules: g.rules.map(rule => {
      const expr = parseExpr(rule.expr)
      return {
        group: g.name,
        rule,
        key: ruleKey(g.name, rule.alert),
        expr,
        rangeMs: longestRange(expr),
        labels: Object.entries(rule.labels).map(([k, v]) => [k, parseTemplate(v)] as const),
        annotations: Object.entries(rule.annotations).map(([k, v]) => [k, parseTemplate(v)] as const)
      }
    })
  }))
}

/** The longest range selector in `e`, ms. */
export function longestRange (e: Expr): number {
  switch (e.kind) {
    case 'matrixSelector': return e.rangeMs
    case 'unary': case 'aggregate': return longestRange(e.expr)
    case 'binary': return Math.max(longestRange(e.lhs), longestRange(e.rhs))
    case 'call': return e.args.reduce((m, a) => Math.max(m, longestRange(a)), 0)
    default: return 0
  }
}

export function ruleKey (group: string, alert: string): string {
  // `/` in a group name is escaped: group "a/b" with alert "c" and group "a" with alert "b/c" are two rules.
  return `${group.replaceAll('%', '%25').replaceAll('/', '%2F')}/${alert}`
}

/** Evaluate one rule at `at`; an evaluation error is the result's error, never thrown. */
export function evalRule (r: CompiledRule, at: number, store: SeriesReader): EvalResult {
  let samples
  try {
    samples = evaluateInstant(r.expr, at, store)
  } catch (err) {
    if (err instanceof EvaluationError) return { ok: false, error: err.message }
    throw err
  }
  return {
    ok: true,
    samples: samples.map(s => {
      const { __name__: _, ...metric } = s.labels
      const labels: Record<string, string> = { ...metric }
      for (const [k, t] of r.labels) labels[k] = expandTemplate(t, s.labels, s.value)
      const annotations: Record<string, string> = {}
      for (const [k, t] of r.annotations) annotations[k] = expandTemplate(t, s.labels, s.value)
      return { labels: labels as Labels, annotations, value: s.value }
    })
  }
}
