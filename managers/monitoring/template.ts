/**
 * Alert labels and annotations are templates, as in Prometheus rule files:
 * Go text/template with `$labels`, `$value` and a few functions. We do not
 * embed Go; we accept the subset rule authors use and refuse the rest when
 * the rules are set (with the position), so a rule file that `promtool check
 * rules` accepts either expands here exactly as Prometheus would or is
 * refused before any node runs it.
 *
 * Accepted actions, each `{{ … }}` (with `{{-`/`-}}` trimming):
 *   $labels.NAME  .Labels.NAME  index $labels "NAME"   (missing: empty, Prometheus's missingkey=zero)
 *   $value  .Value  $externalLabels.NAME (always empty: mycel has none)
 *   a pipeline of those into humanize, humanize1024, humanizePercentage,
 *   humanizeDuration, toUpper, toLower, title, or `printf "FMT" ARG`
 *   (FMT with %s %v %d %f %g %e and precision, e.g. "%.2f").
 * Comments `{{/* … *\/}}` expand to nothing.
 */
import { StatusError } from '../../lib/errors.js'
import type { Labels } from './types.js'

export class InvalidTemplateError extends StatusError {
  static name = 'InvalidTemplateError'
  override name = 'InvalidTemplateError'
  readonly status = 422
  constructor (readonly reason: string, readonly offset: number) {
    super(`${reason} at character ${offset + 1}`)
  }
}

type Arg = { kind: 'label', name: string } | { kind: 'value' } | { kind: 'empty' } | { kind: 'string', text: string }
type Fn = 'humanize' | 'humanize1024' | 'humanizePercentage' | 'humanizeDuration' | 'toUpper' | 'toLower' | 'title'
interface Action { arg: Arg, printf?: string, pipe: Fn[] }
type Part = string | Action
const FUNCTIONS: readonly Fn[] = ['humanize', 'humanize1024', 'humanizePercentage', 'humanizeDuration', 'toUpper', 'toLower', 'title']

/** A parsed template: expand it per alert. */
export interface Template { readonly parts: readonly Part[], readonly text: string }

const LABEL_REF = /^(?:\$labels|\.Labels)\.([a-zA-Z_][a-zA-Z0-9_]*)$/
const EXTERNAL_REF = /^\$externalLabels\.([a-zA-Z_][a-zA-Z0-9_]*)$/
const INDEX_REF = /^index\s+(?:\$labels|\.Labels)\s+"([a-zA-Z_][a-zA-Z0-9_]*)"$/
const PRINTF = /^printf\s+"((?:[^"\\]|\\.)*)"\s+(.+)$/
const VERB = /%(-?\d*)(?:\.(\d+))?([svdfge%])/g

function parseArg (text: string, at: number): Arg {
  if (text === '$value' || text === '.Value') return { kind: 'value' }
  const label = LABEL_REF.exec(text) ?? INDEX_REF.exec(text)
  if (label !== null) return { kind: 'label', name: label[1] }
  if (EXTERNAL_REF.test(text)) return { kind: 'empty' }
  if (/^"(?:[^"\\]|\\.)*"$/.test(text)) return { kind: 'string', text: JSON.parse(text) as string }
  throw new InvalidTemplateError(`unsupported template action '${text.slice(0, 60)}' (use $labels.NAME, $value, humanize…, printf)`, at)
}

function parseAction (body: string, at: number): Action | undefined {
  if (body.startsWith('/*')) {
    if (!body.endsWith('*/')) throw new InvalidTemplateError('unclosed template comment', at)
    return undefined
  }
  const stages = body.split('|').map(s => s.trim())
  let action: Action
  const printf = PRINTF.exec(stages[0])
  if (printf !== null) {
    checkFormat(printf[1], at)
    action = { arg: parseArg(printf[2].trim(), at), printf: JSON.parse(`"${printf[1]}"`) as string, pipe: [] }
  } else {
    const [fn, ...rest] = stages[0].split(/\s+/)
    if ((FUNCTIONS as readonly string[]).includes(fn) && rest.length > 0) {
      action = { arg: parseArg(rest.join(' '), at), pipe: [fn as Fn] }
    } else {
      action = { arg: parseArg(stages[0], at), pipe: [] }
    }
  }
  for (const s of stages.slice(1)) {
    if (!(FUNCTIONS as readonly string[]).includes(s)) throw new InvalidTemplateError(`unsupported template function '${s.slice(0, 40)}' (supported: ${FUNCTIONS.join(', ')}, printf)`, at)
    action.pipe.push(s as Fn)
  }
  return action
}

