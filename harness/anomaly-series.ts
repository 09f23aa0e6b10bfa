/**
 * Synthetic node series with labelled anomalies, for measuring the anomaly
 * detector (managers/monitoring/anomaly.ts): bench/anomaly-precision.ts
 * prints the table, test/managers/monitoring/anomaly.test.ts checks a floor.
 * Seeded: one seed is one series, the same on every run.
 *
 * Three baselines, one sample per health report:
 *  - load1: a level in 0.2–2 plus AR(1) noise (φ = 0.8, load1 is itself a
 *    smoothed average, so its noise is autocorrelated), never below 0;
 *  - memory used ratio: a level in 0.3–0.7 wandering slowly (a mean-
 *    reverting random walk) plus white noise;
 *  - disk free ratio: a level in 0.4–0.9 decreasing steadily (a disk filling
 *    at its usual pace) plus white noise.
 * Injections, sized in σ (the stationary sd of the series' noise):
 *  - spike: 1–3 samples size·σ away (load: upward);
 *  - shift: the level moves by size·σ for good;
 *  - drift: the level moves by size·σ along a ramp of DRIFT_SAMPLES samples,
 *    then stays.
 * Each injection's window (the ground truth) runs from its first sample
 * until its effect ends plus a grace: a detection in it counts, a flag
 * outside every window is a false positive.
 */
import { prng } from './prng.js'

export type BaselineKind = 'load1' | 'memory' | 'disk'
export type InjectionKind = 'spike' | 'shift' | 'drift'

export const BASELINES: readonly BaselineKind[] = ['load1', 'memory', 'disk']
export const INJECTIONS: readonly InjectionKind[] = ['spike', 'shift', 'drift']
/** The series name each baseline is scored as (the detector's sd floor is per series name). */
export const SERIES_NAME: Readonly<Record<BaselineKind, string>> = {
  load1: 'mycel_node_load1',
  memory: 'mycel_node_memory_used_ratio',
  disk: 'mycel_node_disk_free_ratio'
}

/** Ramp length of a drift, samples (at 30 s a sample: 2.5 hours). */
export const DRIFT_SAMPLES = 300
/** Samples after an injection's effect ends during which a flag still belongs to it: a spike is over at once; a shift or drift is flagged until adopted, by the point score or, for a change too small or too slow for it, by the drift score, which adopts after driftAdoptAfterSamples flags (lan: 30) once the fast baseline has followed (a few half-lives). */
export const GRACE_SAMPLES: Readonly<Record<InjectionKind, number>> = { spike: 5, shift: 150, drift: 150 }

export interface Injection {
  kind: InjectionKind
  /** Size in σ of the series. */
  size: number
  /** First affected sample. */
  start: number
  /** End of the ground-truth window (exclusive). */
  windowEnd: number
}

export interface SyntheticSeries {
  baseline: BaselineKind
  series: string
  /** Stationary sd of the noise, the unit of injection sizes. */
  sigma: number
  values: number[]
  injections: Injection[]
}

export interface GenerateOptions {
  seed: number
  baseline: BaselineKind
  length: number
  /** Injections of one kind and size, evenly spaced after `quietStart` samples; none: a clean series. */
  inject?: { kind: InjectionKind, size: number, count: number }
  /** Samples before the first injection (the detector's warm-up and then some). @default 1000 */
  quietStart?: number
}


/** Standard normal draws (Box–Muller) from a uniform source. */
function gaussian (rand: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand())
}

export function generateSeries (o: GenerateOptions): SyntheticSeries {
  const rand = prng(o.seed)
  const g = gaussian(rand)
  const base = baseline(o.baseline, rand, g, o.length)
  const values = base.values
  const injections: Injection[] = []
  if (o.inject !== undefined && o.inject.count > 0) {
    const quiet = o.quietStart ?? 1000
    const gap = Math.floor((o.length - quiet) / o.inject.count)
    for (let i = 0; i < o.inject.count; i++) {
      // Somewhere in the first half of its slot, so the window and the recovery after it fit before the next one.
      const start = quiet + i * gap + Math.floor(rand() * gap / 2)
      const sign = o.baseline === 'load1' || rand() < 0.5 ? 1 : -1
      const delta = sign * o.inject.size * base.sigma
      const { kind } = o.inject
      let effectEnd: number
      if (kind === 'spike') {
        effectEnd = start + 1 + Math.floor(rand() * 3)
        for (let t = start; t < effectEnd && t < values.length; t++) values[t] += delta
      } else if (kind === 'shift') {
        effectEnd = start + 1
        for (let t = start; t < values.length; t++) values[t] += delta
      } else {
        effectEnd = start + DRIFT_SAMPLES
        for (let t = start; t < values.length; t++) values[t] += delta * Math.min(1, (t - start + 1) / DRIFT_SAMPLES)
      }
      injections.push({ kind, size: o.inject.size, start, windowEnd: Math.min(values.length, effectEnd + GRACE_SAMPLES[kind]) })
    }
  }
  if (o.baseline === 'load1') for (let t = 0; t < values.length; t++) values[t] = Math.max(0, values[t])
  return { baseline: o.baseline, series: SERIES_NAME[o.baseline], sigma: base.sigma, values, injections }
}

function baseline (kind: BaselineKind, rand: () => number, g: () => number, length: number): { values: number[], sigma: number } {
  const values = new Array<number>(length)
  if (kind === 'load1') {
    const level = 0.2 + 1.8 * rand()
    const innovation = 0.06 * level + 0.02
    const phi = 0.8
    let ar = 0
    for (let t = 0; t < length; t++) {
      ar = phi * ar + innovation * g()
      values[t] = level + ar
    }
    return { values, sigma: innovation / Math.sqrt(1 - phi * phi) }
  }
  if (kind === 'memory') {
    const level = 0.3 + 0.4 * rand()
    const noise = 0.003 + 0.004 * rand()
    let wander = 0
    for (let t = 0; t < length; t++) {
      // Mean-reverting walk: ~0.01 of wander over a few hundred samples.
      wander = 0.995 * wander + 0.0007 * g()
      values[t] = level + wander + noise * g()
    }
    return { values, sigma: noise }
  }
  const level = 0.4 + 0.5 * rand()
  // 0–3 points of the disk a day at one sample every 30 s (2 880 a day).
  const slope = -(0.03 * rand()) / 2880
  const noise = 0.001 + 0.001 * rand()
  for (let t = 0; t < length; t++) values[t] = level + slope * t + noise * g()
  return { values, sigma: noise }
}
