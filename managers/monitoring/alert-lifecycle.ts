/**
 * The alert lifecycle of one alerting rule, as Prometheus's
 * rules/alerting.go (`AlertingRule.Eval`) runs it, pure with the time
 * passed in, so the elected monitoring manager can keep the whole state in
 * replicated config and a new holder continues exactly where the old one
 * stopped.
 *
 * States of one alert (one label set of the rule's result):
 *
 *   (none) --active--> pending --active for >= forMs--> firing
 *   pending --not active--> (none)                 a pending alert is forgotten
 *   firing --not active for >= keepFiringForMs--> resolved
 *   resolved --kept RESOLVED_RETENTION_MS, so its resolve is (re)sent--> (none)
 *   resolved --active again--> pending (a new alert: new activeAt)
 *
 * `forMs` 0 fires in the evaluation that first sees the label set. An
 * evaluation that failed leaves the state as it is: a query error must
 * neither resolve every alert nor start their `for` again. So does a result
 * Prometheus would refuse: two samples with one label set after the rule's
 * labels are applied, or more alerts than the rule may have (its `limit`),
 * or a label set beyond the record bounds.
 *
 * Sending (`dueForSending`) is Prometheus's too: a firing alert is sent when
 * it has not been for `resendDelayMs`, a resolved one when it resolved
 * since it was last sent; each send sets `endsAt` (`validUntil`) to now +
 * 4 × max(resendDelay, interval), so an Alertmanager that stops hearing from
 * us resolves the alert itself after two missed evaluations or sends.
 *
 * The state serialises to a compact record (`ruleAlertStateSchema`);
 * `toRecord` / `fromRecord` round-trip it exactly, so the firing alert of a
 * new holder keeps its `firedAt` (= `startsAt`, no re-fire), a pending one
 * its `activeAt`, and a resolved one still gets its resolve sent.
 */
import { z } from 'zod'
import { fingerprint, MAX_LABEL_NAME } from './matchers.js'
import type { AlertRule, Labels } from './types.js'

/** Resolved alerts are kept this long for re-sending their resolve (Prometheus's `resolvedRetention`). */
export const RESOLVED_RETENTION_MS = 15 * 60_000
/** Alerts one rule may have at once (Prometheus's rule `limit`): a runaway `by (…)` must not flood the replicated record. */
export const MAX_ALERTS_PER_RULE = 1000
/** Alerts of all rules together: the replicated alert state stays below ~10 MB (~1 KB an alert). */
export const MAX_ALERTS_TOTAL = 10_000
/** Labels per alert: Prometheus sets no limit; beyond any real alert. */
export const MAX_LABELS = 64
/** Longest label value, characters. */
export const MAX_LABEL_VALUE = 1024
/** Annotations per alert. */
export const MAX_ANNOTATIONS = 32
/** Longest annotation value, characters: a longer expanded template is cut (and marked), not refused. */
export const MAX_ANNOTATION_VALUE = 4096

export type AlertStateName = 'pending' | 'firing' | 'resolved'

/** One alert of a rule. Times are unix ms. */
export interface Alert {
  labels: Labels
  annotations: Labels
  state: AlertStateName
  /** The last value the expression gave for this label set (NaN and ±Inf allowed). */
  value: number
  /** First evaluation of this episode that saw the label set. */
  activeAt: number
  /** When it turned firing: Alertmanager's `startsAt`. */
  firedAt?: number
  resolvedAt?: number
  /** First evaluation without the label set while `keep_firing_for` holds it firing. */
  keepFiringSince?: number
  lastSentAt?: number
  /** `endsAt` of the last send of a firing alert. */
  validUntil?: number
}

/** The alerts of one rule, sorted by fingerprint. Replaced whole by each step. */
export interface RuleAlertState {
  alerts: readonly Alert[]
}

export const EMPTY_RULE_STATE: RuleAlertState = { alerts: [] }

/** One sample of the rule's result: labels with the rule's labels applied (incl. `alertname`), annotations expanded. */
export interface EvalSample {
  labels: Labels
  annotations: Labels
  value: number
}

/** One evaluation's outcome: the result vector, or the error it ended in. */
export type EvalResult = { ok: true, samples: readonly EvalSample[] } | { ok: false, error: string }

export interface EvalOutcome {
  state: RuleAlertState
  /** Set when the state was left as is: the evaluation's error, or why the result was refused. */
  error?: string
}

export interface EvaluateOptions {
  /** Alerts this rule may hold; the manager passes what is left of MAX_ALERTS_TOTAL. @default MAX_ALERTS_PER_RULE */
  maxAlerts?: number
}

