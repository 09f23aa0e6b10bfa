/**
 * The admission policy's critical-config keys and their one format rule
 * (docs/security.md). Validators run these rules on every entry (so a value
 * no node could read is never committed), `mycel genesis create` on its
 * `--set` values, and every node when it reads the committed value.
 *
 *   admission                      {"mode":"open"} | {"mode":"allowlist","allow":[peer ids]}
 *   admission/allow/<peer>         {"regions"?: [..], "token"?: <token id>, "replaces"?: <old peer>,
 *                                   "graceUntil"?: <unix ms>, "cutoff"?: {<namespace>: <seq>}}
 *   admission/revoked/<peer>       {"reason": "...", "cutoff": {<namespace>: <seq>}}
 *
 * Why one key per peer rather than one list: two admins allowing two hosts
 * at the same time would each commit a whole new list and the second would
 * drop the first's host. Per-peer keys commute. The inline `allow` list of
 * `admission` stays for genesis files, where one list is what an operator
 * writes by hand.
 */
import { z } from 'zod'
import { isEd25519PeerId } from '../protocols/bft/genesis.js'
import { REGION_PATTERN, REGION_RULE } from '../lib/region.js'

export const ADMISSION_KEY = 'admission'
export const ALLOW_PREFIX = 'admission/allow/'
export const REVOKED_PREFIX = 'admission/revoked/'

/** Longest reason text a revocation keeps, characters. */
export const MAX_REASON_CHARS = 256
/** Most namespaces one cut-off names; a writer's streams beyond these are cut at 0. */
export const MAX_CUTOFF_NAMESPACES = 512
/** Longest key hand-over grace a node may give itself (both ids admitted meanwhile), ms. */
export const MAX_GRACE_MS = 24 * 3600_000

export class InvalidAdmissionValueError extends Error {
  static name = 'InvalidAdmissionValueError'
  override name = 'InvalidAdmissionValueError'
}

const peerId = z.string().min(1).max(128).refine(isEd25519PeerId, { message: 'not an Ed25519 peer id' })
const region = z.string().regex(REGION_PATTERN, REGION_RULE)
const seq = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER)
/** Per namespace, the last sequence number of the writer that stays valid. */
const cutoff = z.record(z.string().min(1).max(256), seq).refine(c => Object.keys(c).length <= MAX_CUTOFF_NAMESPACES, { message: `at most ${MAX_CUTOFF_NAMESPACES} namespaces` })

export type AdmissionMode = 'open' | 'allowlist'

export interface AdmissionSetting { mode: AdmissionMode, allow: string[] }

export interface AllowEntry {
  /** Regions the peer may be a member of; absent: any. */
  regions?: string[]
  /** The join token it was admitted with (hex id), for the audit trail. */
  token?: string
  /** Hand-over: the old id this one replaces; the old id is revoked at `graceUntil`. */
  replaces?: string
  graceUntil?: number
  /** With `replaces`: the old id's config writes that stay valid. */
  cutoff?: Record<string, number>
}

export interface RevokedEntry {
  reason: string
  /** Per namespace, the revoked writer's last envelope that stays valid; any later one is refused. */
  cutoff: Record<string, number>
}

const settingSchema = z.discriminatedUnion('mode', [
  z.object({ mode: z.literal('open') }).strict(),
  z.object({ mode: z.literal('allowlist'), allow: z.array(peerId).max(4096).default([]) }).strict()
])

const allowSchema = z.object({
  regions: z.array(region).min(1).max(64).optional(),
  token: z.string().regex(/^[0-9a-f]{32}$/, '32 hex digits').optional(),
  replaces: peerId.optional(),
  graceUntil: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  cutoff: cutoff.optional()
}).strict().refine(a => (a.replaces === undefined) === (a.graceUntil === undefined), { message: 'replaces and graceUntil come together' })

const revokedSchema = z.object({
  reason: z.string().max(MAX_REASON_CHARS),
  cutoff: cutoff.default({})
}).strict()

function parseJson<T> (what: string, value: string, schema: z.ZodType<T>): T {
  let raw: unknown
  try { raw = JSON.parse(value) } catch { throw new InvalidAdmissionValueError(`${what} must be JSON`) }
  const r = schema.safeParse(raw)
  if (!r.success) {
    const i = r.error.issues[0]
    const at = i?.path.join('.') ?? ''
    throw new InvalidAdmissionValueError(`${what}: ${at === '' ? '' : `${at}: `}${i?.message ?? 'invalid'}`)
  }
  return r.data
}

/** `admission`; a deleted key is open mode. */
export function parseAdmissionSetting (value: string | null): AdmissionSetting {
  if (value === null) return { mode: 'open', allow: [] }
  const s = parseJson('admission', value, settingSchema)
  return s.mode === 'open' ? { mode: 'open', allow: [] } : { mode: 'allowlist', allow: [...new Set(s.allow)].sort() }
}

export function parseAllowEntry (value: string): AllowEntry {
  const a = parseJson('admission allow entry', value, allowSchema)
  return { ...a, ...(a.regions !== undefined ? { regions: [...new Set(a.regions)].sort() } : {}) }
}

export function parseRevokedEntry (value: string): RevokedEntry {
  return parseJson('admission revocation', value, revokedSchema)
}

/** The peer id a per-peer key names, or throws. */
export function peerOfKey (key: string, prefix: string): string {
  const id = key.slice(prefix.length)
  if (!isEd25519PeerId(id)) throw new InvalidAdmissionValueError(`${key}: ${id.slice(0, 64)} is not an Ed25519 peer id`)
  return id
}

/** Canonical JSON of an allow entry (fixed field order), so the same entry always has the same text. */
export function allowEntryJson (a: AllowEntry): string {
  const o: Record<string, unknown> = {}
  if (a.regions !== undefined) o.regions = [...new Set(a.regions)].sort()
  if (a.token !== undefined) o.token = a.token
  if (a.replaces !== undefined) o.replaces = a.replaces
  if (a.graceUntil !== undefined) o.graceUntil = a.graceUntil
  if (a.cutoff !== undefined) o.cutoff = sortedCutoff(a.cutoff)
  return JSON.stringify(o)
}

export function revokedEntryJson (r: RevokedEntry): string {
  return JSON.stringify({ reason: r.reason, cutoff: sortedCutoff(r.cutoff) })
}

function sortedCutoff (c: Record<string, number>): Record<string, number> {
  const o: Record<string, number> = {}
  for (const k of Object.keys(c).sort()) o[k] = c[k]
  return o
}

type KeyRule = (value: string | null, key: string) => void

/** The key rules critical config runs on every entry and genesis value of the admission keys. */
export const ADMISSION_KEY_RULES: ReadonlyArray<readonly [string, KeyRule]> = [
  [ADMISSION_KEY, (value) => { parseAdmissionSetting(value) }],
  [ALLOW_PREFIX, (value, key) => {
    peerOfKey(key, ALLOW_PREFIX)
    if (value !== null) parseAllowEntry(value)
  }],
  [REVOKED_PREFIX, (value, key) => {
    peerOfKey(key, REVOKED_PREFIX)
    // A revocation is never undone by deleting it: a compromised key stays out.
    // (An operator who revoked the wrong host admits it under a new key.)
    if (value === null) throw new InvalidAdmissionValueError(`${key}: a revocation cannot be deleted; admit the host under a new key instead`)
    parseRevokedEntry(value)
  }]
]
