/**
 * The process metrics of a daemon: prom-client's default metrics (CPU,
 * memory, heap, event-loop lag, GC, file descriptors, active handles)
 * under `mycel_process_`, with the names Prometheus's rules refuse left out.
 */
import { collectDefaultMetrics, Gauge, type Registry } from 'prom-client'
import { codeCacheState } from './code-cache-state.js'

export const PROCESS_METRICS_PREFIX = 'mycel_process_'

/**
 * Event-loop lag sampling period, ms. The sampler is a timer that wakes the
 * loop each period to see how late it fires, so a stall is seen only if a
 * wake-up falls due inside it: every stall of at least this long is seen.
 * prom-client's default 10 ms cost an idle daemon ~0.4 % of a core; 100 ms
 * was still ten wake-ups a second (≈ 55 µs each on a paravirtualized host).
 * 500 ms matches the lag alert's threshold (deploy/prometheus: p99 above
 * 0.5 s), so no stall that alert is for goes unseen, at two wake-ups a
 * second (docs/performance.md, eleventh pass).
 */
const EVENT_LOOP_SAMPLE_MS = 500

/**
 * prom-client's gauges of the number of active handles, requests and
 * resources end in `_total`, which Prometheus reserves for counters. Each is
 * the sum of the gauge of the same name without `_total` (by `type`), so
 * they are dropped rather than renamed: `sum without (type)
 * (mycel_process_nodejs_active_handles)` is the same number.
 */
export const DROPPED_PROCESS_METRICS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']
  .map(name => PROCESS_METRICS_PREFIX + name)

export function collectProcessMetrics (registry: Registry): void {
  collectDefaultMetrics({ register: registry, prefix: PROCESS_METRICS_PREFIX, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS })
  for (const name of DROPPED_PROCESS_METRICS) registry.removeSingleMetric(name)
  new Gauge({
    name: `${PROCESS_METRICS_PREFIX}code_cache_info`,
    help: 'Always 1; state: how this process loaded its code: accepted (the V8 code cache the build recorded), rejected (V8 refused it: other V8 flags), recording (the build\'s recording run), other-node (the cache is another node\'s), no-cache (the build recorded none), broken (unreadable manifest or files, a damaged cache or one of other bundle bytes), none (no bundle: ES modules); daemon/code-cache-state.ts',
    labelNames: ['state'],
    registers: [registry]
  }).set({ state: codeCacheState() ?? 'none' }, 1)
}
