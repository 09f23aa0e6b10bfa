/**
 * Health-report tunables, one set per profile, validated when this module
 * loads; resolve with `healthTunables.defaults(profile)` (lib/tunables.ts).
 * The refresh cap is at least the base period and within what every reader accepts.
 */
import { z } from 'zod'
import { defineTunables, tunable } from '../../lib/tunables.js'

/** Largest refresh period a report may announce, ms (a day); readers refuse more. */
export const MAX_REFRESH_MS = 24 * 3600_000

export interface HealthConfig {
  /**
   * How often a node looks at its report, ms: a change a reader acts on is
   * published then (or at once through `publishSoon`), and this is the
   * shortest refresh period (cadence.ts). Reports are informational; SWIM
   * detects failure.
   */
  publishIntervalMs: number
  /**
   * The region's reports add up to at most this many a second: a node's
   * refresh period is region size / this, at least `publishIntervalMs`
   * (cadence.ts). Every member receives every report, so this bounds what
   * health costs each node whatever the region's size. Per second.
   */
  regionReportsPerSecond: number
  /** Longest refresh period, ms: gauges in a report are never older than this (plus a check period). */
  maxRefreshMs: number
  /** Reports older than this many of their publisher's refresh periods are shown as stale. */
  staleAfterIntervals: number
  /** Reports stamped further than this in the future are dropped (clock skew bound), ms. */
  maxFutureSkewMs: number
  /** Largest encoded report accepted, bytes. */
  maxReportBytes: number
  /**
   * Shortest gap between two reports when a change asks for one early
   * (`publishSoon`: a component changed state), ms. Operators watch
   * `mycel component status` after a deploy; a 30 s wait for the next
   * periodic report would hide what happened, and a crash loop must not
   * turn into a report storm.
   */
  minPublishGapMs: number
  /**
   * A starting node asks one member of its region for every report it holds
   * (sync.ts): with refreshes minutes apart in a large region it would
   * otherwise know few of them for minutes. Deadline of that exchange, ms.
   */
  syncTimeoutMs: number
}

export const healthTunables = defineTunables<HealthConfig>({
  module: 'health',
  schema: z.strictObject({
    publishIntervalMs: tunable.positive(),
    regionReportsPerSecond: z.number().positive(),
    maxRefreshMs: tunable.positive(),
    staleAfterIntervals: tunable.positive(),
    maxFutureSkewMs: tunable.positive(),
    maxReportBytes: tunable.positive(),
    minPublishGapMs: tunable.positive(),
    syncTimeoutMs: tunable.positive()
  }),
  profiles: {
    // A quarter of a report a second per region: 30 s refreshes up to 7 members, 120 s at 30, 400 s at 100, the
    // 10-minute cap from 150. It was half (30 s up to 15, 200 s at 100): reports are an idle agent's largest gossip
    // stream, and what a reader acts on is sent at once anyway; only gauges wait (docs/performance.md, 15th pass).
    lan: { publishIntervalMs: 30_000, regionReportsPerSecond: 0.25, maxRefreshMs: 600_000, staleAfterIntervals: 3, maxFutureSkewMs: 60_000, maxReportBytes: 16 * 1024, minPublishGapMs: 2_000, syncTimeoutMs: 10_000 },
    wan: { publishIntervalMs: 30_000, regionReportsPerSecond: 0.25, maxRefreshMs: 600_000, staleAfterIntervals: 3, maxFutureSkewMs: 120_000, maxReportBytes: 16 * 1024, minPublishGapMs: 5_000, syncTimeoutMs: 20_000 },
    // Tests watch gauges move within seconds: the region rate keeps the 1 s period up to 50 members.
    test: { publishIntervalMs: 1_000, regionReportsPerSecond: 50, maxRefreshMs: 10_000, staleAfterIntervals: 5, maxFutureSkewMs: 60_000, maxReportBytes: 16 * 1024, minPublishGapMs: 200, syncTimeoutMs: 3_000 }
  },
  relations: [
    t => t.maxRefreshMs >= t.publishIntervalMs ? undefined : `maxRefreshMs (${t.maxRefreshMs}) must not be below publishIntervalMs (${t.publishIntervalMs})`,
    // A reader's bound on the field is MAX_REFRESH_MS whatever its profile (report.ts).
    t => t.maxRefreshMs <= MAX_REFRESH_MS ? undefined : `maxRefreshMs (${t.maxRefreshMs}) must not exceed MAX_REFRESH_MS (${MAX_REFRESH_MS}), which every reader enforces`
  ]
})

export const HEALTH_TOPIC_PREFIX = 'mycel/health'
/** Gossipsub topic carrying one region's health reports. */
export const healthTopic = (region: string): string => `${HEALTH_TOPIC_PREFIX}/${region}/1`
