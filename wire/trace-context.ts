/**
 * The trace context field `tc`, reserved in every frame and every signed body
 * (docs/wire.md, "Fields reserved now") so that filling it later is a
 * compatible change. Its value is a W3C `traceparent` string
 * (`00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`), filled by traced
 * operations (docs/tracing.md); every decoder accepts and carries it. Only its type and length are
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

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/

/** A parsed W3C traceparent. */
export interface TraceParent {
  /** 32 lower-case hex digits, never all zero. */
  traceId: string
  /** 16 lower-case hex digits, never all zero: the span that sent it. */
  spanId: string
  /** Two hex digits; bit 0 is `sampled`. */
  flags: string
}

/**
 * Parse a traceparent as W3C Trace Context (level 1, section 3.2) says a
 * receiver must: version ff and all-zero ids are invalid, a version-00 value
 * has exactly four fields, a later version may append fields. Undefined for
 * anything invalid: the caller then starts a new trace.
 */
export function parseTraceparent (value: string | undefined): TraceParent | undefined {
  if (value === undefined || value.length > MAX_TRACE_CONTEXT_CHARS) return undefined
  const m = TRACEPARENT.exec(value)
  if (m === null) return undefined
  const [, version, traceId, spanId, flags, rest] = m as unknown as [string, string, string, string, string, string | undefined]
  if (version === 'ff') return undefined
  if (version === '00' && rest !== undefined) return undefined
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined
  return { traceId, spanId, flags }
}

/** The version-00 traceparent of `tp`. */
export function formatTraceparent (tp: TraceParent): string {
  return `00-${tp.traceId}-${tp.spanId}-${tp.flags}`
}

function randomHex (bytes: number): string {
  // crypto.getRandomValues: W3C asks for random ids; all-zero is invalid, so draw again (p = 2^-64 at worst).
  for (;;) {
    const b = globalThis.crypto.getRandomValues(new Uint8Array(bytes))
    if (b.some(x => x !== 0)) return Buffer.from(b).toString('hex')
  }
}

/** A new span id (16 hex digits). */
export function newSpanId (): string { return randomHex(8) }

/** A new trace id (32 hex digits). */
export function newTraceId (): string { return randomHex(16) }

/**
 * The context a hop continues from: `incoming` when it parses (same trace,
 * same flags), otherwise a new sampled trace. The returned spanId is the
 * parent's; a hop makes its own span id with newSpanId().
 */
export function continueTrace (incoming: string | undefined): { traceId: string, parentSpanId?: string, flags: string } {
  const tp = parseTraceparent(incoming)
  if (tp === undefined) return { traceId: newTraceId(), flags: '01' }
  return { traceId: tp.traceId, parentSpanId: tp.spanId, flags: tp.flags }
}
