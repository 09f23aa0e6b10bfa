/**
 * What the security managers keep in replicated config, namespace
 * `mycel.security`, so that every node can show it (`GET /v1/security/...`,
 * `mycel security findings|audit`) whoever holds the role:
 *
 *   findings/<region>/<term>   the region's findings as the holder of `term`
 *                              sees them; per region the highest term wins
 *                              (term-records.ts: a holder that lost the role
 *                              cannot overwrite its successor)
 *   audit/<id>                 one security event, written once under an id
 *                              derived from the event itself (append-only)
 *
 * Audit ids: `critical/<height>/<key>` for a committed change of an
 * `admission*` key (the same change gives the same id in every region, so
 * two regions' managers write the same record, never two), and
 * `finding/<region>/<peer>/<firstSeen>` for a new finding. A record is never
 * rewritten: the holder writes an id only when no record has it. The log is
 * bounded by retention, as a rotated log file is: beyond `MAX_AUDIT_EVENTS`
 * the holder deletes the oldest records (docs/security.md).
 *
 * Every node checks both with the built-in rule `checkSecurityEntry`
 * (registered by the agent beside the other built-in namespaces), so a value
 * that is not such a record is refused by the writer and every receiver.
 */
import { z } from 'zod'
import { REGION_PATTERN } from '../lib/region.js'
import { OFFENCE_KINDS } from '../lib/peer-offences.js'
import { inForce, isTermText } from './term-records.js'
import { MAX_FINDING_REPORTERS, MAX_FINDINGS } from './security-aggregate.js'

/** The replicated-config namespace of findings and audit events. */
export const SECURITY_NAMESPACE = 'mycel.security'

export const FINDINGS_PREFIX = 'findings/'
export const AUDIT_PREFIX = 'audit/'

/** Audit events kept; the oldest beyond go. ~300 bytes each: ~1.5 MB of replicated config at most. */
export const MAX_AUDIT_EVENTS = 5000

export class InvalidSecurityRecordError extends Error {
  static name = 'InvalidSecurityRecordError'
  override name = 'InvalidSecurityRecordError'
}

const unixMs = z.number().int().nonnegative().max(8.64e15)
const peerText = z.string().min(1).max(128).regex(/^[0-9A-Za-z]+$/, 'a peer id')
const counts = z.object(Object.fromEntries(OFFENCE_KINDS.map(k => [k, z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional()]))).strict()

export const storedFindingSchema = z.object({
  peer: peerText,
  kinds: counts,
  over: z.array(z.enum(OFFENCE_KINDS)).min(1).max(OFFENCE_KINDS.length),
  reporters: z.array(peerText).max(MAX_FINDING_REPORTERS),
  reporterCount: z.number().int().nonnegative(),
  firstSeen: unixMs,
  lastSeen: unixMs,
  /** Set when committed critical config already revokes the peer: nothing to propose. */
  revoked: z.literal(true).optional(),
  /** With `autoProposeRevocation`: what an admin runs to revoke it. Never committed by the manager. */
  proposal: z.object({ action: z.literal('revoke'), command: z.string().max(256) }).strict().optional()
}).strict()

export type StoredFinding = z.infer<typeof storedFindingSchema>

export const findingsRecordSchema = z.object({
  v: z.literal(1),
  region: z.string().regex(REGION_PATTERN),
  term: z.number().int().nonnegative(),
  /** When the holder last judged the region, Unix ms. */
  at: unixMs,
  /** Whether `security` enables proposals (so "no proposal" is not mistaken for "not enabled"). */
  autoProposeRevocation: z.boolean(),
  /** The committed `security` value could not be read. */
  problem: z.string().max(512).optional(),
  findings: z.array(storedFindingSchema).max(MAX_FINDINGS)
}).strict()

export type FindingsRecord = z.infer<typeof findingsRecordSchema>

export const AUDIT_KINDS = ['policy', 'admission', 'admission-removed', 'revocation', 'rotation', 'finding'] as const
export type AuditKind = typeof AUDIT_KINDS[number]

const ID_PATTERN = /^(critical\/(0|[1-9][0-9]{0,15})\/[A-Za-z0-9/_.-]{1,160}|finding\/[a-z0-9-]{1,63}\/[0-9A-Za-z]{1,128}\/(0|[1-9][0-9]{0,15}))$/

