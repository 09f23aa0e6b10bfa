/**
 * Anomaly detection per (peer, series): the monitoring manager feeds every
 * numeric sample of the health reports through `AnomalyDetectors.observe`
 * and exposes the scores as `mycel_anomaly_score{peer,series}` so alert
 * rules can use them. Seasonal-free, sample-indexed (a gap in a series does
 * not age its state), O(1) time and memory per sample. docs/monitoring.md
 * "Anomaly detection" has the method, the tunables and the measured
 * precision and recall.
 *
 * Like Netdata's per-dimension anomaly bit, each sample gets a verdict
 * (`anomalous`) and a score; unlike Netdata (k-means over lagged, smoothed
 * vectors, 18 models that must agree) the model is the control chart of
 * the EWMA literature, which needs no training window and no history:
 *
 *  - Point score: z = |x − m| / max(s, floor), with m and s² the EWMA mean
 *    and EWMA variance of the series (Finch's incremental form). A spike
 *    scores at once.
 *  - Drift score: a plain EWMA follows a slow drift and never flags it, so a
 *    second, slow EWMA runs beside it, and the distance d = fast − slow is
 *    itself tracked (its EWMA mean and variance, slow rate): a drift makes
 *    d leave its usual band. Tracking d's own mean, rather than expecting
 *    d = 0, keeps a steady trend the series always had (a disk filling at
 *    its usual pace) from scoring forever; only a change of pace scores.
 *
 * The baseline is protected: an anomalous sample never updates the fast
 * mean and variance (a spike does not poison them), but `adoptAfterSamples`
 * anomalous samples in a row are a new level: the baseline jumps to their
 * mean. A drift flagged `driftAdoptAfterSamples` times in a row is adopted
 * the same way (the slow baseline moves to where the fast one is). NaN,
 * ±Inf, a repeated or older timestamp, and a finite sample whose update
 * would overflow are skipped and change nothing.
 */
import type { Labels, Sample } from './types.js'
import { alphaForHalfLife, type AnomalyConfig } from './anomaly-tunables.js'

export { anomalyTunables, type AnomalyConfig } from './anomaly-tunables.js'

/** The metric name the scores are exposed under, labels `peer` and `series`. */
export const ANOMALY_SCORE_METRIC = 'mycel_anomaly_score'

export type AnomalyKind = 'point' | 'drift'

export interface AnomalyResult {
  /** The larger of the point and drift z-scores; 0 during warm-up (and for a sample skipped before the first score). Finite, ≥ 0. */
  score: number
  /** The point or the drift score passed `threshold` (so: score > threshold). */
  anomalous: boolean
  /** Which score flagged the sample (absent when not anomalous). */
  kind?: AnomalyKind
  /** False during warm-up: the score is 0 because the detector does not know the series yet. */
  warm: boolean
  /** This sample was not used (non-finite, not newer than the last one, or overflowing); the result is the series' previous one. */
  skipped?: true
}

/** A detector's state, for tests and debugging. */
export interface DetectorState {
  /** Samples absorbed into the baseline. */
  n: number
  mean: number
  variance: number
  slowMean: number
  /** EWMA mean and variance of d = mean − slowMean. */
  driftMean: number
  driftVariance: number
  /** Anomalous samples in a row (point), and their mean and sum of squared deviations (Welford). */
  run: { n: number, mean: number, m2: number }
  /** Drift-flagged samples in a row. */
  driftRun: number
}

const COLD: AnomalyResult = Object.freeze({ score: 0, anomalous: false, warm: false })

/** One series' detector; `AnomalyDetectors` keeps one per (peer, series). */
export class AnomalyDetector {
  private readonly alpha: number
  private readonly slowAlpha: number
  /** The drift score's floor: the spread of the fast mean of a series whose spread is the sd floor. */
  private readonly driftFloor: number
  private s: DetectorState = { n: 0, mean: 0, variance: 0, slowMean: 0, driftMean: 0, driftVariance: 0, run: { n: 0, mean: 0, m2: 0 }, driftRun: 0 }
  private driftN = 0

  constructor (private readonly config: AnomalyConfig, private readonly sdFloor: number) {
    this.alpha = alphaForHalfLife(config.halfLifeSamples)
    this.slowAlpha = config.slowHalfLifeSamples > 0 ? alphaForHalfLife(config.slowHalfLifeSamples) : 0
    this.driftFloor = sdFloor * Math.sqrt(this.alpha / (2 - this.alpha))
  }

