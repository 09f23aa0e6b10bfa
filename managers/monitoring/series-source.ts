/**
 * The series a region's monitoring manager evaluates rules over, made each
 * evaluation round from what every node already has: membership and the
 * region's signed health reports. The same list is in docs/monitoring.md
 * ("Series"); every series carries `peer` and `region`.
 *
 *   mycel_member_up                       1 alive, 0 suspect/dead/left (revoked peers are not members)
 *   mycel_member_state{state}             1 for the member's current state
 *   mycel_node_info{version}              1, one per reporting node
 *   mycel_node_report_age_seconds         age of the node's latest health report
 *   mycel_node_uptime_seconds
 *   mycel_node_load1, _load5, _load15     load averages
 *   mycel_node_cpus
 *   mycel_node_memory_rss_bytes, mycel_node_memory_heap_used_bytes  the agent's own
 *   mycel_node_memory_total_bytes, mycel_node_memory_free_bytes, mycel_node_memory_used_ratio  the host's
 *   mycel_node_disk_free_bytes, mycel_node_disk_free_ratio  the data dir's file system (ratio: reports with its size)
 *   mycel_node_check_ok{check}            1 passing, 0 failing
 *   mycel_component_up{name,version}      1 running and not failing its health check, else 0
 *   mycel_component_restarts_total{name,version}
 *   mycel_anomaly_score{series}           the anomaly detector's score of a node series (anomaly.ts)
 *
 * A stale health report (older than the health protocol's stale bound) gives
 * no node series: they go stale in the store, so rules see them vanish
 * rather than freeze at their last values.
 */
import type { HealthReport } from '../../protocols/health/report.js'
import type { Member } from '../../protocols/membership/types.js'
import type { Labels } from './types.js'

export interface ScrapedSample { labels: Labels, v: number }

/** The node series of one report that the anomaly detector watches (name → value). */
export function nodeValues (r: HealthReport, now: number): Record<string, number> {
  const out: Record<string, number> = {
    mycel_node_report_age_seconds: Math.max(0, (now - r.issuedAt) / 1000),
    mycel_node_uptime_seconds: r.uptimeSeconds,
    mycel_node_load1: r.load[0],
    mycel_node_load5: r.load[1],
    mycel_node_load15: r.load[2],
    mycel_node_cpus: r.cpus,
    mycel_node_memory_rss_bytes: r.memory.rssBytes,
    mycel_node_memory_heap_used_bytes: r.memory.heapUsedBytes,
    mycel_node_memory_total_bytes: r.memory.totalBytes,
    mycel_node_memory_free_bytes: r.memory.freeBytes,
    mycel_node_disk_free_bytes: r.diskFreeBytes
  }
  if (r.memory.totalBytes > 0) out.mycel_node_memory_used_ratio = 1 - r.memory.freeBytes / r.memory.totalBytes
  if (r.diskTotalBytes !== undefined && r.diskTotalBytes > 0) out.mycel_node_disk_free_ratio = r.diskFreeBytes / r.diskTotalBytes
  return out
}

/** The series of the node values the anomaly detector scores (not ages, counters of time or fixed sizes). */
export const ANOMALY_SERIES: readonly string[] = [
  'mycel_node_load1', 'mycel_node_memory_rss_bytes', 'mycel_node_memory_heap_used_bytes', 'mycel_node_memory_used_ratio', 'mycel_node_disk_free_ratio'
]

export interface RegionSeriesInput {
  region: string
  members: readonly Member[]
  reports: ReadonlyArray<{ report: HealthReport, stale?: boolean }>
  /** Current anomaly scores by peer and series. */
  anomalies?: ReadonlyArray<{ peer: string, series: string, score: number }>
  now: number
}

/** One evaluation round's full set of series for `region`. */
export function regionSeries (i: RegionSeriesInput): ScrapedSample[] {
  const out: ScrapedSample[] = []
  const base = (peer: string): Record<string, string> => ({ peer, region: i.region })
  for (const m of i.members) {
    if (m.region !== i.region || m.state === 'revoked') continue
    out.push({ labels: { __name__: 'mycel_member_up', ...base(m.peerId) }, v: m.state === 'alive' ? 1 : 0 })
    out.push({ labels: { __name__: 'mycel_member_state', ...base(m.peerId), state: m.state }, v: 1 })
  }
  for (const { report: r, stale } of i.reports) {
    if (stale === true || r.region !== i.region) continue
    const peer = base(r.peerId)
    out.push({ labels: { __name__: 'mycel_node_info', ...peer, version: r.version }, v: 1 })
    for (const [name, v] of Object.entries(nodeValues(r, i.now))) out.push({ labels: { __name__: name, ...peer }, v })
    const checks = new Set<string>()
    for (const c of r.checks) {
      if (checks.has(c.name)) continue
      checks.add(c.name)
      out.push({ labels: { __name__: 'mycel_node_check_ok', ...peer, check: c.name }, v: c.ok ? 1 : 0 })
    }
    for (const c of r.components ?? []) {
      const labels = { ...peer, name: c.name, version: c.version }
      out.push({ labels: { __name__: 'mycel_component_up', ...labels }, v: c.state === 'running' && c.health !== 'failing' ? 1 : 0 })
      out.push({ labels: { __name__: 'mycel_component_restarts_total', ...labels }, v: c.restarts })
    }
  }
  for (const a of i.anomalies ?? []) {
    out.push({ labels: { __name__: 'mycel_anomaly_score', ...base(a.peer), series: a.series }, v: a.score })
  }
  return out
}
