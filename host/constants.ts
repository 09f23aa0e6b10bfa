/**
 * The component host's tunables, one set per profile, validated when this
 * module loads; resolve with `hostTunables.defaults(profile)` or
 * `.create(profile, overrides)` (lib/tunables.ts).
 *
 * The restart rules follow systemd: `Restart=always` with an exponential
 * delay (`RestartSec=` growing towards `RestartMaxDelaySec=`) and a start
 * limit (`StartLimitBurst=` starts within `StartLimitIntervalSec=`, then the
 * unit is `failed` and no longer restarted). Our defaults are slower than
 * systemd's (5 starts in 10 s): a component is a network service pulled
 * over the network, and a crash loop should be visible in the health
 * report for a while before it gives up.
 */
import { z } from 'zod'
import { defineTunables, tunable } from '../lib/tunables.js'

export interface HostConfig {
  /** Delay before the first restart after an exit, ms. systemd's RestartSec=. */
  backoffMinMs: number
  /** The delay doubles on each quick exit up to this, ms. systemd's RestartMaxDelaySec=. */
  backoffMaxMs: number
  /** Random ±fraction on every delay, so components that crash together do not restart in step. */
  backoffJitter: number
  /** A run at least this long counts as healthy: the next exit starts the backoff from its minimum again, ms. */
  backoffResetMs: number
  /** Starts allowed within `startLimitIntervalMs`; one more and the component is `failed`. systemd's StartLimitBurst=. */
  startLimitBurst: number
  /** The start limit's window, ms. systemd's StartLimitIntervalSec=. */
  startLimitIntervalMs: number
  /** After SIGTERM to the process group, SIGKILL follows this much later, ms. systemd's TimeoutStopSec=. */
  stopTimeoutMs: number
  /** How often an adopted process (no longer our child: no exit event) is looked up in /proc, ms. */
  adoptPollMs: number
  /** A component's log file is rotated once it is larger than this, bytes. */
  logMaxBytes: number
  /** Log files kept per component, the live one included (so at most about logFiles × logMaxBytes on disk). */
  logFiles: number
  /** How often the live log's size is checked, ms. It may outgrow logMaxBytes by what the component writes in this time. */
  logCheckMs: number
  /** Default pause between two health checks, ms (a manifest's `interval`). */
  healthIntervalMs: number
  /** Default time a health check may take before it is killed and counted as failed, ms (`timeout`). */
  healthTimeoutMs: number
  /** Default consecutive failed checks before the component is `failing` (`failureThreshold`). */
  healthFailureThreshold: number
  /**
   * First pause before a failed install (release not known yet, no
   * provider, disk full) is tried again, ms; doubles per failure up to
   * `installRetryMaxMs`. A release replicates and a provider appears on
   * their own, so the host keeps trying, but never in a busy loop.
   */
  installRetryMinMs: number
  /** Longest pause between install attempts, ms. */
  installRetryMaxMs: number
  /**
   * While this agent is a core build on trial (the launcher has not yet
   * seen it ready), how often the host reads the launcher state again to
   * learn it was confirmed, ms. The launcher checks readiness about once a
   * second (launcher/tunables.ts readyPollMs), so a second here reports
   * the confirmation within two of it.
   */
  corePollMs: number
}

/**
 * lan and wan alike: a component's crash loop and its health checks do not
 * depend on the links between nodes.
 */
const STANDARD: HostConfig = {
  backoffMinMs: 1_000,
  backoffMaxMs: 60_000,
  backoffJitter: 0.2,
  backoffResetMs: 60_000,
  startLimitBurst: 5,
  startLimitIntervalMs: 10 * 60_000,
  stopTimeoutMs: 10_000,
  adoptPollMs: 1_000,
  logMaxBytes: 10 * 1024 * 1024,
  logFiles: 3,
  logCheckMs: 10_000,
  healthIntervalMs: 10_000,
  healthTimeoutMs: 5_000,
  healthFailureThreshold: 3,
  installRetryMinMs: 2_000,
  installRetryMaxMs: 60_000,
  corePollMs: 1_000
}

export const hostTunables = defineTunables<HostConfig>({
  module: 'host',
  schema: z.strictObject({
    backoffMinMs: tunable.positive(),
    backoffMaxMs: tunable.positive(),
    backoffJitter: tunable.fraction(),
    backoffResetMs: tunable.positive(),
    startLimitBurst: tunable.positive(),
    startLimitIntervalMs: tunable.positive(),
    stopTimeoutMs: tunable.positive(),
    adoptPollMs: tunable.positive(),
    logMaxBytes: tunable.positive(),
    logFiles: tunable.positive(),
    logCheckMs: tunable.positive(),
    healthIntervalMs: tunable.positive(),
    healthTimeoutMs: tunable.positive(),
    healthFailureThreshold: tunable.positive(),
    installRetryMinMs: tunable.positive(),
    installRetryMaxMs: tunable.positive(),
    corePollMs: tunable.positive()
  }),
  profiles: {
    lan: STANDARD,
    wan: STANDARD,
    // Fast: a crash loop reaches `failed` in about a second, an adopted exit is seen within 100 ms.
    test: {
      backoffMinMs: 50,
      backoffMaxMs: 400,
      backoffJitter: 0.2,
      backoffResetMs: 2_000,
      startLimitBurst: 5,
      startLimitIntervalMs: 10_000,
      stopTimeoutMs: 2_000,
      adoptPollMs: 100,
      logMaxBytes: 64 * 1024,
      logFiles: 3,
      logCheckMs: 500,
      healthIntervalMs: 500,
      healthTimeoutMs: 500,
      healthFailureThreshold: 2,
      installRetryMinMs: 100,
      installRetryMaxMs: 1_000,
      corePollMs: 100
    }
  },
  relations: [
    t => t.backoffMaxMs >= t.backoffMinMs ? undefined : 'backoffMaxMs must be at least backoffMinMs (the delay only grows)',
    // burst + 1 starts at most the longest delay apart must fit in the window, or a crash loop at that delay restarts forever.
    t => t.startLimitIntervalMs > t.startLimitBurst * t.backoffMaxMs * (1 + t.backoffJitter) ? undefined : 'startLimitIntervalMs must exceed startLimitBurst × backoffMaxMs with its jitter (or a crash loop at the longest delay never hits the start limit)',
    t => t.installRetryMaxMs >= t.installRetryMinMs ? undefined : 'installRetryMaxMs must be at least installRetryMinMs',
    t => t.healthTimeoutMs <= t.healthIntervalMs ? undefined : 'healthTimeoutMs must not exceed healthIntervalMs (checks would overlap)'
  ]
})
