/**
 * Health-report tunables, one set per profile, validated when this module
 * loads; resolve with `healthTunables.defaults(profile)` (lib/tunables.ts).
 * No rule ties the fields to each other: each only has to be positive.
 */
import { z } from 'zod'
import { defineTunables, tunable } from '../../lib/tunables.js'

export interface HealthConfig {
  /** How often a node publishes its report, ms. Low rate: reports are informational, SWIM detects failure. */
  publishIntervalMs: number
  /** Reports older than this many intervals are shown as stale. */
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
}

export const healthTunables = defineTunables<HealthConfig>({
  module: 'health',
  schema: z.strictObject({
    publishIntervalMs: tunable.positive(),
    staleAfterIntervals: tunable.positive(),
    maxFutureSkewMs: tunable.positive(),
    maxReportBytes: tunable.positive(),
    minPublishGapMs: tunable.positive()
  }),
  profiles: {
    lan: { publishIntervalMs: 30_000, staleAfterIntervals: 3, maxFutureSkewMs: 60_000, maxReportBytes: 16 * 1024, minPublishGapMs: 2_000 },
    wan: { publishIntervalMs: 30_000, staleAfterIntervals: 3, maxFutureSkewMs: 120_000, maxReportBytes: 16 * 1024, minPublishGapMs: 5_000 },
    test: { publishIntervalMs: 1_000, staleAfterIntervals: 5, maxFutureSkewMs: 60_000, maxReportBytes: 16 * 1024, minPublishGapMs: 200 }
  }
})

export const HEALTH_TOPIC_PREFIX = 'mycel/health'
/** Gossipsub topic carrying one region's health reports. */
export const healthTopic = (region: string): string => `${HEALTH_TOPIC_PREFIX}/${region}/1`
