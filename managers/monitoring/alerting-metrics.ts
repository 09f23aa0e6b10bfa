/**
 * The alerting duty's metrics, set only on the holder (removed at demotion,
 * like the region metrics), so a Prometheus scraping every node sees each
 * region once. Delivery has its own (delivery.ts).
 */
import type { Registry } from 'prom-client'
import { metricsOn } from '../../lib/metrics.js'
import type { Alert } from './alert-lifecycle.js'

const STATES = ['pending', 'firing', 'resolved'] as const

export function alertingMetrics (registry?: Registry) {
  const m = metricsOn(registry)
  const alertsGauge = m.gauge<'region' | 'state'>({ name: 'mycel_alerts', help: 'Alerts of the region by lifecycle state (resolved: kept 15 min to send their resolve)', labelNames: ['region', 'state'] })
  const evaluationFailures = m.counter<'region' | 'group'>({ name: 'mycel_alert_rule_evaluation_failures_total', help: 'Alert rule evaluations that failed (the rule\'s alerts stay as they were)', labelNames: ['region', 'group'] })
  const groupDuration = m.gauge<'region' | 'group'>({ name: 'mycel_alert_rule_group_last_duration_seconds', help: 'How long the last evaluation of a rule group took', labelNames: ['region', 'group'] })
  // The group labels set, so demotion removes exactly the series this node made.
  const groups = new Set<string>()
  return {
    evaluationFailed (region: string, group: string): void {
      groups.add(group)
      evaluationFailures.inc({ region, group })
    },
    groupEvaluated (region: string, group: string, seconds: number): void {
      groups.add(group)
      groupDuration.set({ region, group }, seconds)
    },
    alerts (region: string, all: readonly Alert[]): void {
      for (const s of STATES) alertsGauge.set({ region, state: s }, all.filter(a => a.state === s).length)
    },
    /** Drop the region's series: this node no longer holds the role. */
    clear (region: string): void {
      for (const s of STATES) alertsGauge.remove({ region, state: s })
      for (const group of groups) {
        groupDuration.remove({ region, group })
        evaluationFailures.remove({ region, group })
      }
      groups.clear()
    }
  }
}

export type AlertingMetrics = ReturnType<typeof alertingMetrics>
