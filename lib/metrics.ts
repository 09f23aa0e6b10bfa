/**
 * The way a module defines its metrics (one factory per module, the registry
 * optional): `const m = metricsOn(registry)`, then `m.counter({...})`,
 * `m.gauge({...})`, `m.histogram({...})` with prom-client's own options.
 *
 * - Without a registry a metric still counts (tests read it) but is exported
 *   nowhere.
 * - A metric is registered once per registry: a second instance of a module
 *   in one process (several agents in a test, a component rebuilt after a
 *   fault) gets the metric the first one registered, by its name, instead of
 *   prom-client's "already registered" error. The name is written once, so
 *   the name looked up and the name registered cannot drift apart.
 */
import { Counter, Gauge, Histogram, type CounterConfiguration, type GaugeConfiguration, type HistogramConfiguration, type Registry } from 'prom-client'

type Options<C> = Omit<C, 'registers'>

export interface MetricsOn {
  counter: <L extends string = string>(options: Options<CounterConfiguration<L>>) => Counter<L>
  gauge: <L extends string = string>(options: Options<GaugeConfiguration<L>>) => Gauge<L>
  histogram: <L extends string = string>(options: Options<HistogramConfiguration<L>>) => Histogram<L>
}

export function metricsOn (registry: Registry | undefined): MetricsOn {
  const registers = registry !== undefined ? [registry] : []
  const reuse = <T>(name: string, make: () => T): T => (registry?.getSingleMetric(name) as T | undefined) ?? make()
  return {
    counter: (options) => reuse(options.name, () => new Counter({ ...options, registers })),
    gauge: (options) => reuse(options.name, () => new Gauge({ ...options, registers })),
    histogram: (options) => reuse(options.name, () => new Histogram({ ...options, registers }))
  }
}
