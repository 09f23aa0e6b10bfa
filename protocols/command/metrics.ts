/** The command protocol's metrics, defined once (lib/metrics.ts reuses them per registry). */
import type { Registry } from 'prom-client'
import { metricsOn } from '../../lib/metrics.js'

export function commandMetrics (registry?: Registry) {
  const m = metricsOn(registry)
  return {
    /** Requests this node heard, by outcome: ran, not_target, or a refusal reason. */
    received: m.counter({ name: 'mycel_commands_received_total', help: 'Command requests received, by result (ran, not_target, or the refusal reason)', labelNames: ['result'] as const }),
    /** Answers that reached this node as originator, by what became of them. */
    answers: m.counter({ name: 'mycel_command_answers_total', help: 'Command answers received by the originator, by result (accepted, duplicate, unsolicited, forged, invalid)', labelNames: ['result'] as const }),
    sent: m.counter({ name: 'mycel_commands_sent_total', help: 'Command requests this node originated' }),
    /** Answers this node could not deliver to an originator. */
    undelivered: m.counter({ name: 'mycel_command_answers_undelivered_total', help: 'Command answers this node failed to deliver to the originator' }),
    fanout: m.histogram({ name: 'mycel_command_fanout_seconds', help: 'From request to the last answer (or the timeout), at the originator', buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] })
  }
}

export type CommandMetrics = ReturnType<typeof commandMetrics>
