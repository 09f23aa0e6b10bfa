/**
 * The signed health report: wire schema, encoding and verification. The
 * report is signed by its subject so it stays verifiable after relaying and
 * when served to others (monitoring manager, API). It keeps fields this
 * release does not know (docs/wire.md rule 1); the `{v, report, sig}`
 * wrapper ignores them and has no `tc` of its own (the report's counts).
 */
import { z } from 'zod'
import type { PrivateKey } from '@libp2p/interface'
import { bytes, decodeCbor, decodeSigned, encodeCbor } from '../../wire/codec.js'
import { signPayload, verifyPayload } from '../../wire/signing.js'
import { MalformedMessageError } from '../../wire/errors.js'
import { traced } from '../../wire/trace-context.js'
import { LABEL_KEY_PATTERN } from '../../lib/labels.js'
import { MAX_REFRESH_MS } from './constants.js'

const SIGN_DOMAIN = 'health-report'

/** Components one report lists; a node runs one instance per component, and 16 KiB bounds the report anyway. */
export const MAX_REPORTED_COMPONENTS = 64

/** Labels one node carries (agent config `labels`); deployments' constraints match against them. */
export const MAX_LABELS = 32

export { LABEL_KEY_PATTERN }

/** Longest label value, characters. */
export const MAX_LABEL_VALUE = 256

/** What a node's component host reports for one component (issue 13, `mycel component status`). */
export const COMPONENT_STATES = ['fetching', 'installing', 'starting', 'running', 'failed', 'stopped'] as const
export type ComponentState = typeof COMPONENT_STATES[number]

/** The result of a component's health check: `unknown` before the first run and when it has none. */
export const COMPONENT_HEALTH = ['passing', 'failing', 'unknown'] as const
export type ComponentHealth = typeof COMPONENT_HEALTH[number]

/** Offenders one report lists (lib/peer-offences.ts); a node publishes its worst few, ~250 bytes each. */
export const MAX_REPORTED_OFFENDERS = 16

/** Offence kinds one entry lists: today's six, with room for kinds a later release adds (readers skip those they do not know). */
const MAX_OFFENCE_KINDS = 16

const unixMs = z.number().int().nonnegative().max(8.64e15)

/** One peer's offences as seen by the reporting node over its last one to two windows. */
export const offenderSchema = z.object({
  peer: z.string().min(1).max(128),
  kinds: z.record(z.string().min(1).max(32), z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER))
    .refine(k => Object.keys(k).length <= MAX_OFFENCE_KINDS, `at most ${MAX_OFFENCE_KINDS} offence kinds`),
  firstSeen: unixMs,
  lastSeen: unixMs
})

export const offencesReportSchema = z.object({
  /** The reporter's counting window, ms: its counts cover one to two of them. */
  windowMs: z.number().int().positive(),
  peers: z.array(offenderSchema).max(MAX_REPORTED_OFFENDERS)
})

export type OffencesReport = z.infer<typeof offencesReportSchema>

export const labelsSchema = z.record(z.string().regex(LABEL_KEY_PATTERN, 'label keys are letters, digits, . _ / - (max 63), starting with a letter or digit'), z.string().max(MAX_LABEL_VALUE))
  .refine(l => Object.keys(l).length <= MAX_LABELS, `at most ${MAX_LABELS} labels`)

export const componentReportSchema = z.object({
  name: z.string().min(1).max(64),
  version: z.string().min(1).max(256),
  state: z.enum(COMPONENT_STATES),
  /** The running process, when there is one. */
  pid: z.number().int().positive().optional(),
  /** Starts after the first, across agent restarts. */
  restarts: z.number().int().nonnegative(),
  health: z.enum(COMPONENT_HEALTH),
  /** Unix ms since which it is in `state` (at most the largest time a Date holds, so every reader can show it). */
  since: z.number().int().nonnegative().max(8.64e15),
  /** Why it is `failed` (or why the last step failed), one line. */
  reason: z.string().max(256).optional()
})

export type ComponentReport = z.infer<typeof componentReportSchema>

export const healthReportSchema = z.object({
  v: z.literal(1),
  peerId: z.string().min(1).max(128),
  region: z.string().min(1).max(63),
  /** Unix ms at which the report was made; also its sequence. */
  issuedAt: z.number().int().nonnegative(),
  uptimeSeconds: z.number().nonnegative(),
  version: z.string().max(64),
  roles: z.array(z.string().max(32)).max(16),
  /** 1, 5 and 15 minute load averages. */
  load: z.array(z.number().nonnegative()).length(3),
  cpus: z.number().int().positive(),
  memory: z.object({ rssBytes: z.number().nonnegative(), heapUsedBytes: z.number().nonnegative(), totalBytes: z.number().nonnegative(), freeBytes: z.number().nonnegative() }),
  /** Free bytes on the data dir's file system. */
  diskFreeBytes: z.number().nonnegative(),
  /** Size of that file system, bytes (issue 16: disk free ratio); absent from releases before it and where statfs fails. */
  diskTotalBytes: z.number().nonnegative().optional(),
  /** Named check results (components, later issues add their own). */
  checks: z.array(z.object({ name: z.string().max(64), ok: z.boolean(), detail: z.string().max(256).optional() })).max(64),
  /** The node's labels (agent config); absent from releases before issue 13. */
  labels: labelsSchema.optional(),
  /** The components this node's host runs or tries to (issue 13); absent from releases before it. */
  components: z.array(componentReportSchema).max(MAX_REPORTED_COMPONENTS).optional(),
  /** The reporter's worst offenders (issue 15, security monitoring); absent when it has none, and from releases before it. */
  offences: offencesReportSchema.optional(),
  /**
   * The publisher's refresh period when it made this report, ms: its next
   * report comes within it (cadence.ts), and readers call the report stale
   * after `staleAfterIntervals` of them. Absent from releases before issue 18.
   */
  refreshMs: z.number().int().positive().max(MAX_REFRESH_MS).optional(),
  ...traced
})

export type HealthReport = z.infer<typeof healthReportSchema>

const signedSchema = z.object({
  v: z.literal(1),
  report: bytes(16 * 1024),
  sig: bytes(128)
})

export async function encodeSignedReport (report: HealthReport, key: PrivateKey): Promise<Uint8Array> {
  const payload = encodeCbor(report)
  const sig = await signPayload(key, SIGN_DOMAIN, payload)
  return encodeCbor({ v: 1, report: payload, sig })
}

/** Decode and verify; throws a named wire error on anything wrong. */
export async function decodeSignedReport (data: Uint8Array, maxBytes: number): Promise<HealthReport> {
  const outer = decodeCbor(data, signedSchema, maxBytes)
  const report = decodeSigned(outer.report, healthReportSchema)
  await verifyPayload(report.peerId, SIGN_DOMAIN, outer.report, outer.sig)
  return report
}

/** Gossipsub's `from` must be the report's subject: nobody reports for someone else. */
export function checkOrigin (report: HealthReport, from: string): void {
  if (report.peerId !== from) throw new MalformedMessageError(`report about ${report.peerId} published by ${from}`)
}
