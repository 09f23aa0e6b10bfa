/**
 * The series history the monitoring manager's PromQL evaluator reads: per
 * series (labels incl. `__name__`) a ring of (t, v) in typed arrays, in
 * bounded memory.
 *
 * The manager appends one evaluation round's full set at a time
 * (`appendScrape`). A series present in the previous round and absent from
 * this one gets a staleness marker, as Prometheus's scrape loop writes
 * StaleNaN: an instant selector stops returning it at once rather than
 * after the 5-minute lookback, so `mycel_member_up` of a peer that left does
 * not linger. Reads follow Prometheus 3: an instant read takes the latest
 * sample in (t − lookback, t], none if that is a staleness marker; a range
 * read takes the samples in (t − range, t], markers dropped.
 *
 * Bounds: samples older than `retentionMs` are dropped, each series' ring
 * holds at most `maxSamplesPerSeries`, and at most `maxSeries` series are
 * kept: a new series beyond it replaces the series gone longest (stale, no
 * sample since), or is refused when every kept series is live. Both are
 * counted (`stats()`), never thrown: a burst of label values must not stop
 * the manager.
 */
import { z } from 'zod'
import { defineTunables, tunable } from '../../lib/tunables.js'
import type { LabelMatcher } from './promql/ast.js'
import { labelsKey } from './promql/values.js'
import type { Labels, Sample } from './types.js'

export interface SeriesStoreTunables {
  /** Oldest sample kept, ms: the longest range an expression can usefully read. */
  retentionMs: number
  /** Ring capacity per series: retention / evaluation interval, with room for jitter. */
  maxSamplesPerSeries: number
  /** Most series kept: with the ring capacity, the memory bound. */
  maxSeries: number
  /** How far back an instant selector looks for a sample, ms (Prometheus's lookback delta). */
  lookbackMs: number
}

/*
 * Memory: a sample costs 8 B (t) + 8 B (v) + 1 B (stale flag) = 17 B, so the
 * bound is maxSeries × maxSamplesPerSeries × 17 B, reached only when every
 * series is full.
 */
export const seriesStoreTunables = defineTunables<SeriesStoreTunables>({
  module: 'monitoring.series',
  schema: z.strictObject({
    retentionMs: tunable.positive(),
    maxSamplesPerSeries: tunable.positive(),
    maxSeries: tunable.positive(),
    lookbackMs: tunable.positive()
  }),
  profiles: {
    // 1 h covers `rate(x[15m])`, `avg_over_time(x[1h])` and an hour of `for`; at the 10 s
    // evaluation interval that is 360 samples (400 with jitter). 100 nodes × ~40 series =
    // 4000 series; 5000 × 400 × 17 B = 34 MB at most.
    lan: { retentionMs: 3_600_000, maxSamplesPerSeries: 400, maxSeries: 5000, lookbackMs: 300_000 },
    // Wider regions evaluate every 30 s: 1 h is 120 samples (140); more nodes per region.
    // 20000 × 140 × 17 B = 48 MB at most.
    wan: { retentionMs: 3_600_000, maxSamplesPerSeries: 140, maxSeries: 20_000, lookbackMs: 300_000 },
    // Tests evaluate about every 200 ms and read minutes: 5 min is 1500 samples; 500 × 1600 × 17 B = 14 MB at most.
    test: { retentionMs: 300_000, maxSamplesPerSeries: 1600, maxSeries: 500, lookbackMs: 300_000 }
  },
  relations: [
    t => t.retentionMs >= t.lookbackMs ? undefined : 'retentionMs must cover lookbackMs: an instant read looks that far back'
  ]
})

/** What the evaluator reads (SeriesStore implements it; tests may fake it). */
export interface SeriesReader {
  /** Each series matching every matcher with its latest sample in (at − lookback, at], unless that is a staleness marker. */
  instant: (matchers: readonly LabelMatcher[], at: number) => Array<{ labels: Labels, value: number }>
  /** Each series matching every matcher with its samples in (at − rangeMs, at], oldest first, markers dropped; series without any omitted. */
  range: (matchers: readonly LabelMatcher[], at: number, rangeMs: number) => Array<{ labels: Labels, samples: Sample[] }>
}

