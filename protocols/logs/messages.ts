/**
 * Wire format of `/mycel/logs/1.0.0` (deterministic CBOR, wire/codec.ts),
 * each message one length-prefixed frame on the stream:
 *
 *   request `{v, since, until?, level?, component?, grep?, trace?, limit, follow?}`
 *   → zero or more `{v, op:'line', t, line}` (the newest `limit` matching lines
 *     of [since, until), oldest first; `line` is the served JSON text, `t` its Unix ms)
 *   → `{v, op:'end', more}` (`more`: older matching lines were left out by the limit)
 *   → with `follow`: `{v, op:'line', …}` for every new matching line, and
 *     `{v, op:'gap', dropped}` when the reader fell behind, until either side closes.
 *   A refused request gets one `{v, op:'error', error}` frame, then the close.
 *
 * Frames are unsigned: unknown fields are ignored and `tc` is reserved
 * (docs/wire.md). Times are Unix ms. Evolution: a new optional request field
 * is ignored by older servers, so a requester must not rely on one without
 * a protocol version that promises it (`/mycel/logs/1.1.0`, offered first).
 */
import { z } from 'zod'
import { decodeCbor, encodeCbor } from '../../wire/codec.js'
import { traced, type Traced } from '../../wire/trace-context.js'
import { MAX_FRAME_BYTES, MAX_PATTERN_CHARS, MAX_REQUEST_BYTES } from './constants.js'
import { LEVELS, type LevelName } from './line.js'

export interface LogQuery {
  /** Lines at or after this, Unix ms. */
  since: number
  /** Lines before this, Unix ms (paging: the `time` of the oldest line of the previous page). */
  until?: number
  /** This level and above. */
  level?: LevelName
  /** The line's component, or an agent line's own `component` field (`module`). */
  component?: string
  /** An RE2 pattern the stored line must contain a match of. */
  grep?: string
  /** Exactly the line's `trace` field. */
  trace?: string
  /** The newest this many lines of the range. */
  limit: number
  /** After the history, keep the stream open and send new matching lines. */
  follow?: boolean
}

export type LogRequest = Traced & { v: 1 } & LogQuery

export type LogFrame = Traced & (
  | { v: 1, op: 'line', t: number, line: string }
  | { v: 1, op: 'end', more: boolean }
  | { v: 1, op: 'gap', dropped: number }
  | { v: 1, op: 'error', error: string })

/** Largest limit the wire accepts; each server enforces its own (tunable maxLimit). */
const WIRE_MAX_LIMIT = 1_000_000
const ms = z.number().int().min(0).max(8.64e15)

export const logQuerySchema = z.object({
  since: ms,
  until: ms.optional(),
  level: z.enum(LEVELS).optional(),
  component: z.string().min(1).max(128).optional(),
  grep: z.string().min(1).max(MAX_PATTERN_CHARS).optional(),
  trace: z.string().min(1).max(64).optional(),
  limit: z.number().int().min(1).max(WIRE_MAX_LIMIT),
  follow: z.boolean().optional()
})

const requestSchema: z.ZodType<LogRequest> = logQuerySchema.extend({ v: z.literal(1), ...traced }) as unknown as z.ZodType<LogRequest>

const frameSchema: z.ZodType<LogFrame> = z.discriminatedUnion('op', [
  z.object({ v: z.literal(1), op: z.literal('line'), t: ms, line: z.string().max(MAX_FRAME_BYTES), ...traced }),
  z.object({ v: z.literal(1), op: z.literal('end'), more: z.boolean(), ...traced }),
  z.object({ v: z.literal(1), op: z.literal('gap'), dropped: z.number().int().min(0), ...traced }),
  z.object({ v: z.literal(1), op: z.literal('error'), error: z.string().max(1024), ...traced })
]) as unknown as z.ZodType<LogFrame>

export function encodeLogRequest (q: LogQuery): Uint8Array {
  const clean = Object.fromEntries(Object.entries(q).filter(([, v]) => v !== undefined))
  return encodeCbor({ v: 1, ...clean })
}

export function decodeLogRequest (data: Uint8Array): LogRequest {
  return decodeCbor(data, requestSchema, MAX_REQUEST_BYTES)
}

export function encodeLogFrame (frame: LogFrame): Uint8Array {
  return encodeCbor(frame)
}

export function decodeLogFrame (data: Uint8Array): LogFrame {
  return decodeCbor(data, frameSchema, MAX_FRAME_BYTES)
}
