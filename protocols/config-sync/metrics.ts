/**
 * Config replication metrics, defined once. The registry is optional:
 * without one the metrics still count (tests read them) but are exported
 * nowhere.
 */
import type { Registry } from 'prom-client'
import { metricsOn } from '../../lib/metrics.js'

export interface ConfigMetricsSource {
  namespaces: () => Array<{ ns: string, bytes: number, keys: number }>
  logBytes: () => number
  held: () => number
  watchers: () => number
}

export function configMetrics (registry?: Registry, source?: ConfigMetricsSource) {
  const m = metricsOn(registry)
  return {
    envelopes: m.counter({
      name: 'mycel_config_envelopes_total',
      help: 'Envelopes handled, by result (applied, duplicate, held, rejected, written) and reason (origin for accepted ones: gossip, sync, local; the check that failed for rejected ones)',
      labelNames: ['result', 'reason'] as const
    }),
    invalidValues: m.counter({
      name: 'mycel_config_invalid_values_total',
      help: 'Materialised values that failed the namespace schema or limits; the last valid value was kept',
      labelNames: ['namespace'] as const
    }),
    equivocations: m.counter({
      name: 'mycel_config_equivocations_total',
      help: 'Writers seen signing two different envelopes with one sequence number'
    }),
    streamStops: m.counter({
      name: 'mycel_config_stream_stops_total',
      help: 'Writer streams stopped because the writer signed an envelope whose content this node refuses; its later envelopes count as rejected, reason stream_stopped'
    }),
    watchers: m.gauge({
      name: 'mycel_config_watchers',
      help: 'Open config watch streams (server-sent events), at most maxWatchers',
      collect () { if (source !== undefined) this.set(source.watchers()) }
    }),
    watchDrops: m.counter({
      name: 'mycel_config_watch_drops_total',
      help: 'Watch streams the agent ended, by reason (slow: fell more than watchBacklogBytes behind; stopping: agent shutdown)',
      labelNames: ['reason'] as const
    }),
    watchRefusals: m.counter({
      name: 'mycel_config_watch_refusals_total',
      help: 'Watch requests refused because maxWatchers streams were already open'
    }),
    rounds: m.counter({
      name: 'mycel_config_antientropy_rounds_total',
      help: 'Anti-entropy exchanges by role (initiator, responder) and result (ok, error, no_peer)',
      labelNames: ['role', 'result'] as const
    }),
    bytes: m.counter({
      name: 'mycel_config_antientropy_bytes_total',
      help: 'Anti-entropy bytes by direction (sent, received)',
      labelNames: ['direction'] as const
    }),
    lag: m.histogram({
      name: 'mycel_config_propagation_lag_seconds',
      help: 'Writer wall clock at the write to first apply here, by path (gossip, sync); includes clock skew between hosts',
      labelNames: ['path'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600]
    }),
    writeDuration: m.histogram({
      name: 'mycel_config_write_duration_seconds',
      help: 'Local write to durable (fsync) acknowledgement',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]
    }),
    documentBytes: m.gauge({
      name: 'mycel_config_document_bytes',
      help: 'Encoded Yjs state of each namespace document, bytes',
      labelNames: ['namespace'] as const,
      collect () {
        if (source === undefined) return
        for (const n of source.namespaces()) this.set({ namespace: n.ns }, n.bytes)
      }
    }),
    documentKeys: m.gauge({
      name: 'mycel_config_document_keys',
      help: 'Keys in each namespace',
      labelNames: ['namespace'] as const,
      collect () {
        if (source === undefined) return
        for (const n of source.namespaces()) this.set({ namespace: n.ns }, n.keys)
      }
    }),
    logBytes: m.gauge({
      name: 'mycel_config_log_bytes',
      help: 'Size of the envelope log file, bytes',
      collect () { if (source !== undefined) this.set(source.logBytes()) }
    }),
    held: m.gauge({
      name: 'mycel_config_held_envelopes',
      help: 'Envelopes waiting for an earlier sequence number of their stream',
      collect () { if (source !== undefined) this.set(source.held()) }
    })
  }
}

export type ConfigMetrics = ReturnType<typeof configMetrics>
