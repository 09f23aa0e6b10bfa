/**
 * The trace context field `tc`, reserved in every frame and every signed body
 * (docs/wire.md, "Fields reserved now") so that filling it later is a
 * compatible change. Its value is a W3C `traceparent` string
 * (`00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`). Nothing fills it
 * yet; every decoder accepts and carries it. Only its type and length are
 * checked: a trace context that does not parse must make a tracer start a
 * new trace (as W3C Trace Context says), never make a node drop a message.
 */
import { z } from 'zod'

/**
 * Longest `tc` accepted, characters. A version-00 traceparent is 55; W3C lets
 * later versions append fields, so there is room for them, while a peer still
 * cannot make a node carry much.
 */
export const MAX_TRACE_CONTEXT_CHARS = 256

export const traceContextSchema = z.string().max(MAX_TRACE_CONTEXT_CHARS)

/** The reserved field, to spread into a message's zod shape: `z.object({ v: z.literal(1), …, ...traced })`. */
export const traced = { tc: traceContextSchema.optional() }

/** The reserved field in a hand-written message type. */
export interface Traced {
  /** W3C traceparent of the operation this message belongs to (reserved; not filled yet). */
  tc?: string
}
