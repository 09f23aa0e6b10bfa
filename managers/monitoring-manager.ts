/**
 * Monitoring manager. First duty: aggregate the region's signed health
 * reports into region metrics on this node's /metrics (only while it holds
 * the role) and publish the same summary as a fenced action, with load
 * outliers flagged by z-score; the same loop publishes the anomaly scores
 * (fenced action `anomalies`, for `mycel alerts --anomalies` on every node
 * of the region). Second duty, when the agent runs replicated config:
 * alerting (monitoring/alerting-duty.ts) — rules, alert lifecycle,
 * silences, inhibition and delivery (docs/monitoring.md).
 */
import type { Logger } from 'pino'
import type { Health } from '../protocols/health/index.js'
import { dutyLoop, dutyTunables, type Role, type State } from './role.js'
import type { RegionMetrics, RolesMetrics } from './metrics.js'
import type { AlertingDuty } from './monitoring/alerting-duty.js'

/** Anomaly scores one `anomalies` action carries: the highest first (an action body is bounded). */
export const MAX_PUBLISHED_ANOMALIES = 200

/** Region aggregation period, per profile (health reports arrive at their own low rate, protocols/health/constants.ts). */
export const monitoringTunables = dutyTunables('monitoring', {
  lan: { intervalMs: 10_000 },
  wan: { intervalMs: 30_000 },
  test: { intervalMs: 1_000 }
})

/** A member whose load1 is more than this many standard deviations above the mean is an outlier. */
export const LOAD_Z_THRESHOLD = 3
/** Below this many fresh reports a z-score says nothing. */
const MIN_REPORTS_FOR_Z = 4

export interface RegionSummary {
  region: string
  at: number
  reporting: number
  stale: number
  load1: { avg: number, max: number }
  rssBytes: { sum: number, max: number }
  diskFreeBytesMin: number | null
  failedChecks: Array<{ peerId: string, check: string, detail?: string }>
  loadOutliers: Array<{ peerId: string, load1: number, z: number }>
}

export function summarizeRegion (region: string, reports: ReturnType<Health['reports']>, now = Date.now()): RegionSummary {
  const fresh = reports.filter(r => !r.stale && r.report.region === region)
  const loads = fresh.map(r => r.report.load[0])
  const avg = loads.length > 0 ? loads.reduce((a, b) => a + b, 0) / loads.length : 0
  const sd = loads.length > 0 ? Math.sqrt(loads.reduce((a, b) => a + (b - avg) ** 2, 0) / loads.length) : 0
  const outliers: RegionSummary['loadOutliers'] = []
  if (fresh.length >= MIN_REPORTS_FOR_Z && sd > 0) {
    for (const r of fresh) {
      const z = (r.report.load[0] - avg) / sd
      if (z > LOAD_Z_THRESHOLD) outliers.push({ peerId: r.report.peerId, load1: r.report.load[0], z: Math.round(z * 100) / 100 })
    }
  }
  const failed: RegionSummary['failedChecks'] = []
  for (const r of fresh) for (const c of r.report.checks) if (!c.ok && failed.length < 200) failed.push({ peerId: r.report.peerId, check: c.name, detail: c.detail })
  const rss = fresh.map(r => r.report.memory.rssBytes)
  const disks = fresh.map(r => r.report.diskFreeBytes)
  return {
    region,
    at: now,
    reporting: fresh.length,
    stale: reports.filter(r => r.stale && r.report.region === region).length,
    load1: { avg: Math.round(avg * 100) / 100, max: loads.length > 0 ? Math.max(...loads) : 0 },
    rssBytes: { sum: rss.reduce((a, b) => a + b, 0), max: rss.length > 0 ? Math.max(...rss) : 0 },
    diskFreeBytesMin: disks.length > 0 ? Math.min(...disks) : null,
    failedChecks: failed,
    loadOutliers: outliers
  }
}

export interface MonitoringManagerInit {
  region: string
  intervalMs: number
  health: Pick<Health, 'reports'>
  /** Periodic statements (role.ts `State`). */
  state: State
  logger: Logger
  metrics: RolesMetrics
  regionMetrics: RegionMetrics
  /** Alert rules and delivery; absent without replicated config. */
  alerting?: AlertingDuty
}

export class MonitoringManager implements Role {
  readonly name = 'monitoring' as const
  private last?: RegionSummary

  constructor (private readonly init: MonitoringManagerInit) {}

  onElected (term: number, signal: AbortSignal): void {
    this.init.alerting?.run(term, signal, (err) => { this.init.metrics.dutyErrors.inc({ role: 'monitoring' }); this.init.logger.warn({ err }, 'alerting round failed') })
    dutyLoop(signal, this.init.intervalMs, async () => {
      const s = summarizeRegion(this.init.region, this.init.health.reports())
      if (signal.aborted) return
      this.last = s
      this.export(s)
      await this.init.state('monitoring', 'region-metrics', s)
      if (this.init.alerting !== undefined) {
        const scores = this.init.alerting.anomalies().sort((a, b) => b.score - a.score).slice(0, MAX_PUBLISHED_ANOMALIES)
        await this.init.state('monitoring', 'anomalies', { region: this.init.region, at: Date.now(), scores })
      }
    }, (err) => { this.init.metrics.dutyErrors.inc({ role: 'monitoring' }); this.init.logger.warn({ err }, 'region aggregation failed') })
  }

  onDemoted (): void {
    // Only the holder exports region metrics: drop our series at once.
    const labels = { region: this.init.region }
    for (const g of Object.values(this.init.regionMetrics)) g.remove(labels)
  }

  private export (s: RegionSummary): void {
    const m = this.init.regionMetrics
    const labels = { region: s.region }
    m.reporting.set(labels, s.reporting)
    m.stale.set(labels, s.stale)
    m.load1Avg.set(labels, s.load1.avg)
    m.load1Max.set(labels, s.load1.max)
    m.rssBytesSum.set(labels, s.rssBytes.sum)
    m.rssBytesMax.set(labels, s.rssBytes.max)
    if (s.diskFreeBytesMin !== null) m.diskFreeBytesMin.set(labels, s.diskFreeBytesMin)
    m.failedChecks.set(labels, s.failedChecks.length)
    m.anomalies.set(labels, s.loadOutliers.length)
  }

  status (): unknown {
    const alerting = this.init.alerting?.status()
    if (this.last === undefined) return alerting === undefined ? undefined : { alerting }
    return { at: this.last.at, reporting: this.last.reporting, outliers: this.last.loadOutliers.length, ...(alerting !== undefined ? { alerting } : {}) }
  }
}
