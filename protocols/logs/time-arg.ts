/** `--since` / `--until` values: a duration back from now (`90s`, `5m`, `2h`, `7d`) or an absolute RFC 3339 time. */

const DURATION = /^(\d{1,9})(ms|s|m|h|d)$/
const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }
/** An absolute time must at least name a day (Date.parse alone takes too much: "1", "May"). */
const ABSOLUTE = /^\d{4}-\d\d-\d\d([T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?)?$/

/** Unix ms of `text` seen at `now`, or undefined when it is neither a duration nor an RFC 3339 time. */
export function parseTimeArg (text: string, now: number): number | undefined {
  const d = DURATION.exec(text)
  if (d !== null) return Math.max(0, now - Number(d[1]) * UNIT_MS[d[2]])
  if (!ABSOLUTE.test(text)) return undefined
  const t = Date.parse(text)
  return Number.isNaN(t) ? undefined : t
}

export const TIME_ARG_HELP = 'a duration back from now (30s, 5m, 2h, 7d) or a time (2026-12-02T10:00:00Z)'
