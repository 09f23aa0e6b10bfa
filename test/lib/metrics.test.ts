import { expect } from 'chai'
import { Registry } from 'prom-client'
import { metricsOn } from '../../lib/metrics.js'
import { gossipCounter } from '../../wire/topic.js'
import { membershipMetrics } from '../../protocols/membership/metrics.js'

describe('lib/metrics', () => {
  it('registers a metric once per registry: a second factory on it gets the same metric', async () => {
    const registry = new Registry()
    const a = metricsOn(registry).counter({ name: 'demo_total', help: 'demo', labelNames: ['kind'] as const })
    const b = metricsOn(registry).counter({ name: 'demo_total', help: 'demo', labelNames: ['kind'] as const })
    expect(b).to.equal(a)
    a.inc({ kind: 'x' })
    b.inc({ kind: 'x' })
    expect(await registry.getSingleMetricAsString('demo_total')).to.include('demo_total{kind="x"} 2')
  })

  it('counts without a registry, registering nothing', async () => {
    const c = metricsOn(undefined).counter({ name: 'demo_total', help: 'demo' })
    c.inc()
    expect((await c.get()).values[0]?.value).to.equal(1)
    expect(metricsOn(undefined).counter({ name: 'demo_total', help: 'demo' })).to.not.equal(c)
  })

  it('membership and the gossip topics share one mycel_gossip_messages_total, described the same whichever comes first', async () => {
    const help = async (r: Registry): Promise<string | undefined> => (await r.getSingleMetricAsString('mycel_gossip_messages_total')).split('\n')[0]
    const first = new Registry()
    expect(membershipMetrics(first).gossip).to.equal(gossipCounter(first))
    const second = new Registry()
    expect(gossipCounter(second)).to.equal(membershipMetrics(second).gossip)
    expect(await help(first)).to.equal(await help(second))
  })
})
