/**
 * The security manager's metrics, one factory; optional registry. The
 * findings gauge is set only by the region's holder (removed at demotion),
 * so a Prometheus scraping every node sees each region once. Offences are
 * counted on every node by lib/peer-offences.ts (`mycel_security_offences_total{kind}`).
 */
import type { Registry } from 'prom-client'
import { metricsOn } from '../lib/metrics.js'

export function securityMetrics (registry?: Registry) {
  const m = metricsOn(registry)
  return {
    findings: m.gauge({ name: 'mycel_security_findings', help: 'Peers over an offence threshold in the region (set by the region security manager)', labelNames: ['region'] as const })
  }
}

export type SecurityMetrics = ReturnType<typeof securityMetrics>
