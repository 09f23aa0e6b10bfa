/**
 * The wire format of commands (docs/commands.md "Wire"). Both messages are
 * a signed body inside a `{v, body, sig}` wrapper, deterministic CBOR
 * (wire/codec.ts), signatures domain-separated (wire/signing.ts):
 *
 *   request  (signed by its originator, gossiped on mycel/command/1)
 *     {v:1, id, from, name, args, targets:{regions?, nodes?, role?}, issuedAt, expires, tc?}
 *   answer   (signed by the target, sent on /mycel/command-result/1.0.0)
 *     {v:1, id, node, ok, exitCode, output, durationMs, error?}
 *
 * Bodies keep fields this release does not know (docs/wire.md rule 1): a
 * later release may add fields (a new filter must come with a new `v`, since
 * an old node ignoring it would run a command not meant for it).
 */
import { z } from 'zod'
import type { PrivateKey } from '@libp2p/interface'
import { bytes, decodeCbor, decodeSigned, encodeCbor } from '../../wire/codec.js'
import { signPayload, verifyPayload } from '../../wire/signing.js'
import { traced } from '../../wire/trace-context.js'
import { REGION_PATTERN } from '../../lib/region.js'

const REQUEST_DOMAIN = 'command-request'
const ANSWER_DOMAIN = 'command-answer'

/** Command names: built-ins and operator declarations alike. */
export const COMMAND_NAME_PATTERN = /^[a-z][a-z0-9-]{0,62}$/
/** Request ids: 16 random bytes, hex. */
export const COMMAND_ID_PATTERN = /^[0-9a-f]{32}$/
export const MAX_ARGS = 32
export const MAX_ARG_CHARS = 1024
export const MAX_TARGET_NODES = 1024
export const MAX_TARGET_REGIONS = 64

const peerId = z.string().min(1).max(128)
const unixMs = z.number().int().nonnegative().max(8.64e15)

export const targetsSchema = z.object({
  regions: z.array(z.string().regex(REGION_PATTERN)).min(1).max(MAX_TARGET_REGIONS).optional(),
  nodes: z.array(peerId).min(1).max(MAX_TARGET_NODES).optional(),
  role: z.string().min(1).max(32).optional()
})
export type Targets = z.infer<typeof targetsSchema>

export const commandRequestSchema = z.object({
  v: z.literal(1),
  id: z.string().regex(COMMAND_ID_PATTERN),
  from: peerId,
  name: z.string().regex(COMMAND_NAME_PATTERN),
  args: z.array(z.string().max(MAX_ARG_CHARS)).max(MAX_ARGS),
  targets: targetsSchema,
  issuedAt: unixMs,
  expires: unixMs,
  ...traced
})
export type CommandRequest = z.infer<typeof commandRequestSchema>

export const commandAnswerSchema = z.object({
  v: z.literal(1),
  id: z.string().regex(COMMAND_ID_PATTERN),
  node: peerId,
  ok: z.boolean(),
  /** The process's exit code; null for a built-in, a refusal, or a process killed by a signal. */
  exitCode: z.number().int().nullable(),
  output: z.string(),
  durationMs: z.number().nonnegative(),
  error: z.string().max(1024).optional()
})
export type CommandAnswer = z.infer<typeof commandAnswerSchema>

const wrapperSchema = (max: number): z.ZodType<{ v: 1, body: Uint8Array, sig: Uint8Array }> => z.object({ v: z.literal(1), body: bytes(max), sig: bytes(128) })

async function seal (key: PrivateKey, domain: string, body: unknown): Promise<Uint8Array> {
  const payload = encodeCbor(body)
  return encodeCbor({ v: 1, body: payload, sig: await signPayload(key, domain, payload) })
}

export async function encodeRequest (req: CommandRequest, key: PrivateKey): Promise<Uint8Array> { return await seal(key, REQUEST_DOMAIN, req) }
export async function encodeAnswer (ans: CommandAnswer, key: PrivateKey): Promise<Uint8Array> { return await seal(key, ANSWER_DOMAIN, ans) }

/** Decode and verify a request (signed by its `from`); throws a named wire error. */
export async function decodeRequest (data: Uint8Array, maxBytes: number): Promise<CommandRequest> {
  const outer = decodeCbor(data, wrapperSchema(maxBytes), maxBytes)
  const req = decodeSigned(outer.body, commandRequestSchema)
  await verifyPayload(req.from, REQUEST_DOMAIN, outer.body, outer.sig)
  return req
}

/** Decode and verify an answer (signed by its `node`); throws a named wire error. */
export async function decodeAnswer (data: Uint8Array, maxBytes: number): Promise<CommandAnswer> {
  const outer = decodeCbor(data, wrapperSchema(maxBytes), maxBytes)
  const ans = decodeSigned(outer.body, commandAnswerSchema)
  await verifyPayload(ans.node, ANSWER_DOMAIN, outer.body, outer.sig)
  return ans
}
