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

const SIGN_DOMAIN = 'health-report'

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
  /** Named check results (components, later issues add their own). */
  checks: z.array(z.object({ name: z.string().max(64), ok: z.boolean(), detail: z.string().max(256).optional() })).max(64),
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
