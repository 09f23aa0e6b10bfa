/**
 * The anomaly detector's tunables (managers/monitoring/anomaly.ts), per
 * profile. Counts are in samples of one series, not in ms: the detector
 * sees one sample per health report (protocols/health/constants.ts:
 * every 30 s on lan and wan, every 1 s on test), so a half-life of 20
 * samples is 10 minutes on lan. The lan values were tuned on the
 * synthetic series of harness/anomaly-series.ts (seeds 1–20) and measured
 * on other seeds: `npm run bench -- anomaly-precision`, docs/monitoring.md.
 */
import { z } from 'zod'
import { defineTunables, tunable } from '../../lib/tunables.js'

export interface AnomalyConfig {
  /** Half-life of the fast baseline (EWMA mean and variance), samples: short enough to follow a load's normal wander, long enough that one spike is far from it. */
  halfLifeSamples: number
  /** Half-life of the slow baseline the drift score compares the fast one with, samples; 0 turns drift scoring off. */
  slowHalfLifeSamples: number
  /**
   * A z-score above this is anomalous, for both scores: a sample this many
   * standard deviations from the fast mean (point), or the fast mean this
   * many of its usual spreads from where the slow baseline expects it
   * (drift). One number, so `mycel_anomaly_score > threshold` is the verdict.
   * 5, not the textbook 3: at 4.5 the clean synthetic series had ten times
   * the false positives (docs/monitoring.md).
   */
  threshold: number
  /** No score before this many samples: the variance of a handful of samples says nothing. */
  warmupSamples: number
  /** No drift score before this many samples: the slow baseline and the spread of its distance to the fast one take about two slow half-lives to mean anything. */
  driftWarmupSamples: number
  /** This many anomalous samples in a row are a new level, adopted as the baseline (a spike shorter than this never moves it). */
  adoptAfterSamples: number
  /** This many drift-flagged samples in a row: the slow baseline jumps to where the fast one is (a drift that lasts is the new normal). */
  driftAdoptAfterSamples: number
  /**
   * Floor on the standard deviation, in the series' unit, by series name
   * (`default` for the others): on a constant series a change of k floors
   * scores k, never infinity. It is the smallest change worth a look.
   */
  sdFloor: Readonly<Record<string, number>>
  /** At most this many (peer, series) detectors; the one seen longest ago goes first (about 0.7 KB each with its keys). */
  maxKeys: number
  /** A series not seen for this long is forgotten (a node gone, a series renamed), ms; it warms up again when it returns. */
  forgetAfterMs: number
}

/** Floors of the health report's series (ratios in 0..1, load in runnable tasks); `default` for any other series. */
const SD_FLOOR = {
  default: 1e-3,
  mycel_node_load1: 0.05,
  mycel_node_memory_used_ratio: 0.002,
  mycel_node_disk_free_ratio: 0.001,
  // The agent's own memory, bytes: a GC cycle moves it by megabytes.
  mycel_node_memory_rss_bytes: 4 * 1024 * 1024,
  mycel_node_memory_heap_used_bytes: 2 * 1024 * 1024
}

const counts = {
  halfLifeSamples: 20,
  slowHalfLifeSamples: 400,
  threshold: 5,
  warmupSamples: 30,
  driftWarmupSamples: 800,
  adoptAfterSamples: 5,
  driftAdoptAfterSamples: 30,
  sdFloor: SD_FLOOR
}

export const anomalyTunables = defineTunables<AnomalyConfig>({
  module: 'anomaly',
  schema: z.strictObject({
    halfLifeSamples: z.number().min(1),
    slowHalfLifeSamples: z.number().min(0),
    threshold: z.number().positive(),
    warmupSamples: tunable.positive(),
    driftWarmupSamples: tunable.positive(),
    adoptAfterSamples: tunable.positive(),
    driftAdoptAfterSamples: tunable.positive(),
    sdFloor: z.record(z.string(), z.number().positive().finite()).refine(f => f.default !== undefined, 'needs a default'),
    maxKeys: tunable.positive(),
    forgetAfterMs: tunable.positive()
  }),
  profiles: {
    // 10 000 keys: 1 000 peers × 10 series, about 7 MB.
    lan: { ...counts, maxKeys: 10_000, forgetAfterMs: 60 * 60_000 },
    wan: { ...counts, maxKeys: 10_000, forgetAfterMs: 2 * 60 * 60_000 },
    // Reports every second: a 10-sample warm-up scores within 10 s of a node's start; a small table, a fast forget.
    test: { ...counts, warmupSamples: 10, maxKeys: 1_000, forgetAfterMs: 10_000 }
  },
  relations: [
    t => t.slowHalfLifeSamples === 0 || t.slowHalfLifeSamples > t.halfLifeSamples ? undefined : 'slowHalfLifeSamples must exceed halfLifeSamples (or be 0: no drift score)',
    t => t.driftWarmupSamples >= t.warmupSamples ? undefined : 'driftWarmupSamples must be at least warmupSamples'
  ]
})

/** EWMA weight of one sample for a half-life of `h` samples: the weight of a sample halves every h samples. */
export function alphaForHalfLife (h: number): number {
  return 1 - Math.pow(2, -1 / h)
}
