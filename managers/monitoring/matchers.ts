/**
 * Label matchers as Alertmanager writes and reads them (silences, inhibition
 * rules, `mycel alert silence --matcher`), and the fingerprint of a label
 * set.
 *
 * Text syntax: Alertmanager's classic matcher parser (pkg/labels/parse.go):
 * `name=value`, `name!="v"`, `name=~"re"`, `name!~re`; the value may be
 * double-quoted, and inside it `\"`, `\\` and `\n` are escapes while any
 * other `\x` stays as written (the regex escapes users type keep working).
 * Label names follow Prometheus: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
 *
 * Regex matchers are anchored (`^(?:re)$`) as in Prometheus and
 * Alertmanager. JavaScript's engine is not RE2: constructs RE2 refuses
 * (back-references, look-around) are refused here too, so a matcher means
 * the same in mycel and in an Alertmanager; a leading `(?i)` is taken as
 * the case-insensitive flag; a pattern is bounded in length because the
 * engine backtracks (see MAX_MATCHER_VALUE).
 *
 * A label a set lacks matches as the empty string (`severity!="critical"`
 * matches an alert without `severity`), as in Alertmanager.
 */
import { compileLabelRegex } from './promql/regex.js'
import { z } from 'zod'
import { StatusError } from '../../lib/errors.js'
import type { Labels, Matcher } from './types.js'

/** Longest matcher value (and regex pattern), UTF-16 units: far beyond any real matcher, and bounds the regex engine's work per label. */
export const MAX_MATCHER_VALUE = 1024
/** Longest label name: Prometheus sets none; 128 is beyond any real one and bounds replicated records. */
export const MAX_LABEL_NAME = 128

