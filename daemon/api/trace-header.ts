/**
 * Trace context at the admin API's edge (docs/tracing.md). A caller may
 * send a W3C `traceparent` header; a traced operation (a config write, a
 * rollout start) continues it, or starts a new trace when it is absent or
 * does not parse: a bad header never refuses a request (W3C Trace Context
 * says a receiver must then restart the trace). The answer names the trace
 * in a `trace` JSON field and in two headers: `traceresponse` (W3C Trace
 * Context level 2, the same format as traceparent, naming the span the
 * operation recorded here) and `x-trace-id` for people and scripts.
 */
import type { ApiRequest } from './router.js'

export interface TraceReply {
  traceId: string
  traceparent: string
}

/** The caller's `traceparent` header as sent: the tracer judges it (several headers arrive joined by commas, which does not parse: a new trace). */
export function callerTraceparent (req: Pick<ApiRequest, 'raw'>): string | undefined {
  // A route called in-process (a test, another route) may have no HTTP request behind it.
  const h = (req.raw as ApiRequest['raw'] | undefined)?.headers.traceparent
  return typeof h === 'string' ? h : undefined
}

/** Response headers naming the trace of the operation. */
export function traceHeaders (t: TraceReply | undefined): Record<string, string> {
  return t === undefined ? {} : { traceresponse: t.traceparent, 'x-trace-id': t.traceId }
}
