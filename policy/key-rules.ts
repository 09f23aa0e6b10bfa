/**
 * Every critical-config key whose format a policy owns, with its rule: the
 * agent passes this list to critical config (run on every entry and genesis
 * value) and `mycel genesis create` checks its `--set` values with it, so the
 * same rule refuses a bad value wherever it enters.
 */
import type { KeyRule } from '../protocols/bft/critical-state.js'
import { PUBLISHERS_KEY_RULE } from './publisher-trust.js'
import { ADMISSION_KEY_RULES } from './admission-values.js'
import { SECURITY_KEY_RULE } from './security-policy.js'
import { EMERGENCY_KEY_RULE } from './emergency.js'

export const POLICY_KEY_RULES: ReadonlyArray<readonly [string, KeyRule]> = [PUBLISHERS_KEY_RULE, ...ADMISSION_KEY_RULES, SECURITY_KEY_RULE, EMERGENCY_KEY_RULE]
