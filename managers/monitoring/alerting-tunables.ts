/**
 * The alerting duty's tunables, one set per profile, validated when this
 * module loads (lib/tunables.ts). Rule groups may set their own `interval`;
 * it is rounded up to a multiple of `evalIntervalMs`, the duty's tick.
 */
import { z } from 'zod'
import { defineTunables, tunable } from '../../lib/tunables.js'

export interface AlertingTunables {
  /**
   * The duty's tick and the interval of a group without its own, ms.
   * Prometheus defaults to 1 min; membership changes within a second and
   * health reports come every 30 s (lan), so 10 s lets `for: 30s` mean
   * 30–40 s. The series store keeps 1 h at this rate (series-store.ts).
   */
  evalIntervalMs: number
  /** Least time between two sends of a firing alert to an Alertmanager, ms (Prometheus's `--rules.alert.resend-delay`, 1 min). */
  resendDelayMs: number
  /** A webhook is told again about a still-firing alert this often, ms (Alertmanager's `repeat_interval`, 4 h). */
  repeatIntervalMs: number
  /**
   * A webhook notification queued or in flight is not offered again for
   * this long, ms: longer than a delivery's attempts with their timeouts and
   * back-off (delivery.ts: 4 × 10 s + 3.5 s), so a slow target is not sent the
   * same notification twice; after it, an unacknowledged one is offered again.
   */
  inFlightMs: number
  /** Longest wait for a config pull from live members before a new holder's first round, ms (kicked-rounds.ts). */
  pullTimeoutMs: number
}

export const alertingTunables = defineTunables<AlertingTunables>({
  module: 'monitoring.alerting',
  schema: z.strictObject({
    evalIntervalMs: tunable.positive(),
    resendDelayMs: tunable.positive(),
    repeatIntervalMs: tunable.positive(),
    inFlightMs: tunable.positive(),
    pullTimeoutMs: tunable.positive()
  }),
  profiles: {
    lan: { evalIntervalMs: 10_000, resendDelayMs: 60_000, repeatIntervalMs: 4 * 3_600_000, inFlightMs: 60_000, pullTimeoutMs: 10_000 },
    wan: { evalIntervalMs: 30_000, resendDelayMs: 60_000, repeatIntervalMs: 4 * 3_600_000, inFlightMs: 60_000, pullTimeoutMs: 20_000 },
    // Tests watch an alert fire and resolve within seconds; the resend is short so a restarted Alertmanager hears again soon.
    test: { evalIntervalMs: 500, resendDelayMs: 5_000, repeatIntervalMs: 4 * 3_600_000, inFlightMs: 60_000, pullTimeoutMs: 5_000 }
  }
})
