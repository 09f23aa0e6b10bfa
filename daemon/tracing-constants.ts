/**
 * Tunables of the optional OTLP span export (daemon/otlp-export.ts). The
 * spans are always in the node's log store; the export is a second sink,
 * so every bound here favours dropping a span over holding memory or time.
 */
import { z } from 'zod'
import { defineTunables, tunable } from '../lib/tunables.js'

export interface OtlpTunables {
  /** Spans waiting for export at most; more are dropped (BatchSpanProcessor `maxQueueSize`). */
  maxQueueSize: number
  /** Spans in one OTLP request at most. */
  maxBatchSize: number
  /** A batch is sent at the latest this long after its first span, ms. */
  batchDelayMs: number
  /** One export request (and the flush at stop) gives up after this long, ms. */
  exportTimeoutMs: number
  /** A failing collector is logged at most once per this many ms (with the count since the last line). */
  failureLogIntervalMs: number
}

export const otlpTunables = defineTunables<OtlpTunables>({
  module: 'otlp',
  schema: z.strictObject({
    maxQueueSize: tunable.positive(),
    maxBatchSize: tunable.positive(),
    batchDelayMs: tunable.positive(),
    exportTimeoutMs: tunable.positive(),
    failureLogIntervalMs: tunable.positive()
  }),
  profiles: {
    // The SDK's defaults (2048 spans, 512 a batch, 5 s): a node records a few spans per operation.
    lan: { maxQueueSize: 2048, maxBatchSize: 512, batchDelayMs: 5_000, exportTimeoutMs: 10_000, failureLogIntervalMs: 60_000 },
    wan: { maxQueueSize: 2048, maxBatchSize: 512, batchDelayMs: 5_000, exportTimeoutMs: 30_000, failureLogIntervalMs: 60_000 },
    // Tests see their spans at the collector within a few hundred ms.
    test: { maxQueueSize: 1024, maxBatchSize: 128, batchDelayMs: 200, exportTimeoutMs: 2_000, failureLogIntervalMs: 1_000 }
  },
  relations: [
    t => t.maxBatchSize <= t.maxQueueSize ? undefined : 'maxBatchSize must not exceed maxQueueSize (a batch is taken from the queue)'
  ]
})
