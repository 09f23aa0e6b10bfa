/**
 * Alert rules in Prometheus's rule-file format (rulefmt), as `promtool check
 * rules` reads them:
 *
 *   groups:
 *     - name: mycel
 *       interval: 30s            # optional: the manager's evaluation interval otherwise
 *       limit: 100               # optional: more alerts than this from one rule fail the rule
 *       rules:
 *         - alert: MemberDown
 *           expr: mycel_member_up == 0
 *           for: 30s
 *           keep_firing_for: 1m
 *           labels: { severity: page }
 *           annotations: { summary: "{{ $labels.peer }} is down" }
 *
 * `parseRuleFile` is the one check: the CLI runs it before it writes, the
 * writing agent and every receiver run it on the stored text
 * (records.ts), and the manager runs it before it evaluates — so a file one
 * of them accepts, all of them accept. It refuses, with the line and the
 * reason, everything promtool refuses that we can see (unknown fields,
 * duplicate keys, bad durations and label names, bad expressions) and what
 * mycel does not evaluate: recording rules (use them in Prometheus,
 * deploy/prometheus), PromQL outside our subset (promql/parse.ts), template
 * actions outside our subset (template.ts), duplicate alert names, and sizes
 * beyond the limits below.
 */
import { StatusError } from '../../lib/errors.js'
import { isMap, LineCounter, parseDocument, type Document } from 'yaml'
import { z } from 'zod'
import { parsePromDuration } from './duration.js'
import { MAX_LABEL_NAME } from './matchers.js'
import { parseTemplate, InvalidTemplateError } from './template.js'
import { checkAlertExpr, parseExpr } from './promql/parse.js'
import { PromqlError } from './promql/errors.js'
import type { AlertRule, RuleGroup } from './types.js'

/** Largest rule file, bytes: it is stored as one replicated-config value (64 KiB at most, with its wrapper). */
export const MAX_RULE_FILE_BYTES = 48 * 1024
export const MAX_GROUPS = 64
export const MAX_RULES = 256
/** Labels and annotations of one rule: a rule's labels end up on every alert it makes, and alerts go to replicated config. */
export const MAX_RULE_LABELS = 16
export const MAX_RULE_ANNOTATIONS = 16
export const MAX_LABEL_VALUE_CHARS = 1024
export const MAX_ANNOTATION_CHARS = 4096
/** Problems listed in one error; the rest are counted. */
const MAX_PROBLEMS = 10

