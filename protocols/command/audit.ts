/**
 * The audit trail of commands in replicated config, namespace `mycel.audit`,
 * key `commands/<id>`: one record per command, written by its originator
 * once the answers are in (docs/commands.md "Audit"). It keeps the request
 * and each node's outcome in summary — the first line of output, never the
 * whole — and at most AUDIT_RECORD_MAX_BYTES of JSON (per-node lines are
 * dropped from the end to fit; the counts still cover every node), so it
 * stays below a config value's 64 KiB whatever the fan-out was. Every node checks every record with `checkAuditEntry`
 * (registered by the agent beside the other built-in namespaces); the
 * writer runs the same check before it writes.
 */
import { z } from 'zod'
import { parseOrRefuse } from '../../lib/zod-issue.js'
import { COMMAND_ID_PATTERN, targetsSchema, type CommandAnswer } from './messages.js'
import type { CommandOutcome } from './service.js'

export const AUDIT_NAMESPACE = 'mycel.audit'
export const COMMANDS_AUDIT_PREFIX = 'commands/'

/** Per-node outcomes kept in one record; the counts cover every node. */
export const MAX_AUDITED_RESULTS = 200
/**
 * Largest record, bytes of JSON: under the replicated config's 64 KiB value
 * bound (crdt/constants.ts) with room for the envelope. 200 results at their
 * field bounds would not fit; the writer drops per-node lines until it does.
 */
export const AUDIT_RECORD_MAX_BYTES = 48 * 1024
/** Output kept per node: its first line, up to this many characters. */
export const AUDITED_OUTPUT_CHARS = 160

export class InvalidAuditRecordError extends Error {
  static name = 'InvalidAuditRecordError'
  override name = 'InvalidAuditRecordError'
}

const resultSchema = z.strictObject({
  node: z.string().min(1).max(128),
  ok: z.boolean(),
  exitCode: z.number().int().nullable(),
  durationMs: z.number().nonnegative(),
  firstLine: z.string().max(AUDITED_OUTPUT_CHARS),
  error: z.string().max(256).optional()
})

export const commandAuditSchema = z.strictObject({
  v: z.literal(1),
  id: z.string().regex(COMMAND_ID_PATTERN),
  from: z.string().min(1).max(128),
  name: z.string().min(1).max(63),
  args: z.array(z.string().max(1024)).max(32),
  targets: targetsSchema.strict(),
  issuedAt: z.number().int().nonnegative(),
  tc: z.string().max(256).optional(),
  durationMs: z.number().nonnegative(),
  expected: z.number().int().nonnegative(),
  answered: z.number().int().nonnegative(),
  okCount: z.number().int().nonnegative(),
  missing: z.array(z.string().max(128)).max(MAX_AUDITED_RESULTS),
  results: z.array(resultSchema).max(MAX_AUDITED_RESULTS)
})
export type CommandAudit = z.infer<typeof commandAuditSchema>

export const auditKey = (id: string): string => `${COMMANDS_AUDIT_PREFIX}${id}`

export function checkAuditEntry (key: string, value: unknown): void {
  if (!key.startsWith(COMMANDS_AUDIT_PREFIX)) throw new InvalidAuditRecordError(`audit key ${JSON.stringify(key.slice(0, 100))} is not commands/<id>`)
  const r = parseOrRefuse(commandAuditSchema, value, 'command audit record', (m) => new InvalidAuditRecordError(m))
  const bytes = jsonBytes(r)
  if (bytes > AUDIT_RECORD_MAX_BYTES) throw new InvalidAuditRecordError(`command audit record of ${bytes} bytes; at most ${AUDIT_RECORD_MAX_BYTES}`)
  if (auditKey(r.id) !== key) throw new InvalidAuditRecordError(`audit record ${r.id} stored under ${JSON.stringify(key.slice(0, 100))}`)
}

export function firstLine (output: string): string {
  const line = output.split('\n', 1)[0] ?? ''
  return line.length > AUDITED_OUTPUT_CHARS ? line.slice(0, AUDITED_OUTPUT_CHARS - 1) + '…' : line
}

function summary (a: CommandAnswer): CommandAudit['results'][number] {
  return { node: a.node, ok: a.ok, exitCode: a.exitCode, durationMs: Math.round(a.durationMs), firstLine: firstLine(a.output), ...(a.error !== undefined ? { error: a.error.slice(0, 256) } : {}) }
}

/** The record of one fan-out, as its originator writes it. */
export function auditRecord (o: CommandOutcome): CommandAudit {
  const r = o.request
  const record: CommandAudit = {
    v: 1,
    id: r.id,
    from: r.from,
    name: r.name,
    args: r.args,
    targets: { ...(r.targets.regions !== undefined ? { regions: r.targets.regions } : {}), ...(r.targets.nodes !== undefined ? { nodes: r.targets.nodes } : {}), ...(r.targets.role !== undefined ? { role: r.targets.role } : {}) },
    issuedAt: r.issuedAt,
    ...(r.tc !== undefined ? { tc: r.tc } : {}),
    durationMs: Math.round(o.durationMs),
    expected: o.expected.length,
    answered: o.answers.length,
    okCount: o.answers.filter(a => a.ok).length,
    missing: o.missing.slice(0, MAX_AUDITED_RESULTS),
    results: o.answers.slice(0, MAX_AUDITED_RESULTS).map(summary)
  }
  // Fit the bound: per-node lines go first (results, then missing ids), newest kept out; the counts stay whole.
  while (jsonBytes(record) > AUDIT_RECORD_MAX_BYTES && (record.results.length > 0 || record.missing.length > 0)) {
    const cut = Math.max(1, Math.ceil((record.results.length + record.missing.length) / 8))
    if (record.results.length > 0) record.results = record.results.slice(0, Math.max(0, record.results.length - cut))
    else record.missing = record.missing.slice(0, Math.max(0, record.missing.length - cut))
  }
  return record
}

function jsonBytes (v: unknown): number {
  return Buffer.byteLength(JSON.stringify(v))
}