  state (): DetectorState {
    return { ...this.s, run: { ...this.s.run } }
  }

  /** Score one sample (use `AnomalyDetectors` for the skipping of repeated timestamps). */
  observe (x: number): AnomalyResult {
    if (!Number.isFinite(x)) return { ...COLD, skipped: true }
    const s = this.s
    const sd = Math.max(Math.sqrt(s.variance), this.sdFloor)
    const z = s.n === 0 ? 0 : finite(Math.abs(x - s.mean) / sd)
    if (s.n < this.config.warmupSamples) {
      return this.absorb(x) ? COLD : { ...COLD, skipped: true }
    }
    if (z > this.config.threshold) return this.anomalous(x, z)
    if (!this.absorb(x)) return { score: z, anomalous: false, warm: true, skipped: true }
    s.run = { n: 0, mean: 0, m2: 0 }
    const drift = this.drift()
    if (drift > this.config.threshold) return { score: Math.max(z, drift), anomalous: true, kind: 'drift', warm: true }
    return { score: Math.max(z, drift), anomalous: false, warm: true }
  }

  /** A point anomaly: kept out of the baseline, unless it is the `adoptAfterSamples`-th in a row. */
  private anomalous (x: number, z: number): AnomalyResult {
    const s = this.s
    const r = s.run
    const n = r.n + 1
    const delta = x - r.mean
    const mean = r.mean + delta / n
    const m2 = r.m2 + delta * (x - mean)
    if (!Number.isFinite(mean) || !Number.isFinite(m2)) return { score: z, anomalous: true, kind: 'point', warm: true, skipped: true }
    s.run = { n, mean, m2 }
    s.driftRun = 0
    if (n >= this.config.adoptAfterSamples) {
      // A new level: its mean is the baseline; its spread only widens ours (a handful of samples is a poor variance estimate).
      s.mean = mean
      s.variance = Math.max(s.variance, m2 / n)
      s.slowMean = s.mean - s.driftMean
      s.run = { n: 0, mean: 0, m2: 0 }
    }
    return { score: z, anomalous: true, kind: 'point', warm: true }
  }

  /** Update both baselines with x (weights 1/n at first, so the start is the plain mean and variance); false, and nothing changed, if that would overflow. */
  private absorb (x: number): boolean {
    const s = this.s
    const n = s.n + 1
    const a = Math.max(this.alpha, 1 / n)
    const diff = x - s.mean
    const mean = n === 1 ? x : s.mean + a * diff
    const variance = n === 1 ? 0 : (1 - a) * (s.variance + a * diff * diff)
    const slowMean = n === 1 ? x : s.slowMean + Math.max(this.slowAlpha, 1 / n) * (x - s.slowMean)
    if (!Number.isFinite(mean) || !Number.isFinite(variance) || !Number.isFinite(slowMean)) return false
    s.n = n
    s.mean = mean
    s.variance = variance
    s.slowMean = slowMean
    return true
  }

  /**
   * The drift z-score after an absorbed sample. d's mean and variance learn
   * at a quarter of the slow rate, and a sample beyond DRIFT_LEARN_ZONE of
   * the threshold teaches them only its clamped deviation (Huber): a drift
   * that grows d slowly would otherwise widen d's band as fast as it leaves
   * it, and never score.
   */
  private drift (): number {
    if (this.slowAlpha === 0) return 0
    const s = this.s
    const d = s.mean - s.slowMean
    const sdD = Math.max(Math.sqrt(s.driftVariance), this.driftFloor)
    const dz = this.driftN === 0 ? 0 : finite(Math.abs(d - s.driftMean) / sdD)
    const scoring = s.n >= this.config.driftWarmupSamples
    if (scoring && dz > this.config.threshold) {
      s.driftRun++
      if (s.driftRun >= this.config.driftAdoptAfterSamples) {
        s.slowMean = s.mean - s.driftMean
        s.driftRun = 0
      }
      return dz
    }
    s.driftRun = 0
    const n = ++this.driftN
    const a = Math.max(this.slowAlpha / DRIFT_LEARN_SLOWER, 1 / n)
    const limit = DRIFT_LEARN_ZONE * this.config.threshold * sdD
    const diff = n === 1 ? 0 : Math.max(-limit, Math.min(limit, d - s.driftMean))
    const mean = n === 1 ? d : s.driftMean + a * diff
    const variance = n === 1 ? 0 : (1 - a) * (s.driftVariance + a * diff * diff)
    if (Number.isFinite(mean) && Number.isFinite(variance)) {
      s.driftMean = mean
      s.driftVariance = variance
    }
    return scoring ? dz : 0
  }
}