/** Apply one evaluation of `rule` at `now` (Prometheus `AlertingRule.Eval`). */
export function evaluate (state: RuleAlertState, rule: AlertRule, result: EvalResult, now: number, opts: EvaluateOptions = {}): EvalOutcome {
  if (!result.ok) return { state, error: result.error }
  const maxAlerts = Math.min(opts.maxAlerts ?? MAX_ALERTS_PER_RULE, MAX_ALERTS_PER_RULE)
  const seen = new Map<string, EvalSample>()
  for (const s of result.samples) {
    // Prometheus drops a label whose value is empty; alertname is always the rule's.
    const labels = Object.fromEntries(Object.entries({ ...s.labels, alertname: rule.alert }).filter(([, v]) => v !== ''))
    const problem = labelsProblem(labels)
    if (problem !== undefined) return { state, error: problem }
    const fp = fingerprint(labels)
    if (seen.has(fp)) return { state, error: 'vector contains metrics with the same labelset after applying alert labels' }
    seen.set(fp, { labels, annotations: boundedAnnotations(s.annotations), value: s.value })
  }

  const next = new Map<string, Alert>()
  const previous = new Map(state.alerts.map(a => [fingerprint(a.labels), a]))
  for (const [fp, s] of seen) {
    const old = previous.get(fp)
    if (old !== undefined && old.state !== 'resolved') {
      // Still active: the same alert; a keep_firing_for countdown stops.
      const { keepFiringSince: _, ...rest } = old
      next.set(fp, { ...rest, value: s.value, annotations: s.annotations })
    } else {
      // New, or active again after it resolved: a new pending alert (a new episode).
      next.set(fp, { labels: s.labels, annotations: s.annotations, state: 'pending', value: s.value, activeAt: now })
    }
  }
  for (const [fp, a] of previous) {
    if (seen.has(fp)) continue
    const kept = inactiveStep(a, rule, now)
    if (kept !== undefined) next.set(fp, kept)
  }
  for (const [fp, a] of next) {
    if (a.state === 'pending' && now - a.activeAt >= rule.forMs) next.set(fp, { ...a, state: 'firing', firedAt: now })
  }
  const active = [...next.values()].filter(a => a.state !== 'resolved').length
  if (active > maxAlerts) return { state, error: `exceeded limit of ${maxAlerts} alerts with ${active}` }
  return { state: { alerts: [...next.entries()].sort(([x], [y]) => x < y ? -1 : x > y ? 1 : 0).map(([, a]) => a) } }
}

/** An alert its rule's result no longer has: forgotten, kept firing, resolved, or (resolved) kept or dropped. */
function inactiveStep (a: Alert, rule: AlertRule, now: number): Alert | undefined {
  if (a.state === 'pending') return undefined
  if (a.state === 'resolved') return now - (a.resolvedAt ?? now) > RESOLVED_RETENTION_MS ? undefined : a
  const since = a.keepFiringSince ?? now
  if (rule.keepFiringForMs > 0 && now - since < rule.keepFiringForMs) return { ...a, keepFiringSince: since }
  const { keepFiringSince: _, ...rest } = a
  return { ...rest, state: 'resolved', resolvedAt: now }
}

export interface SendOptions {
  /** Minimum time between two sends of a firing alert (Prometheus `--rules.alert.resend-delay`). @default 60_000 */
  resendDelayMs?: number
  /** The rule group's evaluation interval, ms. */
  intervalMs: number
}

/** An alert as handed to delivery: Alertmanager's view of it. */
export interface OutgoingAlert {
  labels: Labels
  annotations: Labels
  status: 'firing' | 'resolved'
  /** `firedAt`. */
  startsAt: number
  /** `resolvedAt` once resolved, else now + 4 × max(resendDelay, interval). */
  endsAt: number
  fingerprint: string
}

export const DEFAULT_RESEND_DELAY_MS = 60_000

/** Prometheus `Alert.needsSending`: never pending; a resolve not yet sent; otherwise once per resend delay. */
export function needsSending (a: Alert, now: number, resendDelayMs: number): boolean {
  if (a.state === 'pending') return false
  if (a.resolvedAt !== undefined && a.resolvedAt > (a.lastSentAt ?? -Infinity)) return true
  return (a.lastSentAt ?? -Infinity) + resendDelayMs < now
}

/**
 * The alerts to send at `now` and the state that records them sent
 * (`lastSentAt`, `validUntil`); Prometheus `AlertingRule.sendAlerts`. The
 * caller keeps the new state whether or not delivery then succeeds:
 * delivery retries on its own, and the next resend covers the rest.
 */
export function dueForSending (state: RuleAlertState, now: number, opts: SendOptions): { state: RuleAlertState, alerts: OutgoingAlert[] } {
  const resendDelayMs = opts.resendDelayMs ?? DEFAULT_RESEND_DELAY_MS
  // Allow for two missed evaluations or sends before Alertmanager resolves it on its own.
  const validFor = 4 * Math.max(resendDelayMs, opts.intervalMs)
  const out: OutgoingAlert[] = []
  const alerts = state.alerts.map(a => {
    if (!needsSending(a, now, resendDelayMs)) return a
    const sent: Alert = { ...a, lastSentAt: now, validUntil: now + validFor }
    out.push({
      labels: a.labels,
      annotations: a.annotations,
      status: a.state === 'resolved' ? 'resolved' : 'firing',
      startsAt: a.firedAt ?? a.activeAt,
      endsAt: a.resolvedAt ?? sent.validUntil as number,
      fingerprint: fingerprint(a.labels)
    })
    return sent
  })
  return { state: { alerts }, alerts: out }
}