export class InvalidRuleFileError extends StatusError {
  static name = 'InvalidRuleFileError'
  override name = 'InvalidRuleFileError'
  readonly status = 422
  constructor (readonly problems: string[]) {
    super(problems.length === 1 ? problems[0] : `${problems.length} problems: ${problems.slice(0, MAX_PROBLEMS).join('; ')}${problems.length > MAX_PROBLEMS ? '; …' : ''}`)
  }
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
/** Longest label or annotation name: the alert record's bound (alert-lifecycle.ts MAX_LABEL_NAME via matchers.ts). */
const MAX_NAME_CHARS = MAX_LABEL_NAME
const duration = z.string().refine(s => parsePromDuration(s) !== undefined, { message: 'not a duration (e.g. 30s, 5m, 1h30m; units ms s m h d w y)' })
const labelMap = (max: number, maxChars: number, what: string): z.ZodType<Record<string, string>> => z.record(
  z.string(),
  z.string().max(maxChars, `${what} value longer than ${maxChars} characters`)
).superRefine((m, ctx) => {
  // Checked here, not as the record's key schema: zod would only say "Invalid key in record".
  const bad = Object.keys(m).find(k => !LABEL_NAME.test(k) || k.length > MAX_NAME_CHARS)
  if (bad !== undefined) ctx.addIssue({ code: 'custom', message: `invalid ${what} name ${JSON.stringify(bad.slice(0, 64))} (letters, digits and _, not starting with a digit, at most ${MAX_NAME_CHARS})` })
  // As rulefmt: an alert's metric name is ALERTS; a rule cannot rename it.
  if (what === 'label' && '__name__' in m) ctx.addIssue({ code: 'custom', message: 'invalid label name "__name__"' })
  if (Object.keys(m).length > max) ctx.addIssue({ code: 'custom', message: `more than ${max} ${what}s` })
})

const ruleSchema = z.strictObject({
  alert: z.string().min(1).max(128).optional(),
  record: z.string().optional(),
  expr: z.union([z.string(), z.number()]).transform(String),
  for: duration.optional(),
  keep_firing_for: duration.optional(),
  labels: labelMap(MAX_RULE_LABELS, MAX_LABEL_VALUE_CHARS, 'label').optional(),
  annotations: labelMap(MAX_RULE_ANNOTATIONS, MAX_ANNOTATION_CHARS, 'annotation').optional()
})

const fileSchema = z.strictObject({
  groups: z.array(z.strictObject({
    name: z.string().min(1, 'group name is empty').max(128),
    interval: duration.optional(),
    limit: z.number().int().nonnegative().optional(),
    rules: z.array(ruleSchema).max(MAX_RULES)
  })).max(MAX_GROUPS, `more than ${MAX_GROUPS} groups`)
})

/** One parsed group with its rules' extras that the lifecycle needs. */
export interface ParsedGroup extends RuleGroup {
  /** Most alerts one rule may make; 0: no limit. */
  limit: number
}

/** The line of the node at `path`, or of its nearest ancestor (a missing field: the map that lacks it). */
export function lineOf (doc: Document, lc: LineCounter, path: Array<string | number>): number | undefined {
  for (let p = path; p.length > 0; p = p.slice(0, -1)) {
    const node = doc.getIn(p, true) as { range?: [number, number, number] } | undefined
    if (node?.range !== undefined) return lc.linePos(node.range[0]).line
  }
  return undefined
}

/** One YAML error as `line L: what`. */
export function yamlProblem (e: { message: string, linePos?: [{ line: number }, ...unknown[]] }): string {
  return `line ${e.linePos?.[0].line ?? '?'}: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}`
}

/** The document's value; an alias bomb (yaml's ReferenceError) is refused as the file's own error. */
export function yamlToJs<E extends Error> (doc: Document, Err: new (problems: string[]) => E): unknown {
  try {
    return doc.toJS({ maxAliasCount: 100 })
  } catch (err) {
    if (err instanceof ReferenceError) throw new Err(['too many YAML aliases (an alias bomb?)'])
    throw err
  }
}

/** Parse and check a rule file; throws InvalidRuleFileError listing each problem with its line. */
export function parseRuleFile (text: string): ParsedGroup[] {
  if (Buffer.byteLength(text) > MAX_RULE_FILE_BYTES) throw new InvalidRuleFileError([`rule file of ${Buffer.byteLength(text)} bytes exceeds ${MAX_RULE_FILE_BYTES}`])
  const lc = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: true })
  if (doc.errors.length > 0) {
    throw new InvalidRuleFileError(doc.errors.map(yamlProblem))
  }
  if (doc.contents === null) throw new InvalidRuleFileError(['the rule file is empty (expected "groups:")'])
  if (!isMap(doc.contents)) throw new InvalidRuleFileError(['the rule file is not a map with "groups:"'])
  const raw = yamlToJs(doc, InvalidRuleFileError)
  const parsed = fileSchema.safeParse(raw)
  if (!parsed.success) {
    throw new InvalidRuleFileError(parsed.error.issues.map(i => {
      const path = i.path.filter((p): p is string | number => typeof p !== 'symbol')
      const line = lineOf(doc, lc, path)
      const unknown = i.code === 'unrecognized_keys' ? `field ${i.keys.map(k => JSON.stringify(k)).join(', ')} not allowed here` : i.message
      return `${line !== undefined ? `line ${line}: ` : ''}${path.join('.')}: ${unknown}`
    }))
  }
  const problems: string[] = []
  const groupNames = new Set<string>()
  const alertNames = new Map<string, string>()
  const groups: ParsedGroup[] = []
  let total = 0
  parsed.data.groups.forEach((g, gi) => {
    const where = (ri: number | undefined, field?: string): string => {
      const path: Array<string | number> = ['groups', gi, ...(ri !== undefined ? ['rules', ri] : []), ...(field !== undefined ? [field] : [])]
      const line = lineOf(doc, lc, path)
      const rule = ri !== undefined ? `, rule ${ri + 1}${g.rules[ri]?.alert !== undefined ? ` (alert ${g.rules[ri].alert})` : ''}` : ''
      return `${line !== undefined ? `line ${line}: ` : ''}group "${g.name}"${rule}`
    }
    if (groupNames.has(g.name)) problems.push(`${where(undefined)}: duplicate group name`)
    groupNames.add(g.name)
    const interval = g.interval !== undefined ? parsePromDuration(g.interval) : undefined
    if (interval === 0) problems.push(`${where(undefined, 'interval')}: interval must be above 0`)
    const rules: AlertRule[] = []
    g.rules.forEach((r, ri) => {
      total++
      if (r.record !== undefined) { problems.push(`${where(ri, 'record')}: recording rules are not evaluated by mycel (use them in Prometheus: deploy/prometheus)`); return }
      if (r.alert === undefined) { problems.push(`${where(ri)}: one of "alert" or "record" must be set`); return }
      const seen = alertNames.get(r.alert)
      if (seen !== undefined) problems.push(`${where(ri, 'alert')}: duplicate alert name "${r.alert}" (also in group "${seen}")`)
      alertNames.set(r.alert, g.name)
      if (r.expr.trim() === '') { problems.push(`${where(ri, 'expr')}: expr is empty`); return }
      try {
        checkAlertExpr(parseExpr(r.expr), r.expr)
      } catch (err) {
        if (!(err instanceof PromqlError)) throw err
        problems.push(`${where(ri, 'expr')}: expr at line ${err.position.line}, column ${err.position.column}: ${err.reason}`)
      }
      for (const [field, map] of [['labels', r.labels], ['annotations', r.annotations]] as const) {
        for (const [k, v] of Object.entries(map ?? {})) {
          try { parseTemplate(v) } catch (err) {
            if (!(err instanceof InvalidTemplateError)) throw err
            problems.push(`${where(ri, field)}: ${field}.${k}: ${err.message}`)
          }
        }
      }
      if (r.labels?.alertname !== undefined) problems.push(`${where(ri, 'labels')}: label "alertname" is set from the rule's alert name`)
      rules.push({
        alert: r.alert,
        expr: r.expr,
        forMs: r.for !== undefined ? parsePromDuration(r.for) ?? 0 : 0,
        keepFiringForMs: r.keep_firing_for !== undefined ? parsePromDuration(r.keep_firing_for) ?? 0 : 0,
        labels: r.labels ?? {},
        annotations: r.annotations ?? {}
      })
    })
    groups.push({ name: g.name, ...(interval !== undefined && interval > 0 ? { intervalMs: interval } : {}), limit: g.limit ?? 0, rules })
  })
  if (total > MAX_RULES) problems.push(`${total} rules: more than ${MAX_RULES}`)
  if (problems.length > 0) throw new InvalidRuleFileError(problems)
  return groups
}

