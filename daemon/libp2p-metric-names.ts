/**
 * Prometheus names for the metrics libp2p registers. libp2p's modules name
 * their own metrics, and some of those names break Prometheus's naming rules
 * (`promtool check metrics`): gauges ending in `_total` (kad-dht's in-flight
 * operations, tcp's connection and event gauges) and gauges in milliseconds
 * (kad-dht's adaptive timeouts). @libp2p/prometheus-metrics has no option to
 * rename, so `withPrometheusNames` wraps its factory: a registration under a
 * name of `LIBP2P_METRIC_RENAMES` is made under the new name instead, and a
 * unit change converts the values on their way in. Every other name passes
 * through. docs/monitoring.md lists the renames for dashboards that used the
 * old names.
 */
import type { CalculatedMetricOptions, MetricGroup, MetricOptions, Metrics } from '@libp2p/interface'

export interface MetricRename {
  /** The name the metric is exported under. */
  name: string
  /**
   * Converts a value of a metric group to the unit of the new name; `key` is
   * the group's label value (a variance and a mean of one timeout need
   * different factors).
   */
  convert?: (key: string, value: number) => number
}

/**
 * kad-dht's adaptive timeouts (@libp2p/utils AdaptiveTimeout) report
 * milliseconds: the mean, deviation and forecast of request times and the
 * last request time convert by 1/1000, the variance (ms²) by 1/1000².
 */
export function millisecondsToSeconds (key: string, value: number): number {
  return key.endsWith('Variance') ? value / 1e6 : value / 1e3
}

/** kad-dht's `metricsPrefix` (daemon/node.ts): its metrics are ours to name. */
export const DHT_METRICS_PREFIX = 'mycel_dht'
const DHT = DHT_METRICS_PREFIX

export const LIBP2P_METRIC_RENAMES: ReadonlyMap<string, MetricRename> = new Map([
  // A gauge of operations in progress (incremented at the start, decremented at the end).
  [`${DHT}_operations_total`, { name: `${DHT}_operations_in_flight` }],
  // A gauge: the number of k-buckets in the routing table.
  [`${DHT}_routing_table_kad_bucket_total`, { name: `${DHT}_routing_table_kad_buckets` }],
  [`${DHT}_network_message_send_times_milliseconds`, { name: `${DHT}_network_message_send_times_seconds`, convert: millisecondsToSeconds }],
  [`${DHT}_routing_table_ping_old_contact_time_milliseconds`, { name: `${DHT}_routing_table_ping_old_contact_time_seconds`, convert: millisecondsToSeconds }],
  [`${DHT}_routing_table_ping_new_contact_time_milliseconds`, { name: `${DHT}_routing_table_ping_new_contact_time_seconds`, convert: millisecondsToSeconds }],
  [`${DHT}_reprovide_timeout_milliseconds`, { name: `${DHT}_reprovide_timeout_seconds`, convert: millisecondsToSeconds }],
  // @libp2p/tcp and libp2p's connection manager: gauges (the events and
  // errors ones only ever go up, but libp2p registers them as gauges, and a
  // gauge is what the registry exports).
  ['libp2p_tcp_inbound_connections_total', { name: 'libp2p_tcp_inbound_connections' }],
  ['libp2p_tcp_listener_errors_total', { name: 'libp2p_tcp_listener_errors' }],
  ['libp2p_tcp_listener_events_total', { name: 'libp2p_tcp_listener_events' }],
  ['libp2p_protocol_streams_total', { name: 'libp2p_protocol_streams' }]
])

type MakeMetrics<C> = (components: C) => Metrics

/**
 * `make` (a libp2p `metrics` factory) whose registrations use
 * `renames`. The metrics object is libp2p's own (its start/stop and
 * capabilities stay); only its register methods are replaced.
 */
export function withPrometheusNames<C> (make: MakeMetrics<C>, renames: ReadonlyMap<string, MetricRename> = LIBP2P_METRIC_RENAMES): MakeMetrics<C> {
  return (components) => {
    const metrics = make(components)
    const to = (name: string): string => renames.get(name)?.name ?? name
    // Each register method is overloaded (with `calculate` it returns
    // nothing); the wrappers pass the options through unchanged, so the
    // casts only restore the overloads.
    const rename = <K extends keyof Metrics>(method: K): void => {
      const original = (metrics[method] as (name: string, options?: unknown) => unknown).bind(metrics)
      metrics[method] = ((name: string, options?: unknown) => original(to(name), options)) as Metrics[K]
    }
    for (const method of ['registerMetric', 'registerCounter', 'registerCounterGroup', 'registerHistogram', 'registerHistogramGroup', 'registerSummary', 'registerSummaryGroup'] as const) rename(method)
    const registerMetricGroup = metrics.registerMetricGroup.bind(metrics) as (name: string, options?: MetricOptions | CalculatedMetricOptions<Record<string, number>>) => MetricGroup | undefined
    metrics.registerMetricGroup = ((name: string, options?: MetricOptions | CalculatedMetricOptions<Record<string, number>>) => {
      const r = renames.get(name)
      if (r?.convert === undefined) return registerMetricGroup(to(name), options)
      return converted(registerMetricGroup, r.name, r.convert, options)
    }) as Metrics['registerMetricGroup']
    return metrics
  }
}

/** A metric group registered as `name` whose values pass through `convert`. */
function converted (
  register: (name: string, options?: MetricOptions | CalculatedMetricOptions<Record<string, number>>) => MetricGroup | undefined,
  name: string,
  convert: (key: string, value: number) => number,
  options?: MetricOptions | CalculatedMetricOptions<Record<string, number>>
): MetricGroup | undefined {
  const each = (values: Partial<Record<string, number | true>>): Record<string, number> =>
    Object.fromEntries(Object.entries(values).flatMap(([k, v]) => v === undefined ? [] : [[k, convert(k, v === true ? 1 : v)]]))
  if (options !== undefined && 'calculate' in options) {
    const calculate = options.calculate
    return register(name, { ...options, calculate: async () => each(await calculate()) })
  }
  const group = register(name, options)
  if (group === undefined) return undefined
  return {
    update: (values) => { group.update(each(values)) },
    increment: (values) => { group.increment(each(values)) },
    decrement: (values) => { group.decrement(each(values)) },
    reset: () => { group.reset() },
    // Every conversion here is to seconds, what prom-client's timer records.
    timer: (key) => group.timer(key)
  }
}
