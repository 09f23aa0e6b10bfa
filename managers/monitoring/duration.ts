/**
 * Prometheus durations (`model.ParseDuration`): units y w d h m s ms, each at
 * most once, largest first, compound (`1h30m`), `0` alone allowed. One year
 * is 365 days, as there. Used by rule files (`for`, `keep_firing_for`,
 * `interval`) and the CLI's `--duration`.
 */
import { parseDuration } from './promql/literals.js'

/** Milliseconds of a Prometheus duration (PromQL's reading, plus `0` as model.ParseDuration allows); undefined when `text` is not one. */
export function parsePromDuration (text: string): number | undefined {
  if (text === '0') return 0
  const ms = parseDuration(text)
  return ms !== undefined && Number.isSafeInteger(ms) ? ms : undefined
}
