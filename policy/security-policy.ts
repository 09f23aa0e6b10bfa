/**
 * How the security managers judge offences (issue 15 item 6), one setting for
 * the whole network in critical config key `security`, committed through BFT:
 *
 *   {"autoProposeRevocation": true, "threshold": {"bad_signature": 3}, "minReporters": 2}
 *
 *  - `autoProposeRevocation`: a finding carries a revoke *proposal* — a
 *    record admins see in `mycel security findings`, with the exact
 *    `mycel admission revoke PEER` command. Never an automatic commit: only an
 *    admin's signed entry revokes (docs/security.md "Security monitoring").
 *  - `threshold`: per offence kind, the region-wide count that makes a
 *    finding; kinds left out keep the profile's default (managers/security-aggregate.ts).
 *  - `minReporters`: how many distinct nodes must report a peer; one lying
 *    node alone then cannot make a finding.
 *
 * An absent or deleted key: profile thresholds, one reporter, no proposals.
 * The format is one rule run where a value enters (validators' entry check
 * and genesis values through `SECURITY_KEY_RULE` in key-rules.ts); a value
 * that still fails to parse (an older release without the rule) proposes
 * nothing and says why.
 */
import { z } from 'zod'
import { OFFENCE_KINDS, type OffenceKind } from '../lib/peer-offences.js'
import type { CriticalConfig } from '../protocols/bft/critical-state.js'

export const SECURITY_KEY = 'security'

/** Largest threshold or reporter count accepted: beyond it the setting can never trigger, which is a mistake to refuse. */
export const MAX_SECURITY_COUNT = 1_000_000

export class InvalidSecuritySettingError extends Error {
  static name = 'InvalidSecuritySettingError'
  override name = 'InvalidSecuritySettingError'
}

const count = z.number().int().min(1).max(MAX_SECURITY_COUNT)

const settingSchema = z.object({
  autoProposeRevocation: z.boolean().default(false),
  threshold: z.object(Object.fromEntries(OFFENCE_KINDS.map(k => [k, count.optional()])) as Record<OffenceKind, z.ZodOptional<typeof count>>).strict().default({}),
  minReporters: count.default(1)
}).strict()

export interface SecuritySetting {
  autoProposeRevocation: boolean
  /** Overrides of the profile's thresholds, per kind. */
  threshold: Partial<Record<OffenceKind, number>>
  minReporters: number
}

export const DEFAULT_SECURITY_SETTING: Readonly<SecuritySetting> = Object.freeze({ autoProposeRevocation: false, threshold: Object.freeze({}), minReporters: 1 })

/** `security` as stored in critical config: JSON text, or null once deleted (the defaults). */
export function parseSecuritySetting (value: string | null): SecuritySetting {
  if (value === null) return { ...DEFAULT_SECURITY_SETTING, threshold: {} }
  let raw: unknown
  try { raw = JSON.parse(value) } catch { throw new InvalidSecuritySettingError('security must be JSON') }
  const r = settingSchema.safeParse(raw)
  if (!r.success) {
    const i = r.error.issues[0]
    const at = i?.path.join('.') ?? ''
    throw new InvalidSecuritySettingError(`security: ${at === '' ? '' : `${at}: `}${i?.message ?? 'invalid'}`)
  }
  const threshold: Partial<Record<OffenceKind, number>> = {}
  for (const k of OFFENCE_KINDS) {
    const v = r.data.threshold[k]
    if (v !== undefined) threshold[k] = v
  }
  return { autoProposeRevocation: r.data.autoProposeRevocation, threshold, minReporters: r.data.minReporters }
}

/** The key rule critical config runs on every entry and genesis value for `security`. */
export const SECURITY_KEY_RULE: readonly [string, (value: string | null) => void] = [SECURITY_KEY, (value) => { parseSecuritySetting(value) }]

/** The committed setting, or the defaults with the reason when it cannot be read (then nothing is proposed). */
export function readSecuritySetting (critical: Pick<CriticalConfig, 'get'> | undefined): { setting: SecuritySetting, problem?: string } {
  try {
    return { setting: parseSecuritySetting(critical?.get(SECURITY_KEY)?.value ?? null) }
  } catch (err) {
    return { setting: { ...DEFAULT_SECURITY_SETTING, threshold: {} }, problem: `committed ${SECURITY_KEY} cannot be read, so the profile's thresholds apply and nothing is proposed: ${(err as Error).message}` }
  }
}
