/**
 * Optional export of the agent's spans over OTLP/HTTP (`otlpEndpoint`,
 * `--otlp-endpoint URL`), through the OpenTelemetry JS SDK: a TracerProvider
 * with a BatchSpanProcessor in front of the SDK's OTLPTraceExporter.
 *
 * The spans are not made by the SDK's tracer: wire/tracing.ts made them
 * (ids, parent, times) and logged them already. Each finished span is
 * replayed into the SDK as one `startSpan`/`end` pair with its own start and
 * end time, its remote parent as the parent context, and its own span id
 * (and trace id for a root) handed out by the provider's id generator just
 * before the SDK asks for it. So the collector sees exactly the ids that
 * the log lines, `mycel trace` and every other node's spans carry.
 *
 * The export never blocks or fails the agent: the processor's queue is
 * bounded (spans over it are dropped, counted by the SDK), exports run in
 * the background with a timeout, and a failed export is logged at most once
 * per `failureLogIntervalMs`, with how many failed since the last line.
 */
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context } from '@opentelemetry/api'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { AlwaysOnSampler, BatchSpanProcessor, TracerProvider, type IdGenerator, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace'
import type { Logger } from 'pino'
import type { FinishedSpan } from '../wire/tracing.js'
import { newSpanId, newTraceId } from '../wire/trace-context.js'
import type { OtlpTunables } from './tracing-constants.js'

export interface OtlpExportInit {
  /** The OTLP/HTTP traces URL, e.g. `http://collector:4318/v1/traces`. */
  endpoint: string
  /** Resource attributes: `service.name`, `mycel.node`, `mycel.region`, … */
  resource: Attributes
  tunables: OtlpTunables
  logger: Logger
}

export interface OtlpExport {
  /** Hand a finished span to the batch processor (never throws, never waits). */
  export: (span: FinishedSpan) => void
  /** Export what is queued, then stop (bounded by the exporter's timeout). Safe twice. */
  shutdown: () => Promise<void>
}

/**
 * What an SDK exporter reports (@opentelemetry/core's ExportResult, which
 * this package does not depend on directly): code 0 is success.
 */
interface ExportResult { code: number, error?: Error }
const EXPORT_SUCCESS = 0

/** Hands out the ids of the span being replayed; random ones if the SDK asks for more (it does not). */
class ReplayIds implements IdGenerator {
  traceId: string | undefined
  spanId: string | undefined
  generateTraceId (): string { const id = this.traceId ?? newTraceId(); this.traceId = undefined; return id }
  generateSpanId (): string { const id = this.spanId ?? newSpanId(); this.spanId = undefined; return id }
}

/** Wraps the OTLP exporter to log failed exports at a bounded rate. */
class RateLoggedExporter implements SpanExporter {
  private failedSinceLog = 0
  private lastLogAt = -Infinity

  constructor (private readonly inner: SpanExporter, private readonly init: Pick<OtlpExportInit, 'endpoint' | 'logger'> & { intervalMs: number }) {}

  export (spans: ReadableSpan[], done: (r: ExportResult) => void): void {
    this.inner.export(spans, (r) => {
      if (r.code !== EXPORT_SUCCESS) this.failed(spans.length, r.error)
      done(r)
    })
  }

  async shutdown (): Promise<void> { await this.inner.shutdown() }
  async forceFlush (): Promise<void> { await this.inner.forceFlush?.() }

  private failed (count: number, error: Error | undefined): void {
    this.failedSinceLog += count
    const now = Date.now()
    if (now - this.lastLogAt < this.init.intervalMs) return
    this.lastLogAt = now
    this.init.logger.warn({ endpoint: this.init.endpoint, spans: this.failedSinceLog, err: error?.message }, 'OTLP span export failed; the spans stay in the log store (mycel trace)')
    this.failedSinceLog = 0
  }
}

export function otlpExport (init: OtlpExportInit): OtlpExport {
  const t = init.tunables
  const ids = new ReplayIds()
  const exporter = new RateLoggedExporter(new OTLPTraceExporter({ url: init.endpoint, timeoutMillis: t.exportTimeoutMs }), { endpoint: init.endpoint, logger: init.logger, intervalMs: t.failureLogIntervalMs })
  const provider = new TracerProvider({
    resource: resourceFromAttributes(init.resource),
    // Every span the agent recorded is exported: sampling was decided where the trace began.
    sampler: new AlwaysOnSampler(),
    idGenerator: ids,
    spanProcessors: [new BatchSpanProcessor({
      exporter,
      maxQueueSize: t.maxQueueSize,
      maxExportBatchSize: t.maxBatchSize,
      scheduledDelayMillis: t.batchDelayMs,
      exportTimeoutMillis: t.exportTimeoutMs
    })]
  })
  const tracer = provider.getTracer('mycel')
  // The node's own attributes on every span too, for backends that show only span attributes.
  const own = Object.fromEntries(Object.entries(init.resource).filter(([k]) => k.startsWith('mycel.')))
  let stopped = false
  let stopping: Promise<void> | undefined
  return {
    export (s) {
      if (stopped) return
      try {
        let parent: Context = ROOT_CONTEXT
        if (s.parentSpanId !== undefined) {
          parent = trace.setSpanContext(ROOT_CONTEXT, { traceId: s.traceId, spanId: s.parentSpanId, traceFlags: parseInt(s.flags, 16) & 1, isRemote: true })
        } else {
          ids.traceId = s.traceId
        }
        ids.spanId = s.spanId
        const span = tracer.startSpan(`${s.name} ${s.hop}`, {
          kind: s.hop === 'sent' ? SpanKind.PRODUCER : s.hop === 'received' ? SpanKind.CONSUMER : SpanKind.INTERNAL,
          startTime: s.startMs,
          attributes: { ...own, ...s.attrs, 'mycel.hop': s.hop, 'mycel.operation': s.name }
        }, parent)
        if (s.error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: s.error })
        span.end(s.endMs)
      } catch (err) {
        // The SDK refusing a span must not reach the traced operation.
        init.logger.debug({ err }, 'span not exported')
      } finally {
        ids.traceId = undefined
        ids.spanId = undefined
      }
    },
    async shutdown () {
      stopped = true
      stopping ??= provider.shutdown().catch((err: unknown) => { init.logger.warn({ err, endpoint: init.endpoint }, 'OTLP exporter shutdown failed') })
      await stopping
    }
  }
}