export const auditEventSchema = z.object({
  v: z.literal(1),
  id: z.string().regex(ID_PATTERN, 'critical/<height>/<key> or finding/<region>/<peer>/<firstSeen>'),
  kind: z.enum(AUDIT_KINDS),
  /** When it happened (a commit's block time, a finding's first offence), Unix ms. */
  at: unixMs,
  /** The peer it is about, when there is one. */
  subject: peerText.optional(),
  /** Height of the committed block, for critical-config events. */
  height: z.number().int().nonnegative().optional(),
  region: z.string().regex(REGION_PATTERN).optional(),
  /** One line for people. */
  detail: z.string().max(512),
  /** The manager that recorded it: its region and term. */
  recordedBy: z.object({ region: z.string().regex(REGION_PATTERN), term: z.number().int().nonnegative() }).strict()
}).strict()

export type AuditEvent = z.infer<typeof auditEventSchema>

export function findingsKey (region: string, term: number): string {
  return `${FINDINGS_PREFIX}${region}/${term}`
}

export function auditKey (id: string): string {
  return `${AUDIT_PREFIX}${id}`
}

function parse<T> (what: string, schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value)
  if (!r.success) {
    const i = r.error.issues[0]
    throw new InvalidSecurityRecordError(`invalid ${what}: ${i?.path.join('.') ?? ''}: ${i?.message ?? 'invalid'}`)
  }
  return r.data
}

function parseFindingsKey (key: string): { region: string, term: number } {
  const parts = key.slice(FINDINGS_PREFIX.length).split('/')
  if (parts.length !== 2 || !REGION_PATTERN.test(parts[0]) || !isTermText(parts[1])) throw new InvalidSecurityRecordError(`security key ${JSON.stringify(key.slice(0, 80))} is not findings/<region>/<term>`)
  return { region: parts[0], term: Number(parts[1]) }
}

/** The built-in rule of SECURITY_NAMESPACE: a findings record of the region and term its key names, or an audit event of the id its key names. */
export function checkSecurityEntry (key: string, value: unknown): void {
  if (key.startsWith(FINDINGS_PREFIX)) {
    const k = parseFindingsKey(key)
    const r = parse('findings record', findingsRecordSchema, value)
    if (r.region !== k.region || r.term !== k.term) throw new InvalidSecurityRecordError(`findings record of ${r.region}/${r.term} stored under key ${JSON.stringify(key.slice(0, 80))}`)
    return
  }
  if (key.startsWith(AUDIT_PREFIX)) {
    const e = parse('audit event', auditEventSchema, value)
    if (auditKey(e.id) !== key) throw new InvalidSecurityRecordError(`audit event ${JSON.stringify(e.id.slice(0, 80))} stored under key ${JSON.stringify(key.slice(0, 80))}`)
    return
  }
  throw new InvalidSecurityRecordError(`security key ${JSON.stringify(key.slice(0, 80))} is neither findings/<region>/<term> nor audit/<id>`)
}

type Entries = Iterable<readonly [string, { value: unknown, writer?: string }]>

export interface RegionFindings {
  key: string
  record: FindingsRecord
  writer?: string
  /** Keys of older terms, for the holder to delete. */
  older: string[]
}

/** Per region, the findings record of the highest term. Never throws: invalid entries are skipped. */
export function currentFindings (entries: Entries): Map<string, RegionFindings> {
  const set = inForce([...entries].filter(([k]) => k.startsWith(FINDINGS_PREFIX)), (key, value) => {
    checkSecurityEntry(key, value)
    const k = parseFindingsKey(key)
    return { slot: k.region, term: k.term, record: value as FindingsRecord }
  })
  const out = new Map<string, RegionFindings>()
  for (const [region, e] of set.bySlot) out.set(region, { key: e.key, record: e.record, ...(e.writer !== undefined ? { writer: e.writer } : {}), older: e.older })
  return out
}

/** Every valid audit event, oldest first (by time, then id). */
export function auditEvents (entries: Entries): AuditEvent[] {
  const out: AuditEvent[] = []
  for (const [key, { value }] of entries) {
    if (!key.startsWith(AUDIT_PREFIX)) continue
    try {
      checkSecurityEntry(key, value)
      out.push(value as AuditEvent)
    } catch { /* refused on arrival; one from an older rule is skipped */ }
  }
  return out.sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}