/** d's band learns this many times slower than the slow baseline: a drift of a few hundred samples barely moves it. */
const DRIFT_LEARN_SLOWER = 4
/** Beyond this fraction of the drift threshold a sample's deviation is clamped before d's band learns it. */
const DRIFT_LEARN_ZONE = 0.6

/** A z-score that overflowed (a sample near ±1.8e308) is the largest finite one: still a score, still ≥ threshold. */
function finite (z: number): number {
  return Number.isFinite(z) ? z : Number.MAX_VALUE
}

/** The latest score of one (peer, series), as `AnomalyDetectors.scores()` lists it. */
export interface AnomalyScore extends AnomalyResult {
  peer: string
  series: string
  /** The timestamp of the sample that was scored (the caller's time base), unix ms. */
  t: number
}

interface Entry {
  peer: string
  series: string
  detector: AnomalyDetector
  /** The newest sample's timestamp: an older or equal one is skipped (a report seen twice). */
  lastT: number
  /** Local time of the last observe, for forgetting. */
  seenAt: number
  last: AnomalyResult
}

export interface AnomalyDetectorsInit {
  config: AnomalyConfig
  /** Local clock for forgetting series (not the samples' timestamps, which are the reporters' clocks). @default Date.now */
  now?: () => number
}

/**
 * One detector per (peer, series), bounded: at most `maxKeys`, the least
 * recently observed goes first, and a series not observed for
 * `forgetAfterMs` is dropped. A Map in observation order makes both O(1)
 * per sample: observing moves the key to the end, so the stalest are first.
 */
export class AnomalyDetectors {
  private readonly entries = new Map<string, Entry>()
  private readonly now: () => number
  /** Counters for the manager's metrics: samples skipped (non-finite, repeated, overflowing), keys evicted at maxKeys, keys forgotten after forgetAfterMs. */
  readonly counts = { skipped: 0, evicted: 0, forgotten: 0 }

  constructor (private readonly init: AnomalyDetectorsInit) {
    this.now = init.now ?? Date.now
  }

  get size (): number { return this.entries.size }

  /** Score sample (t, v) of `series` on `peer`. A non-finite v never creates a detector. */
  observe (peer: string, series: string, t: number, v: number): AnomalyResult {
    const now = this.now()
    this.prune(now)
    const key = `${peer}\u0000${series}`
    let e = this.entries.get(key)
    if (!Number.isFinite(v) || (e !== undefined && !(t > e.lastT))) {
      this.counts.skipped++
      return { ...(e?.last ?? COLD), skipped: true }
    }
    if (e === undefined) {
      if (this.entries.size >= this.init.config.maxKeys) this.evictOldest()
      const floors = this.init.config.sdFloor
      e = { peer, series, detector: new AnomalyDetector(this.init.config, floors[series] ?? floors.default), lastT: t, seenAt: now, last: COLD }
    } else {
      this.entries.delete(key)
    }
    this.entries.set(key, e)
    e.seenAt = now
    const r = e.detector.observe(v)
    if (r.skipped === true) {
      this.counts.skipped++
      return { ...e.last, skipped: true }
    }
    e.lastT = t
    e.last = r
    return r
  }

  /** The latest score of every live (peer, series), stalest first. */
  scores (): AnomalyScore[] {
    this.prune(this.now())
    return [...this.entries.values()].map(e => ({ ...e.last, peer: e.peer, series: e.series, t: e.lastT }))
  }

  /** The scores as the series `mycel_anomaly_score{peer,series}` (0 during warm-up), at each one's last sample time. */
  series (): Array<{ labels: Labels, sample: Sample }> {
    return this.scores().map(s => ({ labels: { __name__: ANOMALY_SCORE_METRIC, peer: s.peer, series: s.series }, sample: { t: s.t, v: s.score } }))
  }

  /** Drop every series of a peer (it left the region). */
  forgetPeer (peer: string): void {
    for (const [k, e] of this.entries) if (e.peer === peer) this.entries.delete(k)
  }

  private prune (now: number): void {
    for (const [k, e] of this.entries) {
      if (now - e.seenAt <= this.init.config.forgetAfterMs) return
      this.entries.delete(k)
      this.counts.forgotten++
    }
  }

  private evictOldest (): void {
    const first = this.entries.keys().next()
    if (first.done === true) return
    this.entries.delete(first.value)
    this.counts.evicted++
  }
}
