/**
 * The emergency freeze record (docs/minimal-core.md "Emergency freeze"): one
 * record per scope, a region name or `*` (every region), that says whether
 * the management services of that scope are frozen. It lives
 *
 *  - with a genesis, in critical config key `emergency/<scope>`, committed
 *    through BFT (only admins may propose: the entry is admin-signed);
 *  - without one, in the replicated-config namespace `mycel.emergency`,
 *    key `<scope>`, signed by the writing agent's key.
 *
 * Value (JSON): {"v":1, "frozen":true, "reason":"bad release", "at":<unix ms>, "tc"?:"<traceparent>"}.
 * A thaw is the same record with `frozen: false` (kept, not deleted, so the
 * state says who thawed and when). Who froze is never part of the value: it
 * is the signer (the entry's admin, or the envelope's writer), so it cannot
 * be claimed.
 *
 * One rule checks a value wherever it enters: the API before it proposes or
 * writes, the validators on every entry (EMERGENCY_KEY_RULE in key-rules.ts),
 * every node on every envelope of the namespace (checkEmergencyEntry,
 * registered in daemon/agent.ts `builtins`).
 */
import { z } from 'zod'
import { REGION_PATTERN, REGION_RULE } from '../lib/region.js'
import { firstIssue } from '../lib/zod-issue.js'
import { traced } from '../wire/trace-context.js'

/** Critical-config key prefix: `emergency/<scope>`. */
export const EMERGENCY_PREFIX = 'emergency/'
/** The replicated-config namespace of freeze records without a genesis. */
export const EMERGENCY_NAMESPACE = 'mycel.emergency'
/** The scope of a network-wide freeze. */
export const EVERY_REGION = '*'
/** Longest reason kept, characters: a line an operator reads in `mycel status`. */
export const MAX_FREEZE_REASON_CHARS = 256

export class InvalidFreezeRecordError extends Error {
  static name = 'InvalidFreezeRecordError'
  override name = 'InvalidFreezeRecordError'
}

export const freezeRecordSchema = z.strictObject({
  v: z.literal(1),
  frozen: z.boolean(),
  reason: z.string().max(MAX_FREEZE_REASON_CHARS),
  at: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  ...traced
}).refine(r => !r.frozen || r.reason.trim() !== '', { message: 'a freeze needs a reason', path: ['reason'] })

export type FreezeRecord = z.infer<typeof freezeRecordSchema>

/** A scope: a region name or `*`; throws InvalidFreezeRecordError. */
export function checkScope (scope: string): string {
  if (scope !== EVERY_REGION && !REGION_PATTERN.test(scope)) throw new InvalidFreezeRecordError(`emergency scope ${JSON.stringify(scope.slice(0, 80))} is neither * nor a region name (${REGION_RULE})`)
  return scope
}

/** A record as a value (JSON already parsed); throws InvalidFreezeRecordError. */
export function parseFreezeRecord (value: unknown): FreezeRecord {
  const r = freezeRecordSchema.safeParse(value)
  if (!r.success) throw new InvalidFreezeRecordError(`emergency record: ${firstIssue(r.error)}`)
  return r.data
}

/** A record as critical config stores it (JSON text); a deletion is refused: thaw writes `frozen: false`. */
export function parseFreezeText (value: string | null): FreezeRecord {
  if (value === null) throw new InvalidFreezeRecordError('an emergency record cannot be deleted: thaw writes {"frozen": false}')
  let raw: unknown
  try { raw = JSON.parse(value) } catch { throw new InvalidFreezeRecordError('an emergency record must be JSON') }
  return parseFreezeRecord(raw)
}

/** The key rule the validators run on every `emergency/<scope>` entry (key-rules.ts). */
export const EMERGENCY_KEY_RULE: readonly [string, (value: string | null, key: string) => void] = [EMERGENCY_PREFIX, (value, key) => {
  checkScope(key.slice(EMERGENCY_PREFIX.length))
  parseFreezeText(value)
}]

/** The namespace rule every node runs on every `mycel.emergency` value (the writer runs it first). */
export function checkEmergencyEntry (key: string, value: unknown): void {
  checkScope(key)
  parseFreezeRecord(value)
}

/** A record in force, with who signed it and where it lives. */
export interface FreezeState {
  scope: string
  record: FreezeRecord
  /** The signer: the admin of the critical entry, the writer of the envelope; `genesis` for a genesis value. */
  by: string
  /** Critical-config height of the entry (with a genesis). */
  height?: number
}

/**
 * The freezes that apply to a node of `region`: `*` and its own region, each
 * while its record says frozen. Sorted oldest first, so the first is the one
 * that took control.
 */
export function freezesFor (region: string, records: readonly FreezeState[]): FreezeState[] {
  return records.filter(s => (s.scope === EVERY_REGION || s.scope === region) && s.record.frozen).sort((a, b) => a.record.at - b.record.at)
}