const LABEL_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
/** Alertmanager's matcher line: name, operator (`=~` before `=`), rest (trimmed). */
const MATCHER_LINE = /^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*([\s\S]*?)\s*$/
/** Regex syntax RE2 (Go's regexp, which Alertmanager uses) refuses: back-references and look-around. */
const NOT_RE2 = /\\[1-9]|\\k<|\(\?<?[=!]/

/** Matcher text that does not parse, or a regex that does not compile; the message names the text and the problem on one line. */
export class MatcherParseError extends StatusError {
  static name = 'MatcherParseError'
  override name = 'MatcherParseError'
  readonly status = 400
  constructor (readonly text: string, readonly problem: string) {
    super(`bad matcher ${JSON.stringify(text)}: ${problem}`)
  }
}

/** A matcher as stored (silences, inhibit rules): the types' shape, bounded, with a regex that compiles. */
export const matcherSchema: z.ZodType<Matcher> = z.object({
  name: z.string().min(1).max(MAX_LABEL_NAME).regex(LABEL_NAME, 'a label name'),
  type: z.enum(['=', '!=', '=~', '!~']),
  value: z.string().max(MAX_MATCHER_VALUE)
}).strict().superRefine((m, ctx) => {
  const problem = regexProblem(m)
  if (problem !== undefined) ctx.addIssue({ code: 'custom', path: ['value'], message: problem })
})

/** Parse one matcher, e.g. `severity=~"warn|crit"`. Throws MatcherParseError. */
export function parseMatcher (text: string): Matcher {
  const m = MATCHER_LINE.exec(text)
  if (m === null) throw new MatcherParseError(text, 'expected name=value, name!=value, name=~regex or name!~regex')
  const [, name, type, raw] = m as unknown as [string, string, Matcher['type'], string]
  if (name.length > MAX_LABEL_NAME) throw new MatcherParseError(text, `label name longer than ${MAX_LABEL_NAME}`)
  const value = unquote(text, raw)
  if (value.length > MAX_MATCHER_VALUE) throw new MatcherParseError(text, `value longer than ${MAX_MATCHER_VALUE}`)
  const matcher: Matcher = { name, type, value }
  const problem = regexProblem(matcher)
  if (problem !== undefined) throw new MatcherParseError(text, problem)
  return matcher
}

/**
 * Parse a matcher list: either several texts (repeated `--matcher`), or one
 * text in braces / comma-separated (`{a="1",b=~"x|y"}`), as amtool takes.
 * Commas inside quoted values do not split.
 */
export function parseMatchers (texts: string | readonly string[]): Matcher[] {
  const list = typeof texts === 'string' ? [texts] : texts
  const out: Matcher[] = []
  for (const text of list) {
    let body = text.trim()
    if (body.startsWith('{') && body.endsWith('}')) body = body.slice(1, -1)
    for (const part of splitTopLevel(body)) if (part.trim() !== '') out.push(parseMatcher(part))
  }
  return out
}

/** The text form, quoted and escaped so `parseMatcher` reads it back equal. */
export function formatMatcher (m: Matcher): string {
  return `${m.name}${m.type}"${m.value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`
}

/** Does one matcher match `value` (a missing label is '')? */
export function matcherMatches (m: Matcher, value: string): boolean {
  switch (m.type) {
    case '=': return value === m.value
    case '!=': return value !== m.value
    case '=~': return compiled(m.value).test(value)
    case '!~': return !compiled(m.value).test(value)
  }
}

/** Do all `matchers` match `labels` (an empty list matches everything, as in Alertmanager)? */
export function matches (matchers: readonly Matcher[], labels: Labels): boolean {
  return matchers.every(m => matcherMatches(m, labels[m.name] ?? ''))
}

/**
 * The fingerprint of a label set exactly as Prometheus's common/model
 * computes it (`LabelSet.Fingerprint`), so it equals the `fingerprint`
 * Alertmanager reports for the same alert: 64-bit FNV-1a over the label
 * names in sorted order, each name and value followed by the byte 0xff,
 * over UTF-8 bytes; written as 16 lowercase hex digits. Independent of the
 * order the labels were written in; the empty set hashes to the FNV offset.
 */
export function fingerprint (labels: Labels): string {
  let h = FNV_OFFSET
  const enc = new TextEncoder()
  for (const name of Object.keys(labels).sort(byCodePoint)) {
    h = fnvAdd(h, enc.encode(name))
    h = fnvByte(h, 0xff)
    h = fnvAdd(h, enc.encode(labels[name] as string))
    h = fnvByte(h, 0xff)
  }
  return h.toString(16).padStart(16, '0')
}

const FNV_OFFSET = 14695981039346656037n
const FNV_PRIME = 1099511628211n
const MASK64 = (1n << 64n) - 1n

function fnvByte (h: bigint, b: number): bigint {
  return ((h ^ BigInt(b)) * FNV_PRIME) & MASK64
}

function fnvAdd (h: bigint, bytes: Uint8Array): bigint {
  for (const b of bytes) h = fnvByte(h, b)
  return h
}

/** Go sorts strings by bytes; for UTF-16 code units that is code point order outside surrogates, which label names (ASCII) never use. */
function byCodePoint (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** Alertmanager's unescaping of a matcher value (see the header). */
function unquote (text: string, raw: string): string {
  let quoted = false
  let rest = raw
  if (rest.startsWith('"')) {
    quoted = true
    rest = rest.slice(1)
  }
  let out = ''
  let escaped = false
  const chars = [...rest]
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] as string
    if (escaped) {
      escaped = false
      out += c === 'n' ? '\n' : c === '"' || c === '\\' ? c : '\\' + c
      continue
    }
    if (c === '\\') {
      if (i < chars.length - 1) escaped = true
      else out += '\\'
    } else if (c === '"') {
      if (!quoted || i < chars.length - 1) throw new MatcherParseError(text, 'unescaped double quote in the value')
      quoted = false
    } else {
      out += c
    }
  }
  if (quoted) throw new MatcherParseError(text, 'missing closing double quote')
  return out
}

/** Split on commas outside double quotes (a `\"` inside quotes does not close them). */
function splitTopLevel (s: string): string[] {
  const parts: string[] = []
  let cur = ''
  let inQuotes = false
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string
    if (inQuotes && c === '\\' && i + 1 < s.length) {
      cur += c + (s[++i] as string)
      continue
    }
    if (c === '"') inQuotes = !inQuotes
    if (c === ',' && !inQuotes) {
      parts.push(cur)
      cur = ''
    } else {
      cur += c
    }
  }
  parts.push(cur)
  return parts
}

function regexProblem (m: Matcher): string | undefined {
  if (m.type !== '=~' && m.type !== '!~') return undefined
  if (NOT_RE2.test(m.value)) return 'back-references and look-around are not RE2 syntax'
  try {
    compiled(m.value)
    return undefined
  } catch (err) {
    return `invalid regex: ${(err as Error).message}`
  }
}

/** Compiled anchored regexes by pattern; bounded so a stream of distinct patterns cannot grow it. */
const cache = new Map<string, RegExp>()
const MAX_CACHED_REGEXES = 1000

function compiled (pattern: string): RegExp {
  let re = cache.get(pattern)
  if (re === undefined) {
    // The PromQL evaluator's RE2 translation: `(?i)`, RE2 escapes, and the refusal of patterns that would
    // backtrack exponentially here (a silence's regex runs against every firing alert every round).
    re = compileLabelRegex(pattern, { dotAll: false })
    if (cache.size >= MAX_CACHED_REGEXES) cache.clear()
    cache.set(pattern, re)
  }
  return re
}
