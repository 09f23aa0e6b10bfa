/**
 * When a node publishes its health report. Every report reaches every member
 * of the region (gossipsub), so a fixed period makes each node receive
 * N / period reports a second: the one gossip stream that grows with the
 * region (docs/performance.md, issue 18). Serf and Consul send what changed
 * and refresh slowly, Consul scaling its anti-entropy period with the
 * cluster's size so the servers' load stays bounded; the same here:
 *
 *  - a node looks at its report every `publishIntervalMs` and publishes it at
 *    once when something a reader acts on changed (checks, components, roles,
 *    labels, version, offences: `significantKey`); gauges (load, memory,
 *    disk, uptime) alone wait for the refresh;
 *  - the refresh comes every `refreshIntervalMs`: the base period, stretched
 *    so the region's reports add up to `regionReportsPerSecond` at most,
 *    capped at `maxRefreshMs`;
 *  - the report carries its refresh period (`refreshMs`), and a reader calls
 *    it stale after `staleAfterIntervals` of *its publisher's* periods (up
 *    to its own cap): the nodes of a region need not agree on its size for
 *    staleness to mean the same thing everywhere. A report without the field
 *    (an older release) is judged by the reader's base period, as before;
 *    so a node stretches its period only once every alive member of its
 *    region it knows a report of carries the field (wire rule 3: switch
 *    late), and the next refresh never comes later than the period its last
 *    report announced.
 */
import type { HealthConfig } from './constants.js'
import type { HealthReport } from './report.js'

/** The parts of a report whose change is published at once, as one comparable string. */
export function significantKey (r: HealthReport): string {
  return JSON.stringify([
    r.region, r.version, r.cpus, r.roles, r.checks, r.labels ?? null, r.components ?? null,
    r.offences === undefined ? null : r.offences.peers.map(p => [p.peer, p.kinds, p.firstSeen])
  ])
}

/** How often a node of a region of `regionSize` members refreshes its report, ms (all of them read `refreshMs`). */
export function refreshIntervalMs (cfg: Pick<HealthConfig, 'publishIntervalMs' | 'regionReportsPerSecond' | 'maxRefreshMs'>, regionSize: number): number {
  const n = Number.isFinite(regionSize) && regionSize > 1 ? regionSize : 1
  const spread = Math.ceil(n / cfg.regionReportsPerSecond * 1000)
  return Math.max(cfg.publishIntervalMs, Math.min(cfg.maxRefreshMs, spread))
}

/**
 * Age after which a reader calls `report` stale, ms. The publisher's period
 * is taken up to the reader's own cap: a member announcing a day and then
 * going quiet is not "fresh" for three days.
 */
export function staleAfterMs (cfg: Pick<HealthConfig, 'publishIntervalMs' | 'staleAfterIntervals' | 'maxRefreshMs'>, report: Pick<HealthReport, 'refreshMs'>): number {
  return cfg.staleAfterIntervals * Math.min(report.refreshMs ?? cfg.publishIntervalMs, Math.max(cfg.maxRefreshMs, cfg.publishIntervalMs))
}