function checkFormat (fmt: string, at: number): void {
  const verbs = [...fmt.matchAll(VERB)].filter(m => m[3] !== '%')
  if (verbs.length !== 1) throw new InvalidTemplateError(`printf needs exactly one verb (%s %v %d %f %g %e) for its one argument, got ${verbs.length}`, at)
  if (/%(?!-?\d*(?:\.\d+)?[svdfge%])/.test(fmt)) throw new InvalidTemplateError(`unsupported printf verb in "${fmt.slice(0, 40)}"`, at)
}

/** Parse `text`; throws InvalidTemplateError with the offset of the action it cannot accept. */
export function parseTemplate (text: string): Template {
  const parts: Part[] = []
  let i = 0
  while (i < text.length) {
    const open = text.indexOf('{{', i)
    if (open < 0) { parts.push(text.slice(i)); break }
    let literal = text.slice(i, open)
    const close = text.indexOf('}}', open + 2)
    if (close < 0) throw new InvalidTemplateError('unclosed action: "{{" without "}}"', open)
    let body = text.slice(open + 2, close)
    let end = close + 2
    if (body.startsWith('-') && /^-\s/.test(body)) { literal = literal.trimEnd(); body = body.slice(1) }
    if (body.endsWith('-') && /\s-$/.test(body)) {
      body = body.slice(0, -1)
      while (end < text.length && /\s/.test(text[end])) end++
    }
    if (literal !== '') parts.push(literal)
    const action = parseAction(body.trim(), open)
    if (action !== undefined) parts.push(action)
    i = end
  }
  return { parts, text }
}

/** Expand for one alert. */
export function expandTemplate (t: Template, labels: Labels, value: number): string {
  let out = ''
  for (const p of t.parts) {
    if (typeof p === 'string') { out += p; continue }
    let v: string | number = p.arg.kind === 'value' ? value : p.arg.kind === 'label' ? (labels[p.arg.name] ?? '') : p.arg.kind === 'string' ? p.arg.text : ''
    if (p.printf !== undefined) v = printf(p.printf, v)
    for (const fn of p.pipe) v = apply(fn, v)
    out += typeof v === 'number' ? goFloat(v) : v
  }
  return out
}

function toNumber (v: string | number): number {
  return typeof v === 'number' ? v : Number.parseFloat(v)
}

/** Go's %v of a float64 (strconv 'g', shortest digits: what `{{ $value }}` prints): exponent form below 1e-4 and from 1e6 (1e+06). */
export function goFloat (v: number): string {
  if (Number.isNaN(v)) return 'NaN'
  if (!Number.isFinite(v)) return v > 0 ? '+Inf' : '-Inf'
  if (v === 0) return Object.is(v, -0) ? '-0' : '0'
  const [mant, expText] = v.toExponential().split('e')
  const exp = Number(expText)
  if (exp < -4 || exp >= 6) return `${mant}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`
  return String(v)
}

/** Go's %.Ng: N significant digits, trailing zeros dropped, exponent form when exp < -4 or ≥ N. */
function goG (v: number, digits: number): string {
  if (Number.isNaN(v)) return 'NaN'
  if (!Number.isFinite(v)) return v > 0 ? '+Inf' : '-Inf'
  if (v === 0) return '0'
  const [m, e] = v.toExponential(Math.max(0, digits - 1)).split('e')
  const exp = Number(e)
  const trim = (s: string): string => s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s
  if (exp < -4 || exp >= digits) return `${trim(m)}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`
  return trim(v.toFixed(Math.max(0, digits - 1 - exp)))
}

