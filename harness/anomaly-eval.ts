/**
 * Event-level precision and recall of the anomaly detector on the labelled
 * series of harness/anomaly-series.ts.
 *
 *  - An injection is detected when some sample of its window is flagged;
 *    its delay is the first flagged sample minus its start (samples).
 *  - A false positive is a run of flags outside every window; flags less
 *    than FP_MERGE_GAP samples apart are one run (one alert would cover
 *    them), so a flickering flag is not counted twenty times.
 *  - precision = detected / (detected + false positives),
 *    recall = detected / injections.
 */
import { AnomalyDetectors, type AnomalyConfig } from '../managers/monitoring/anomaly.js'
import { BASELINES, generateSeries, type BaselineKind, type GenerateOptions, type InjectionKind, type SyntheticSeries } from './anomaly-series.js'

/** Flags this close (samples) outside the windows are one false positive. */
export const FP_MERGE_GAP = 5
/** Sample period the timestamps advance by, ms (lan health reports). */
const PERIOD_MS = 30_000

export interface EventCounts {
  injections: number
  detected: number
  /** Delay of each detected injection, samples. */
  delays: number[]
  falsePositives: number
  /** Samples outside every window (the false positives' opportunity). */
  quietSamples: number
}

export const emptyCounts = (): EventCounts => ({ injections: 0, detected: 0, delays: [], falsePositives: 0, quietSamples: 0 })

/** Run a fresh detector over the series and count events. */
export function evaluateSeries (s: SyntheticSeries, config: AnomalyConfig): EventCounts {
  const detectors = new AnomalyDetectors({ config, now: () => 0 })
  const flags = s.values.map((v, i) => detectors.observe('p', s.series, i * PERIOD_MS, v).anomalous)
  const c = emptyCounts()
  const inWindow = new Array<boolean>(flags.length).fill(false)
  for (const inj of s.injections) {
    c.injections++
    for (let t = inj.start; t < inj.windowEnd; t++) inWindow[t] = true
    const first = flags.findIndex((f, t) => f && t >= inj.start && t < inj.windowEnd)
    if (first >= 0) { c.detected++; c.delays.push(first - inj.start) }
  }
  let lastFp = -Infinity
  for (let t = 0; t < flags.length; t++) {
    if (inWindow[t]) continue
    c.quietSamples++
    if (!flags[t]) continue
    if (t - lastFp >= FP_MERGE_GAP) c.falsePositives++
    lastFp = t
  }
  return c
}

export function addCounts (a: EventCounts, b: EventCounts): EventCounts {
  return { injections: a.injections + b.injections, detected: a.detected + b.detected, delays: [...a.delays, ...b.delays], falsePositives: a.falsePositives + b.falsePositives, quietSamples: a.quietSamples + b.quietSamples }
}

export interface Cell {
  kind: InjectionKind | 'none'
  size: number
  counts: EventCounts
}

export interface SuiteOptions {
  seeds: readonly number[]
  sizes: Readonly<Record<InjectionKind, readonly number[]>>
  baselines: readonly BaselineKind[]
  /** Samples per series. @default 4000 */
  length?: number
  /** Injections per series. @default 3 */
  count?: number
}

/** Every (kind, size) over every seed and baseline, plus clean series (kind 'none'). */
export function evaluateSuite (o: SuiteOptions, config: AnomalyConfig): Cell[] {
  const length = o.length ?? 4000
  const cells: Cell[] = []
  const run = (inject: GenerateOptions['inject']): EventCounts => {
    let total = emptyCounts()
    for (const seed of o.seeds) {
      for (const baseline of o.baselines) {
        const i = BASELINES.indexOf(baseline)
        // A different series per (seed, baseline, injection), all from the seed.
        const salt = inject === undefined ? 0 : (['spike', 'shift', 'drift'].indexOf(inject.kind) + 1) * 1000 + Math.round(inject.size * 10)
        total = addCounts(total, evaluateSeries(generateSeries({ seed: seed * 100_003 + i * 7919 + salt, baseline, length, inject }), config))
      }
    }
    return total
  }
  cells.push({ kind: 'none', size: 0, counts: run(undefined) })
  for (const kind of ['spike', 'shift', 'drift'] as const) {
    for (const size of o.sizes[kind]) cells.push({ kind, size, counts: run({ kind, size, count: o.count ?? 3 }) })
  }
  return cells
}

export const precision = (c: EventCounts): number => c.detected + c.falsePositives === 0 ? 1 : c.detected / (c.detected + c.falsePositives)
export const recall = (c: EventCounts): number => c.injections === 0 ? 1 : c.detected / c.injections
