/**
 * The monitoring manager's shared vocabulary (issue 16): series and samples
 * as the PromQL evaluator reads them, label matchers as rules, silences and
 * inhibition rules write them, and the alert rule as the rule file defines
 * it. Every part of managers/monitoring/ speaks these types; none of them
 * imports another part's internals to learn them.
 */

/** A label set; `__name__` holds the metric name, as in Prometheus. */
export type Labels = Readonly<Record<string, string>>

/** One sample: unix ms and value (NaN and ±Inf are values; `STALE_NAN` marks a series gone). */
export interface Sample { t: number, v: number }

/** A matcher of a selector, a silence or an inhibition rule (Prometheus/Alertmanager semantics: `=~` is anchored). */
export interface Matcher {
  name: string
  type: '=' | '!=' | '=~' | '!~'
  value: string
}

/** One alerting rule of a rule group, durations in ms (0: none). */
export interface AlertRule {
  alert: string
  expr: string
  forMs: number
  keepFiringForMs: number
  labels: Readonly<Record<string, string>>
  annotations: Readonly<Record<string, string>>
}

export interface RuleGroup {
  name: string
  /** Evaluation interval, ms; undefined: the manager's default. */
  intervalMs?: number
  rules: readonly AlertRule[]
}

/** Alertmanager's inhibit rule: alerts matching `target` are muted while one matching `source` fires with the same values of `equal`. */
export interface InhibitRule {
  sourceMatchers: readonly Matcher[]
  targetMatchers: readonly Matcher[]
  equal: readonly string[]
}
