/**
 * The role framework's own tunables, per profile; each role's duty tunables
 * live beside it (network-manager.ts, ...) and the election's in
 * protocols/election/constants.ts. Resolve with
 * `rolesTunables.defaults(profile)` / `.create(profile, overrides)`
 * (lib/tunables.ts).
 */
import { z } from 'zod'
import { defineTunables, tunable } from '../lib/tunables.js'

export interface RolesConfig {
  /** Role outputs received from holders are dropped from the API after this long without a refresh, ms. */
  reportTtlMs: number
  /**
   * A role's periodic statement (region metrics, topology, findings, update
   * status...) that has not changed since the holder last sent it, in the
   * same term, is sent again only after this long, ms. Every member keeps
   * the latest statement (GET /v1/roles/outputs) until `reportTtlMs`, so
   * restating an unchanged one every duty period (10–30 s) was gossip for
   * nothing: each statement crosses every mesh link of the region. 0 sends
   * every statement.
   */
  statementRefreshMs: number
  /**
   * A changed statement is sent at most this often, ms (statements that
   * change every period, like region load, go out at this pace). The
   * holder applies each one locally at once. 0: no minimum.
   */
  statementMinGapMs: number
}

export const rolesTunables = defineTunables<RolesConfig>({
  module: 'roles',
  schema: z.strictObject({ reportTtlMs: tunable.positive(), statementRefreshMs: tunable.nonNegative(), statementMinGapMs: tunable.nonNegative() }),
  profiles: {
    lan: { reportTtlMs: 5 * 60_000, statementRefreshMs: 2 * 60_000, statementMinGapMs: 60_000 },
    wan: { reportTtlMs: 10 * 60_000, statementRefreshMs: 4 * 60_000, statementMinGapMs: 2 * 60_000 },
    // Tests read statements within seconds: every one is sent.
    test: { reportTtlMs: 60_000, statementRefreshMs: 0, statementMinGapMs: 0 }
  },
  relations: [
    // One lost restatement must not drop a live holder's output from the API.
    t => 2 * t.statementRefreshMs <= t.reportTtlMs ? undefined : `statementRefreshMs (${t.statementRefreshMs}) × 2 must not exceed reportTtlMs (${t.reportTtlMs}): one lost restatement must not drop a live holder's output`,
    t => t.statementMinGapMs <= t.statementRefreshMs ? undefined : `statementMinGapMs (${t.statementMinGapMs}) must not exceed statementRefreshMs (${t.statementRefreshMs})`
  ]
})

/**
 * Test hooks (partition control, stale-action injection) exist only when the
 * agent runs the `test` profile AND this variable is `1`. Never set in production.
 */
export const TEST_HOOKS_ENV = 'MYCEL_TEST_HOOKS'
