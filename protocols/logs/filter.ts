/**
 * A query's line filter: time range, level and above, component, trace id,
 * and an RE2 pattern. RE2 (re2js) matches in time linear in the line, so no
 * pattern can backtrack catastrophically on hostile or huge lines; patterns
 * RE2 does not support (backreferences, lookaround) are refused up front.
 */
import { RE2JS } from 're2js'
import { InvalidLogQueryError } from './errors.js'
import { levelRank, type LogLine } from './line.js'
import type { LogQuery } from './messages.js'

export type LineFilter = (line: LogLine) => boolean

/** The compiled pattern, or InvalidLogQueryError with RE2's reason in one line. */
export function compilePattern (pattern: string): RE2JS {
  try {
    return RE2JS.compile(pattern)
  } catch (err) {
    throw new InvalidLogQueryError(`invalid --grep pattern ${JSON.stringify(pattern)}: ${(err as Error).message.replace(/^error parsing regexp: /, '')}`)
  }
}

/** Everything but the time range: also used for followed lines. */
export function contentFilter (q: Pick<LogQuery, 'level' | 'component' | 'grep' | 'trace'>): LineFilter {
  const checks: LineFilter[] = []
  if (q.level !== undefined) {
    const min = levelRank(q.level)
    checks.push(l => levelRank(l.rec.level) >= min)
  }
  if (q.component !== undefined) {
    const c = q.component
    checks.push(l => l.rec.component === c || l.rec.module === c)
  }
  if (q.trace !== undefined) {
    const id = q.trace
    checks.push(l => l.rec.trace === id)
  }
  if (q.grep !== undefined) {
    const re = compilePattern(q.grep)
    checks.push(l => re.matcher(l.raw).find())
  }
  return (l) => checks.every(c => c(l))
}

/** The whole query's filter: [since, until) and the content. */
export function queryFilter (q: LogQuery): LineFilter {
  const content = contentFilter(q)
  const until = q.until ?? Number.POSITIVE_INFINITY
  return (l) => l.t >= q.since && l.t < until && content(l)
}