// The replicated record.

const unixMs = z.number().int().min(0).max(8.64e15)
const labelsSchema = z.record(z.string().min(1).max(MAX_LABEL_NAME), z.string().max(MAX_LABEL_VALUE))
  .refine(l => Object.keys(l).length <= MAX_LABELS, `at most ${MAX_LABELS} labels`)
const annotationsSchema = z.record(z.string().min(1).max(MAX_LABEL_NAME), z.string().max(MAX_ANNOTATION_VALUE))
  .refine(l => Object.keys(l).length <= MAX_ANNOTATIONS, `at most ${MAX_ANNOTATIONS} annotations`)
/** Values as Prometheus's API writes them: a string, so NaN and ±Inf survive JSON. */
const valueText = z.string().min(1).max(32).refine(v => !Number.isNaN(Number(v)) || v === 'NaN', 'a number')

/** One alert in the record: short keys, times in ms, absent fields left out. */
export const alertRecordSchema = z.object({
  l: labelsSchema,
  a: annotationsSchema,
  s: z.enum(['pending', 'firing', 'resolved']),
  v: valueText,
  at: unixMs,
  fired: unixMs.optional(),
  resolved: unixMs.optional(),
  keep: unixMs.optional(),
  sent: unixMs.optional(),
  until: unixMs.optional()
}).strict()

/** The record of one rule's alerts: what the manager keeps in replicated config. */
export const ruleAlertStateSchema = z.object({
  v: z.literal(1),
  alerts: z.array(alertRecordSchema).max(MAX_ALERTS_PER_RULE + 1000)
}).strict().superRefine((r, ctx) => {
  // Resolved alerts are retained on top of the active limit; a record with more active ones no holder wrote.
  if (r.alerts.filter(a => a.s !== 'resolved').length > MAX_ALERTS_PER_RULE) ctx.addIssue({ code: 'custom', message: `more than ${MAX_ALERTS_PER_RULE} active alerts` })
})
export type RuleAlertRecord = z.infer<typeof ruleAlertStateSchema>

export function toRecord (state: RuleAlertState): RuleAlertRecord {
  return {
    v: 1,
    alerts: state.alerts.map(a => dropUndefined({
      l: { ...a.labels },
      a: { ...a.annotations },
      s: a.state,
      v: String(a.value),
      at: a.activeAt,
      fired: a.firedAt,
      resolved: a.resolvedAt,
      keep: a.keepFiringSince,
      sent: a.lastSentAt,
      until: a.validUntil
    }))
  }
}

/** The state a record holds; `record` must have passed `ruleAlertStateSchema` (throws its ZodError otherwise). */
export function fromRecord (record: unknown): RuleAlertState {
  const r = ruleAlertStateSchema.parse(record)
  const alerts = r.alerts.map(a => dropUndefined<Alert>({
    labels: a.l,
    annotations: a.a,
    state: a.s,
    value: Number(a.v),
    activeAt: a.at,
    firedAt: a.fired,
    resolvedAt: a.resolved,
    keepFiringSince: a.keep,
    lastSentAt: a.sent,
    validUntil: a.until
  }))
  return { alerts: alerts.sort((x, y) => { const fx = fingerprint(x.labels); const fy = fingerprint(y.labels); return fx < fy ? -1 : fx > fy ? 1 : 0 }) }
}

function dropUndefined<T extends object> (o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T
}

function labelsProblem (labels: Labels): string | undefined {
  const entries = Object.entries(labels)
  if (entries.length > MAX_LABELS) return `alert has ${entries.length} labels, more than ${MAX_LABELS}`
  for (const [k, v] of entries) {
    if (k.length > MAX_LABEL_NAME) return `label name ${JSON.stringify(k.slice(0, 32))}… longer than ${MAX_LABEL_NAME}`
    if (v.length > MAX_LABEL_VALUE) return `label ${k} longer than ${MAX_LABEL_VALUE} characters`
  }
  return undefined
}

/** Annotations within the record bounds: a longer expanded template is cut and marked, extra annotations dropped (by name order). */
function boundedAnnotations (annotations: Labels): Labels {
  const names = Object.keys(annotations).filter(k => k.length > 0 && k.length <= MAX_LABEL_NAME).sort().slice(0, MAX_ANNOTATIONS)
  return Object.fromEntries(names.map(k => {
    const v = annotations[k] as string
    return [k, v.length > MAX_ANNOTATION_VALUE ? v.slice(0, MAX_ANNOTATION_VALUE - 1) + '…' : v]
  }))
}