function scaled (v: number, base: number, up: string[], down: string[]): string {
  if (v === 0 || !Number.isFinite(v)) return goG(v, 4)
  let prefix = ''
  if (Math.abs(v) >= 1) {
    for (const p of up) { if (Math.abs(v) < base) break; prefix = p; v /= base }
  } else {
    for (const p of down) { if (Math.abs(v) >= 1) break; prefix = p; v *= 1000 }
  }
  return `${goG(v, 4)}${prefix}`
}

function humanizeDuration (v: number): string {
  if (!Number.isFinite(v)) return goG(v, 4)
  if (v === 0) return '0s'
  if (Math.abs(v) >= 1) {
    const sign = v < 0 ? '-' : ''
    const d = Math.trunc(Math.abs(v))
    const [days, hours, minutes, seconds] = [Math.floor(d / 86_400), Math.floor(d / 3600) % 24, Math.floor(d / 60) % 60, d % 60]
    if (days !== 0) return `${sign}${days}d ${hours}h ${minutes}m ${seconds}s`
    if (hours !== 0) return `${sign}${hours}h ${minutes}m ${seconds}s`
    if (minutes !== 0) return `${sign}${minutes}m ${seconds}s`
    return `${sign}${goG(Math.abs(v), 4)}s`
  }
  return `${scaled(v, 1000, [], ['m', 'u', 'n', 'p', 'f', 'a', 'z', 'y'])}s`
}

function apply (fn: Fn, v: string | number): string {
  switch (fn) {
    case 'humanize': return scaled(toNumber(v), 1000, ['k', 'M', 'G', 'T', 'P', 'E', 'Z', 'Y'], ['m', 'u', 'n', 'p', 'f', 'a', 'z', 'y'])
    case 'humanize1024': {
      const n = toNumber(v)
      return Math.abs(n) <= 1 || !Number.isFinite(n) ? goG(n, 4) : scaled(n, 1024, ['ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei', 'Zi', 'Yi'], [])
    }
    case 'humanizePercentage': return `${goG(toNumber(v) * 100, 4)}%`
    case 'humanizeDuration': return humanizeDuration(toNumber(v))
    case 'toUpper': return String(typeof v === 'number' ? goFloat(v) : v).toUpperCase()
    case 'toLower': return String(typeof v === 'number' ? goFloat(v) : v).toLowerCase()
    case 'title': return String(typeof v === 'number' ? goFloat(v) : v).replace(/\b\w/g, c => c.toUpperCase())
  }
}

/** Go's %.Nf: toFixed, but in positional notation beyond 1e21 too (every double that large is an integer). */
function fixed (n: number, digits: number): string {
  if (Math.abs(n) < 1e21) return n.toFixed(digits)
  return `${BigInt(n).toString()}${digits > 0 ? `.${'0'.repeat(digits)}` : ''}`
}

function printf (fmt: string, v: string | number): string {
  return fmt.replace(VERB, (_m, width: string, prec: string | undefined, verb: string) => {
    if (verb === '%') return '%'
    let s: string
    const n = toNumber(v)
    switch (verb) {
      case 's': s = typeof v === 'number' ? goFloat(v) : v; break
      case 'v': s = typeof v === 'number' ? goFloat(v) : v; break
      case 'd': s = Number.isFinite(n) ? String(Math.trunc(n)) : goFloat(n); break
      case 'f': s = Number.isFinite(n) ? fixed(n, prec === undefined ? 6 : Number(prec)) : goFloat(n); break
      case 'e': s = Number.isFinite(n) ? n.toExponential(prec === undefined ? 6 : Number(prec)).replace(/e([+-])(\d)$/, 'e$10$2') : goFloat(n); break
      default: s = prec === undefined ? goFloat(n) : goG(n, Number(prec))
    }
    const w = Number(width === '' ? 0 : width)
    return w < 0 ? s.padEnd(-w) : s.padStart(w)
  })
}