export interface SeriesStoreStats {
  series: number
  samples: number
  /** New series refused because `maxSeries` live series were kept. */
  refusedSeries: number
  /** Gone series evicted to make room for a new one. */
  evictedSeries: number
  /** Rounds dropped because their time was not after the previous round's. */
  outOfOrderScrapes: number
}

const INITIAL_CAPACITY = 16

/** One series' ring, oldest sample at `head`. */
class Ring {
  t: Float64Array
  v: Float64Array
  stale: Uint8Array
  head = 0
  size = 0
  constructor (readonly key: string, readonly labels: Labels, private readonly max: number) {
    const cap = Math.min(INITIAL_CAPACITY, max)
    this.t = new Float64Array(cap)
    this.v = new Float64Array(cap)
    this.stale = new Uint8Array(cap)
  }

  private at (i: number): number { return (this.head + i) % this.t.length }
  timeAt (i: number): number { return this.t[this.at(i)] }
  valueAt (i: number): number { return this.v[this.at(i)] }
  staleAt (i: number): boolean { return this.stale[this.at(i)] === 1 }
  get newest (): number { return this.size === 0 ? -Infinity : this.timeAt(this.size - 1) }
  get isStale (): boolean { return this.size > 0 && this.staleAt(this.size - 1) }

  push (t: number, v: number, stale: boolean): void {
    if (this.size === this.t.length && this.size < this.max) this.grow()
    if (this.size === this.t.length) {
      this.head = (this.head + 1) % this.t.length
      this.size--
    }
    const i = this.at(this.size)
    this.t[i] = t
    this.v[i] = v
    this.stale[i] = stale ? 1 : 0
    this.size++
  }

  /** Drops samples at or before `cutoff`. */
  trim (cutoff: number): void {
    while (this.size > 0 && this.timeAt(0) <= cutoff) {
      this.head = (this.head + 1) % this.t.length
      this.size--
    }
  }

  /** Index of the first sample after `t` (size when none). */
  firstAfter (t: number): number {
    let lo = 0
    let hi = this.size
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.timeAt(mid) <= t) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  private grow (): void {
    const cap = Math.min(this.t.length * 2, this.max)
    const t = new Float64Array(cap)
    const v = new Float64Array(cap)
    const stale = new Uint8Array(cap)
    for (let i = 0; i < this.size; i++) {
      t[i] = this.timeAt(i)
      v[i] = this.valueAt(i)
      stale[i] = this.stale[this.at(i)]
    }
    this.t = t
    this.v = v
    this.stale = stale
    this.head = 0
  }
}

export class SeriesStore implements SeriesReader {
  private readonly series = new Map<string, Ring>()
  /** Series by metric name: most selectors name one. */
  private readonly byName = new Map<string, Set<Ring>>()
  private previous = new Set<Ring>()
  private lastScrape = -Infinity
  private refused = 0
  private evicted = 0
  private outOfOrder = 0

  constructor (readonly tunables: Readonly<SeriesStoreTunables> = seriesStoreTunables.defaults('lan')) {}

  /**
   * Appends one evaluation round at unix ms `t`: every series seen this round.
   * Series of the previous round missing now get a staleness marker. Label
   * sets with an empty value are stored without that label (Prometheus).
   * A round not after the previous one is dropped and counted.
   */
  appendScrape (t: number, samples: ReadonlyArray<{ labels: Labels, v: number }>): void {
    if (!(t > this.lastScrape)) { this.outOfOrder++; return }
    this.lastScrape = t
    const round = samples.map(s => {
      const labels = withoutEmpty(s.labels)
      return { labels, key: labelsKey(labels), v: s.v }
    })
    // Markers first: a series gone this round may make room for a new one.
    const keys = new Set(round.map(s => s.key))
    for (const ring of this.previous) {
      if (!keys.has(ring.key)) ring.push(t, NaN, true)
    }
    const current = new Set<Ring>()
    for (const s of round) {
      const ring = this.series.get(s.key) ?? this.create(s.key, s.labels, t)
      if (ring === undefined || current.has(ring)) continue
      current.add(ring)
      ring.push(t, s.v, false)
    }
    this.previous = current
    this.expire(t - this.tunables.retentionMs)
  }

