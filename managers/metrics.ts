/** Role framework metrics, one factory; optional registry. */
import type { Gauge, Registry } from 'prom-client'
import { metricsOn } from '../lib/metrics.js'

export function rolesMetrics (registry?: Registry) {
  const m = metricsOn(registry)
  return {
    activations: m.counter({ name: 'mycel_roles_activations_total', help: 'Role loops started on this node (elected)', labelNames: ['role'] }),
    handoffs: m.counter({ name: 'mycel_roles_handoffs_total', help: 'Role loops stopped on this node, by demotion reason', labelNames: ['role', 'reason'] }),
    active: m.gauge({ name: 'mycel_roles_active', help: '1 while this node runs the role loop', labelNames: ['role'] }),
    actions: m.counter({
      name: 'mycel_roles_actions_total',
      help: 'Fenced role actions: sent by this node, accepted, or rejected (stale_term, wrong_region, not_holder, ...)',
      labelNames: ['role', 'result']
    }),
    dutyErrors: m.counter({ name: 'mycel_roles_duty_errors_total', help: 'Failed runs of a role duty', labelNames: ['role'] })
  }
}

export type RolesMetrics = ReturnType<typeof rolesMetrics>

/**
 * Region metrics the monitoring manager exports while it holds the role.
 * Only the holder sets them (the labels are removed at demotion), so a
 * Prometheus scraping every node sees each region exactly once.
 */
export function regionMetrics (registry?: Registry) {
  const m = metricsOn(registry)
  const g = (name: string, help: string, labelNames: string[] = ['region']): Gauge<string> => m.gauge({ name, help, labelNames })
  return {
    reporting: g('mycel_region_members_reporting', 'Members of the region with a fresh health report'),
    stale: g('mycel_region_reports_stale', 'Members of the region whose latest health report is stale'),
    load1Avg: g('mycel_region_load1_avg', 'Mean 1-minute load average over the region'),
    load1Max: g('mycel_region_load1_max', 'Highest 1-minute load average in the region'),
    rssBytesSum: g('mycel_region_rss_bytes', 'Daemon resident memory summed over the region, bytes'),
    rssBytesMax: g('mycel_region_rss_bytes_max', 'Largest daemon resident memory in the region, bytes'),
    diskFreeBytesMin: g('mycel_region_disk_free_bytes_min', 'Least free disk space on a data dir in the region, bytes'),
    failedChecks: g('mycel_region_failed_checks', 'Failed health checks reported across the region'),
    anomalies: g('mycel_region_load_anomalies', 'Members whose load is an outlier (z-score above the threshold)')
  }
}

export type RegionMetrics = ReturnType<typeof regionMetrics>

/**
 * The network manager's placement duty (placement-duty.ts). Decisions and
 * writes count on the holder that made them; `mycel_placement_unplaced` is
 * set only while this node holds the role (reset at demotion), so each
 * region's shortfall is exported once.
 */
export function placementMetrics (registry?: Registry) {
  const m = metricsOn(registry)
  return {
    decisions: m.counter({
      name: 'mycel_placement_decisions_total',
      help: 'Instances the network manager started or stopped on a node, by reason (start: system|count; stop: node-dead|node-gone|ineligible|failed|excess)',
      labelNames: ['action', 'reason']
    }),
    unplaced: m.gauge({ name: 'mycel_placement_unplaced', help: 'Instances of a counted deployment no eligible node of the region could take (set by the holder)', labelNames: ['deployment'] }),
    writes: m.counter({ name: 'mycel_placement_record_writes_total', help: 'Placement records written or deleted in replicated config by this holder', labelNames: ['op'] }),
    superseded: m.counter({ name: 'mycel_placement_superseded_total', help: 'Deployments a holder left alone because a record of a newer term exists (this node lost the role)' })
  }
}

export type PlacementMetrics = ReturnType<typeof placementMetrics>
