/**
 * Prometheus durations (`model.ParseDuration`): units y w d h m s ms, each at
 * most once, largest first, compound (`1h30m`), `0` alone allowed. One year
 * is 365 days, as there. Used by rule files (`for`, `keep_firing_for`,
 * `interval`) and the CLI's `--duration`.
 */
import { parseDuration } from './promql/literals.js'

const UNIT_MS = [365 * 86_400_000, 7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1_000, 1]

/** Milliseconds of a Prometheus duration (PromQL's reading, plus `0` as model.ParseDuration allows); undefined when `text` is not one. */
export function parsePromDuration (text: string): number | undefined {
  if (text === '0') return 0
  const ms = parseDuration(text)
  return ms !== undefined && Number.isSafeInteger(ms) ? ms : undefined
}

/** The shortest Prometheus text of `ms` (`90000` → `1m30s`), as Prometheus prints durations. */
export function formatPromDuration (ms: number): string {
  if (ms === 0) return '0s'
  const units: Array<[string, number]> = [['y', UNIT_MS[0]], ['w', UNIT_MS[1]], ['d', UNIT_MS[2]], ['h', UNIT_MS[3]], ['m', UNIT_MS[4]], ['s', UNIT_MS[5]], ['ms', 1]]
  let out = ''
  let rest = ms
  for (const [u, size] of units) {
    if (rest >= size) { out += `${Math.floor(rest / size)}${u}`; rest %= size }
  }
  return out
}
