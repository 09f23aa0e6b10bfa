/** Role duty tunables (ms), per profile; the election's own live in protocols/election/constants.ts. */
import type { ProfileName } from '../lib/tunables.js'

export interface RolesConfig {
  /** Network manager: topology summary period. */
  topologyIntervalMs: number
  /** Monitoring manager: region aggregation period (health reports arrive at their own low rate). */
  monitorIntervalMs: number
  /** Configuration manager: full re-validation period (rules can change under stored values). */
  configCheckIntervalMs: number
  /** Security manager: audit period. */
  securityIntervalMs: number
  /** Update manager: placeholder loop period. */
  updateIntervalMs: number
  /** Role outputs received from holders are dropped from the API after this long without a refresh. */
  reportTtlMs: number
}

export const ROLES_PROFILES: Record<ProfileName, RolesConfig> = {
  lan: { topologyIntervalMs: 15_000, monitorIntervalMs: 10_000, configCheckIntervalMs: 30_000, securityIntervalMs: 30_000, updateIntervalMs: 30_000, reportTtlMs: 5 * 60_000 },
  wan: { topologyIntervalMs: 30_000, monitorIntervalMs: 30_000, configCheckIntervalMs: 60_000, securityIntervalMs: 60_000, updateIntervalMs: 60_000, reportTtlMs: 10 * 60_000 },
  test: { topologyIntervalMs: 1_000, monitorIntervalMs: 1_000, configCheckIntervalMs: 2_000, securityIntervalMs: 2_000, updateIntervalMs: 2_000, reportTtlMs: 60_000 }
}

/** The five management roles; config.ts ROLE_NAMES is the same list (eligibility flags). */
export const ROLE_NAMES = ['network', 'update', 'config', 'security', 'monitoring'] as const
export type RoleName = typeof ROLE_NAMES[number]

/**
 * Test hooks (partition control, stale-action injection) exist only when the
 * agent runs the `test` profile AND this variable is `1`. Never set in production.
 */
export const TEST_HOOKS_ENV = 'MYCEL_TEST_HOOKS'
