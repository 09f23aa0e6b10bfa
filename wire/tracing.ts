/**
 * Spans for the hops of traced operations (commands, config writes made
 * through the API, rollouts, role actions). A hop is one node's part of an
 * operation: `received`, `forwarded`, `applied`, `answered`, … Every node
 * records the spans of the hops it handles as structured log lines (msg
 * `span`), so they land in its bounded log store and `mycel trace TRACE_ID`
 * finds them across the region with a log query by `trace`. A Tracer may
 * also export them (OTLP, when configured): that is a second sink, never the
 * only one.
 *
 * The log line of a span (pino fields; docs/tracing.md):
 *   { component: 'trace', trace, span, parent?, name, hop, start (ISO),
 *     durationMs, ok, error?, ...attrs, msg: 'span' }
 */
import type { Logger } from 'pino'
import { continueTrace, formatTraceparent, newSpanId } from './trace-context.js'

/** The kinds of hop a node records. */
export type Hop = 'sent' | 'received' | 'forwarded' | 'applied' | 'answered' | 'acted'

export type SpanAttributes = Record<string, string | number | boolean>

export interface Span {
  readonly traceId: string
  readonly spanId: string
  /** The traceparent naming this span: what a message sent from this hop carries in `tc`. */
  readonly traceparent: string
  /** Record the span (once; later calls do nothing). */
  end: (attrs?: SpanAttributes, error?: unknown) => void
}

export interface Tracer {
  /**
   * Start the span of one hop of operation `name`, continuing `parent` (a
   * traceparent, e.g. a message's `tc` or an HTTP `traceparent` header) or,
   * when it is absent or invalid, starting a new trace.
   */
  start: (name: string, hop: Hop, parent?: string, attrs?: SpanAttributes) => Span
}

/** What an exporter gets of a finished span. */
export interface FinishedSpan {
  traceId: string
  spanId: string
  parentSpanId?: string
  flags: string
  name: string
  hop: Hop
  startMs: number
  endMs: number
  attrs: SpanAttributes
  error?: string
}

/** A tracer that logs every span on `logger` (into the node's log store) and hands it to `exporters`. */
export function logTracer (logger: Logger, exporters: Array<(span: FinishedSpan) => void> = []): Tracer {
  // Spans are recorded at info whatever the agent's log level (a `warn`
  // agent would otherwise have no spans for `mycel trace`); silent stays silent.
  const log = logger.child({ component: 'trace' }, { level: logger.level === 'silent' ? 'silent' : 'info' })
  return {
    start (name, hop, parent, startAttrs = {}) {
      const ctx = continueTrace(parent)
      const spanId = newSpanId()
      const startMs = Date.now()
      let ended = false
      return {
        traceId: ctx.traceId,
        spanId,
        traceparent: formatTraceparent({ traceId: ctx.traceId, spanId, flags: ctx.flags }),
        end (attrs = {}, error) {
          if (ended) return
          ended = true
          const endMs = Date.now()
          const all = { ...startAttrs, ...attrs }
          const message = error === undefined ? undefined : (error instanceof Error ? error.message : String(error))
          log.info({
            ...all,
            trace: ctx.traceId,
            span: spanId,
            ...(ctx.parentSpanId !== undefined ? { parent: ctx.parentSpanId } : {}),
            name,
            hop,
            start: new Date(startMs).toISOString(),
            durationMs: endMs - startMs,
            ok: message === undefined,
            ...(message !== undefined ? { error: message } : {})
          }, 'span')
          const finished: FinishedSpan = { traceId: ctx.traceId, spanId, ...(ctx.parentSpanId !== undefined ? { parentSpanId: ctx.parentSpanId } : {}), flags: ctx.flags, name, hop, startMs, endMs, attrs: all, ...(message !== undefined ? { error: message } : {}) }
          for (const e of exporters) {
            try { e(finished) } catch (err) { log.warn({ err }, 'span exporter failed') }
          }
        }
      }
    }
  }
}
