/**
 * The shared fixture of the PromQL tests: scrape rounds of a few series
 * (counters with a reset and a late start, gauges, a member that leaves),
 * fed into a SeriesStore, and their spelling in promtool's `input_series`
 * notation, so the same history can be evaluated by Prometheus itself.
 */
import { SeriesStore, seriesStoreTunables } from '../../../managers/monitoring/series-store.js'
import type { Labels } from '../../../managers/monitoring/types.js'

export const INTERVAL_MS = 60_000
export const ROUNDS = 41

interface SeriesDef { labels: Labels, value: (round: number) => number | undefined }

const loads = [0.5, 1.25, 2, 0.75, 3.5, 1, 0.25, 2.5]

export const SERIES: readonly SeriesDef[] = [
  // A counter that resets at round 12 (process restart) and keeps counting.
  { labels: { __name__: 'http_requests_total', job: 'api', instance: 'a' }, value: r => r < 12 ? 10 * r : 5 + 10 * (r - 12) },
  { labels: { __name__: 'http_requests_total', job: 'api', instance: 'b' }, value: r => 100 + 7 * r },
  // A counter that starts at round 5 from a non-zero value (extrapolation towards zero).
  { labels: { __name__: 'http_requests_total', job: 'db', instance: 'a' }, value: r => r < 5 ? undefined : 40 + 3 * (r - 5) },
  { labels: { __name__: 'mycel_member_up', peer: 'p1', region: 'r1' }, value: () => 1 },
  // p2 leaves at round 20: a staleness marker, then nothing.
  { labels: { __name__: 'mycel_member_up', peer: 'p2', region: 'r1' }, value: r => r < 20 ? 1 : undefined },
  { labels: { __name__: 'mycel_member_up', peer: 'p3', region: 'r2' }, value: r => r % 4 === 3 ? 0 : 1 },
  { labels: { __name__: 'mycel_node_load1', peer: 'p1', region: 'r1' }, value: r => loads[r % loads.length] },
  { labels: { __name__: 'mycel_node_load1', peer: 'p2', region: 'r1' }, value: r => r < 20 ? loads[(r + 3) % loads.length] : undefined },
  { labels: { __name__: 'mycel_node_load1', peer: 'p3', region: 'r2' }, value: r => 4 - loads[(r + 5) % loads.length] },
  { labels: { __name__: 'mycel_node_disk_free_ratio', peer: 'p1', region: 'r1' }, value: r => 0.5 - r / 128 },
  { labels: { __name__: 'mycel_node_disk_free_ratio', peer: 'p3', region: 'r2' }, value: r => 0.25 },
  // A gauge going negative, and one with a gap in the middle (rounds 15-17 missing).
  { labels: { __name__: 'temperature', sensor: 'x' }, value: r => 8 - r },
  { labels: { __name__: 'temperature', sensor: 'y' }, value: r => r >= 15 && r < 18 ? undefined : 2 * r }
]

/** A store holding every round (retention covering them all). */
export function fixtureStore (): SeriesStore {
  const store = new SeriesStore(seriesStoreTunables.create('lan', { retentionMs: 2 * ROUNDS * INTERVAL_MS }))
  for (let r = 0; r < ROUNDS; r++) {
    const samples: Array<{ labels: Labels, v: number }> = []
    for (const s of SERIES) {
      const v = s.value(r)
      if (v !== undefined) samples.push({ labels: s.labels, v })
    }
    store.appendScrape(r * INTERVAL_MS, samples)
  }
  return store
}

/** `name{a="1",b="2"}` in promtool's series syntax. */
export function seriesName (labels: Labels): string {
  const rest = Object.keys(labels).filter(k => k !== '__name__').sort().map(k => `${k}=${JSON.stringify(labels[k])}`)
  return `${labels.__name__ ?? ''}{${rest.join(',')}}`
}

/**
 * The rounds in promtool's expanding notation, one value per round: the
 * value, `stale` for the first round a series is missing after being
 * present (SeriesStore writes a staleness marker then), `_` otherwise.
 */
export function inputSeries (): Array<{ series: string, values: string }> {
  return SERIES.map(s => {
    const values: string[] = []
    for (let r = 0; r < ROUNDS; r++) {
      const v = s.value(r)
      values.push(v !== undefined ? String(v) : r > 0 && s.value(r - 1) !== undefined ? 'stale' : '_')
    }
    return { series: seriesName(s.labels), values: values.join(' ') }
  })
}
