/**
 * One log line as served: `{time, node, component, level, msg, ...fields}`.
 *
 * - `time`: ISO 8601 (UTC, milliseconds); `t` beside it is the same instant in
 *   Unix ms, used to merge and filter and never serialised.
 * - `component`: `agent` for the daemon's own lines, else the component's name.
 *   A pino line's own `component` field (`roles`, `trace`, `host`, a
 *   component's name in a host line) is kept as `module`.
 * - `level`: pino's names (trace, debug, info, warn, error, fatal). A component
 *   line that says none is `info`.
 * - every other structured field of the line is kept as it was written
 *   (a span's `trace`, `span`, `parent`, `name`, `hop`, `durationMs`, …);
 *   pino's `pid` is dropped (one process per node).
 *
 * `raw` is the line as stored, which `--grep` matches (Loki's line filter).
 */
import { MAX_LINE_BYTES } from './constants.js'

export const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const
export type LevelName = typeof LEVELS[number]

/** pino's numbers for its level names. */
const LEVEL_NUMBERS: Record<number, LevelName> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' }

export interface LogLine {
  /** Unix ms of `rec.time`. */
  t: number
  rec: LogRecord
  /** The line as stored. */
  raw: string
}

export interface LogRecord {
  time: string
  node: string
  component: string
  level: LevelName
  msg: string
  [field: string]: unknown
}

/** The rank of a level (higher is more severe); unknown names rank as info. */
export function levelRank (level: string): number {
  const i = LEVELS.indexOf(level as LevelName)
  return i < 0 ? 2 : i
}

function levelOf (v: unknown): LevelName | undefined {
  if (typeof v === 'number') return LEVEL_NUMBERS[v] ?? (v >= 60 ? 'fatal' : v >= 50 ? 'error' : v >= 40 ? 'warn' : v >= 30 ? 'info' : v >= 20 ? 'debug' : 'trace')
  if (typeof v === 'string') {
    const s = v.toLowerCase()
    if ((LEVELS as readonly string[]).includes(s)) return s as LevelName
    if (s === 'warning') return 'warn'
    if (s === 'err' || s === 'critical') return 'error'
  }
  return undefined
}

function timeOf (v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v > 1e14 ? Math.floor(v / 1000) : v // µs → ms (some loggers)
  if (typeof v === 'string') { const t = Date.parse(v); return Number.isNaN(t) ? undefined : t }
  return undefined
}

const LEADING_TIME = /^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d))\s/

function build (t: number, node: string, component: string, level: LevelName, msg: string, fields: Record<string, unknown>, raw: string): LogLine {
  return { t, rec: { time: new Date(t).toISOString(), node, component, level, msg, ...fields }, raw }
}

function parseObject (raw: string): Record<string, unknown> | undefined {
  if (!raw.startsWith('{')) return undefined
  try {
    const v = JSON.parse(raw) as unknown
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : undefined
  } catch { return undefined }
}

/** A line longer than MAX_LINE_BYTES, served as its beginning (its fields would not fit a frame). */
function cut (raw: string, node: string, component: string, stamp: number): LogLine {
  return build(stamp, node, component, 'info', raw.slice(0, MAX_LINE_BYTES), { truncated: true }, raw.slice(0, MAX_LINE_BYTES))
}

/**
 * A structured line (pino's, or any JSON-per-line logger's: `time`, `level`,
 * `msg` or `message`), or undefined when `raw` is not a JSON object.
 * `stamp` is the time used when the line has none.
 */
function structured (raw: string, node: string, component: string, stamp: number): LogLine | undefined {
  const o = parseObject(raw)
  if (o === undefined) return undefined
  const { time, level, msg, message, pid: _pid, component: module, node: _node, t: _t, ...fields } = o
  const text = typeof msg === 'string' ? msg : typeof message === 'string' ? message : ''
  if (module !== undefined) fields.module = module
  if (typeof msg !== 'string' && message !== undefined && typeof message !== 'string') fields.message = message
  return build(timeOf(time) ?? stamp, node, component, levelOf(level) ?? 'info', text, fields, raw)
}

/** One of the agent's own pino lines, as stored; undefined when it is not one (a damaged or cut line). */
export function agentLine (raw: string, node: string, component: string): LogLine | undefined {
  if (raw.length > MAX_LINE_BYTES) {
    const o = parseObject(raw)
    const t = o !== undefined ? timeOf(o.time) : undefined
    return t === undefined ? undefined : cut(raw, node, component, t)
  }
  const line = structured(raw, node, component, Number.NaN)
  return line === undefined || Number.isNaN(line.t) ? undefined : line
}

/**
 * A line a component wrote: JSON with its own time and level, plain text
 * starting with an RFC 3339 time, or plain text stamped with `stamp` (when
 * the agent first saw it; docs/logs.md).
 */
export function componentLine (raw: string, node: string, component: string, stamp: number): LogLine {
  if (raw.length > MAX_LINE_BYTES) return cut(raw, node, component, stamp)
  const s = structured(raw, node, component, stamp)
  if (s !== undefined) return s
  const m = LEADING_TIME.exec(raw)
  const own = m !== null ? Date.parse(m[1].replace(' ', 'T').replace(',', '.')) : Number.NaN
  return build(Number.isNaN(own) ? stamp : own, node, component, 'info', raw, {}, raw)
}

/** The JSON text a line is served as. */
export function lineJson (line: LogLine): string {
  return JSON.stringify(line.rec)
}