  instant (matchers: readonly LabelMatcher[], at: number): Array<{ labels: Labels, value: number }> {
    const out: Array<{ labels: Labels, value: number }> = []
    const from = at - this.tunables.lookbackMs
    for (const ring of this.select(matchers)) {
      const i = ring.firstAfter(at) - 1
      if (i < 0 || ring.timeAt(i) <= from || ring.staleAt(i)) continue
      out.push({ labels: ring.labels, value: ring.valueAt(i) })
    }
    return out
  }

  range (matchers: readonly LabelMatcher[], at: number, rangeMs: number): Array<{ labels: Labels, samples: Sample[] }> {
    const out: Array<{ labels: Labels, samples: Sample[] }> = []
    for (const ring of this.select(matchers)) {
      const end = ring.firstAfter(at)
      const samples: Sample[] = []
      for (let i = ring.firstAfter(at - rangeMs); i < end; i++) {
        if (!ring.staleAt(i)) samples.push({ t: ring.timeAt(i), v: ring.valueAt(i) })
      }
      if (samples.length > 0) out.push({ labels: ring.labels, samples })
    }
    return out
  }

  stats (): SeriesStoreStats {
    let samples = 0
    for (const r of this.series.values()) samples += r.size
    return { series: this.series.size, samples, refusedSeries: this.refused, evictedSeries: this.evicted, outOfOrderScrapes: this.outOfOrder }
  }

  private * select (matchers: readonly LabelMatcher[]): Generator<Ring> {
    const byName = matchers.find(m => m.name === '__name__' && m.type === '=')
    const candidates = byName === undefined ? this.series.values() : (this.byName.get(byName.value) ?? [])
    for (const ring of candidates) {
      if (matchers.every(m => m.matches(ring.labels[m.name] ?? ''))) yield ring
    }
  }

  private create (key: string, labels: Labels, now: number): Ring | undefined {
    if (this.series.size >= this.tunables.maxSeries) {
      this.expire(now - this.tunables.retentionMs)
      if (this.series.size >= this.tunables.maxSeries && !this.evictGone()) {
        this.refused++
        return undefined
      }
    }
    const ring = new Ring(key, labels, this.tunables.maxSamplesPerSeries)
    this.series.set(key, ring)
    const name = labels.__name__ ?? ''
    let set = this.byName.get(name)
    if (set === undefined) this.byName.set(name, set = new Set())
    set.add(ring)
    return ring
  }

  /** Evicts the stale series whose marker is oldest; false when every series is live. */
  private evictGone (): boolean {
    let oldest: Ring | undefined
    for (const r of this.series.values()) {
      if (r.isStale && (oldest === undefined || r.newest < oldest.newest)) oldest = r
    }
    if (oldest === undefined) return false
    this.remove(oldest)
    this.evicted++
    return true
  }

  /** Drops samples at or before `cutoff`, and the series left without any. */
  private expire (cutoff: number): void {
    for (const r of this.series.values()) {
      r.trim(cutoff)
      if (r.size === 0) this.remove(r)
    }
  }

  private remove (ring: Ring): void {
    this.series.delete(ring.key)
    const set = this.byName.get(ring.labels.__name__ ?? '')
    set?.delete(ring)
    if (set?.size === 0) this.byName.delete(ring.labels.__name__ ?? '')
    this.previous.delete(ring)
  }
}

function withoutEmpty (labels: Labels): Labels {
  for (const k in labels) {
    if (labels[k] === '') return Object.fromEntries(Object.entries(labels).filter(([, v]) => v !== ''))
  }
  return labels
}
