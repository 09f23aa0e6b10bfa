/**
 * The component host's metrics (docs/components.md "Metrics"). States are a
 * gauge read at scrape time from the host itself, so they never drift from
 * what `mycel component status` shows.
 */
import type { Counter, Gauge, Registry } from 'prom-client'
import { metricsOn } from '../lib/metrics.js'
import { COMPONENT_STATES, type ComponentReport } from '../protocols/health/report.js'

export interface HostMetrics {
  restarts: Counter<'component'>
  healthResults: Counter<'component' | 'result'>
  installs: Counter<'result'>
  /** Set by the host: what `states` reads at scrape time. */
  bind: (report: () => ComponentReport[]) => void
}

export function hostMetrics (registry: Registry | undefined): HostMetrics {
  const m = metricsOn(registry)
  let report: () => ComponentReport[] = () => []
  const states: Gauge<'component' | 'state'> = m.gauge({
    name: 'mycel_component_state',
    help: 'Components this node hosts, by state (1 for the state it is in, 0 for the others)',
    labelNames: ['component', 'state'],
    collect () {
      states.reset()
      for (const c of report()) {
        for (const s of COMPONENT_STATES) states.set({ component: c.name, state: s }, c.state === s ? 1 : 0)
      }
    }
  })
  return {
    restarts: m.counter({ name: 'mycel_component_restarts_total', help: 'Component processes started again after they exited (this agent process)', labelNames: ['component'] }),
    healthResults: m.counter({ name: 'mycel_component_health_checks_total', help: 'Component health check runs, by result (passed, failed)', labelNames: ['component', 'result'] }),
    installs: m.counter({ name: 'mycel_component_installs_total', help: 'Component install attempts (fetch, verify, unpack, switch), by result (ok or the error name)', labelNames: ['result'] }),
    bind: (r) => { report = r }
  }
}
