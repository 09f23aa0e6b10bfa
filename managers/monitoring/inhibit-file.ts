/**
 * Inhibition rules as Alertmanager's configuration writes them, so an
 * operator can paste the `inhibit_rules:` section of their alertmanager.yml:
 *
 *   inhibit_rules:
 *     - source_matchers: ['alertname = RegionDown']
 *       target_matchers: ['severity =~ warning|info']
 *       equal: [region]
 *     - source_match: { alertname: MemberDown }     # the older form, still read
 *       target_match_re: { alertname: 'Component.*' }
 *       equal: [peer]
 *
 * A Prometheus rule file has no place for them (`promtool check rules`
 * refuses unknown keys), hence a file of its own, `mycel alert inhibit set
 * FILE`. The built-in topology rule (a dead peer's MemberDown mutes the
 * peer's other alerts) needs no entry: inhibition.ts applies it always.
 */
import { StatusError } from '../../lib/errors.js'
import { isMap, LineCounter, parseDocument } from 'yaml'
import { z } from 'zod'
import { parseMatcher, MatcherParseError } from './matchers.js'
import type { InhibitRule, Matcher } from './types.js'
import { lineOf as lineIn, MAX_RULE_FILE_BYTES, yamlProblem, yamlToJs } from './rule-file.js'

export const MAX_INHIBIT_RULES = 64
const MAX_MATCHERS = 16
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/

export class InvalidInhibitFileError extends StatusError {
  static name = 'InvalidInhibitFileError'
  override name = 'InvalidInhibitFileError'
  readonly status = 422
}

const stringMap = z.record(z.string(), z.string().max(1024)).superRefine((m, ctx) => {
  const bad = Object.keys(m).find(k => !LABEL_NAME.test(k))
  if (bad !== undefined) ctx.addIssue({ code: 'custom', message: `invalid label name ${JSON.stringify(bad.slice(0, 64))}` })
  if (Object.keys(m).length > MAX_MATCHERS) ctx.addIssue({ code: 'custom', message: `more than ${MAX_MATCHERS} matchers` })
})
const ruleSchema = z.strictObject({
  source_matchers: z.array(z.string().max(2048)).max(MAX_MATCHERS).optional(),
  target_matchers: z.array(z.string().max(2048)).max(MAX_MATCHERS).optional(),
  source_match: stringMap.optional(),
  source_match_re: stringMap.optional(),
  target_match: stringMap.optional(),
  target_match_re: stringMap.optional(),
  equal: z.array(z.string().regex(LABEL_NAME, 'invalid label name')).max(MAX_MATCHERS).optional()
})
const fileSchema = z.strictObject({ inhibit_rules: z.array(ruleSchema).max(MAX_INHIBIT_RULES, `more than ${MAX_INHIBIT_RULES} rules`) })

function fromMaps (eq: Record<string, string> | undefined, re: Record<string, string> | undefined): Matcher[] {
  const out: Matcher[] = []
  for (const [name, value] of Object.entries(eq ?? {})) out.push({ name, type: '=', value })
  for (const [name, value] of Object.entries(re ?? {})) out.push(parseMatcher(`${name}=~${JSON.stringify(value)}`))
  return out
}

/** Parse and check an inhibit-rules file; throws InvalidInhibitFileError naming the line and the problem. */
export function parseInhibitFile (text: string): InhibitRule[] {
  if (Buffer.byteLength(text) > MAX_RULE_FILE_BYTES) throw new InvalidInhibitFileError(`inhibit-rules file of ${Buffer.byteLength(text)} bytes exceeds ${MAX_RULE_FILE_BYTES}`)
  const lc = new LineCounter()
  const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: true, prettyErrors: true })
  if (doc.errors.length > 0) throw new InvalidInhibitFileError(yamlProblem(doc.errors[0]))
  if (!isMap(doc.contents)) throw new InvalidInhibitFileError('the file is not a map with "inhibit_rules:"')
  const parsed = fileSchema.safeParse(yamlToJs(doc, class extends InvalidInhibitFileError { constructor (p: string[]) { super(p.join('; ')) } }))
  const lineOf = (path: Array<string | number>): string => {
    const line = lineIn(doc, lc, path)
    return line === undefined ? '' : `line ${line}: `
  }
  if (!parsed.success) {
    const i = parsed.error.issues[0]
    const path = i.path.filter((p): p is string | number => typeof p !== 'symbol')
    throw new InvalidInhibitFileError(`${lineOf(path)}${path.join('.')}: ${i.code === 'unrecognized_keys' ? `field ${i.keys.map(k => JSON.stringify(k)).join(', ')} not allowed here` : i.message}`)
  }
  return parsed.data.inhibit_rules.map((r, ri) => {
    const at = (field: string, j?: number): string => `${lineOf(['inhibit_rules', ri, field, ...(j !== undefined ? [j] : [])])}inhibit rule ${ri + 1}: ${field}`
    const list = (field: 'source_matchers' | 'target_matchers'): Matcher[] => (r[field] ?? []).map((m, j) => {
      try { return parseMatcher(m) } catch (err) {
        if (err instanceof MatcherParseError) throw new InvalidInhibitFileError(`${at(field, j)}: ${err.message}`)
        throw err
      }
    })
    let source: Matcher[]
    let target: Matcher[]
    try {
      source = [...list('source_matchers'), ...fromMaps(r.source_match, r.source_match_re)]
      target = [...list('target_matchers'), ...fromMaps(r.target_match, r.target_match_re)]
    } catch (err) {
      if (err instanceof MatcherParseError) throw new InvalidInhibitFileError(`${lineOf(['inhibit_rules', ri])}inhibit rule ${ri + 1}: ${err.message}`)
      throw err
    }
    if (source.length === 0) throw new InvalidInhibitFileError(`${lineOf(['inhibit_rules', ri])}inhibit rule ${ri + 1}: no source matchers (it would inhibit by every alert)`)
    if (target.length === 0) throw new InvalidInhibitFileError(`${lineOf(['inhibit_rules', ri])}inhibit rule ${ri + 1}: no target matchers (it would inhibit every alert)`)
    return { sourceMatchers: source, targetMatchers: target, equal: r.equal ?? [] }
  })
}
