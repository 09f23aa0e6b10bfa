/** The log store's and log protocol's metrics (lib/metrics.ts: one factory, registry optional). */
import type { Registry } from 'prom-client'
import { metricsOn } from '../../lib/metrics.js'

export function logsMetrics (registry?: Registry) {
  const m = metricsOn(registry)
  return {
    stored: m.counter({ name: 'mycel_logs_lines_stored_total', help: 'Agent log lines written to the node\'s log store' }),
    storedBytes: m.counter({ name: 'mycel_logs_stored_bytes_total', help: 'Bytes written to the node\'s log store' }),
    dropped: m.counter<'reason'>({ name: 'mycel_logs_lines_dropped_total', help: 'Log lines lost: the store\'s write queue was full (pending_full), a write failed (write_failed), a follower read too slowly (follower_slow)', labelNames: ['reason'] }),
    diskBytes: m.gauge({ name: 'mycel_logs_store_bytes', help: 'Bytes of the node\'s own log store on disk (all its files)' }),
    rotations: m.counter({ name: 'mycel_logs_rotations_total', help: 'Rotations of the node\'s log store file' }),
    queries: m.counter<'result'>({ name: 'mycel_logs_queries_total', help: 'Log queries this node served, by result (ok, refused, error)', labelNames: ['result'] }),
    served: m.counter({ name: 'mycel_logs_lines_served_total', help: 'Log lines this node sent to queriers' }),
    following: m.gauge({ name: 'mycel_logs_followers', help: 'Log queries this node serves in follow mode now' })
  }
}

export type LogsMetrics = ReturnType<typeof logsMetrics>
