/**
 * Rollout metrics (issue 14, point 6). Set by the region's update manager
 * while it holds the role (the gauges are reset at demotion), so a
 * Prometheus scraping every node sees each region once.
 */
import { metricsOn } from '../../lib/metrics.js'
import type { Registry } from 'prom-client'

export function rolloutMetrics (registry?: Registry) {
  const m = metricsOn(registry)
  return {
    rollouts: m.gauge({ name: 'mycel_rollouts', help: 'Rollouts that include this region, by state (set by the region\'s update manager)', labelNames: ['region', 'state'] }),
    waveSeconds: m.histogram({
      name: 'mycel_rollout_wave_duration_seconds',
      help: 'From a wave\'s start to its gate passing, seconds',
      labelNames: ['component'],
      buckets: [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800]
    }),
    gateFailures: m.counter({ name: 'mycel_rollout_gate_failures_total', help: 'Wave gates that failed, by reason (node-failed, health-failing, healthy-deadline, progress-deadline)', labelNames: ['reason'] }),
    rollbacks: m.counter({ name: 'mycel_rollout_rollbacks_total', help: 'Rollouts this region\'s update manager saw become rolled-back, by trigger (gate: auto-revert; operator: mycel rollout rollback)', labelNames: ['trigger'] }),
    assignments: m.counter({ name: 'mycel_rollout_assignments_total', help: 'Nodes told to switch to a rollout\'s version by this update manager' }),
    nodesPerVersion: m.gauge({ name: 'mycel_component_nodes', help: 'Nodes of the region reporting a component, by component and version (set by the region\'s update manager)', labelNames: ['component', 'version'] }),
    writes: m.counter({ name: 'mycel_rollout_writes_total', help: 'Rollout records written or deleted by this update manager (progress, progress-delete, deployment)', labelNames: ['op'] }),
    superseded: m.counter({ name: 'mycel_rollout_superseded_total', help: 'Region steps left alone because a progress record of a newer term exists (this node lost the role)' })
  }
}

export type RolloutMetrics = ReturnType<typeof rolloutMetrics>
