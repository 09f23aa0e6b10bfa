/**
 * Metrics of the control state (control-state.ts): which layer has control
 * of this node's management services, its transitions, and how long a freeze
 * or thaw record took from its writer to this node's duties stopping or
 * starting (the record's `at` to the transition: includes clock skew between
 * the two nodes).
 */
import type { Registry } from 'prom-client'
import { metricsOn } from '../lib/metrics.js'

const STATES = ['core', 'services', 'frozen'] as const

export function controlMetrics (registry?: Registry) {
  const m = metricsOn(registry)
  const state = m.gauge({ name: 'mycel_control_state', help: 'Who has control of this node\'s management services: 1 for the current state (core, services, frozen), 0 for the others', labelNames: ['state'] })
  const transitions = m.counter({ name: 'mycel_control_transitions_total', help: 'Control state transitions of this node, by from and to state', labelNames: ['from', 'to'] })
  const applyDelay = m.histogram({
    name: 'mycel_emergency_apply_seconds',
    help: 'From an emergency freeze or thaw record\'s time to this node applying it (duties stopped or resumed), seconds',
    labelNames: ['action'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60]
  })
  return {
    applyDelay,
    set (current: string): void { for (const s of STATES) state.set({ state: s }, s === current ? 1 : 0) },
    transition (from: string, to: string): void {
      transitions.inc({ from, to })
      this.set(to)
    }
  }
}

export type ControlMetrics = ReturnType<typeof controlMetrics>
