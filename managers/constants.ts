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
}

export const rolesTunables = defineTunables<RolesConfig>({
  module: 'roles',
  schema: z.strictObject({ reportTtlMs: tunable.positive() }),
  profiles: {
    lan: { reportTtlMs: 5 * 60_000 },
    wan: { reportTtlMs: 10 * 60_000 },
    test: { reportTtlMs: 60_000 }
  }
})

/**
 * Test hooks (partition control, stale-action injection) exist only when the
 * agent runs the `test` profile AND this variable is `1`. Never set in production.
 */
export const TEST_HOOKS_ENV = 'MYCEL_TEST_HOOKS'
