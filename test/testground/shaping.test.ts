import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import { parseNetworkConfig, unsupportedReason, nftRuleset, routeCommands, tcCommands, type LinkState } from '../../testground/runner/shaping.js'
import { applyConfig, initialLinkState, type AppliedConfig } from '../../testground/runner/link-rules.js'
import { parseCidr, planAddresses, overlaps, ipString } from '../../testground/runner/netns.js'
import { outcomeLine, summarize } from '../../testground/runner/outcome.js'

const ctx = { dev: 'eth0', gateway: '16.0.0.1', syncPort: 5050, subnet: '16.0.0.0/16' }

describe('testground shaping', () => {
  it('parses configs as the sdk sends them (snake_case, IPv4 kept)', () => {
    const cfg = parseNetworkConfig({
      network: 'default', enable: true, callback_state: 'x', routing_policy: 'deny_all',
      default: { bandwith: 1000, loss: 1.5 }, rules: [{ subnet: '16.0.3.0/24', filter: 2 }], IPv4: '16.0.1.9/16'
    })
    assert.equal(cfg.default.bandwidth, 1000)
    assert.equal(cfg.default.loss, 1.5)
    assert.equal(cfg.rules[0].shape.filter, 2)
    assert.equal(cfg.ipv4, '16.0.1.9/16')
    assert.equal(cfg.routingPolicy, 'deny_all')
    assert.equal(cfg.callbackState, 'x')
  })

  const bad: Array<[string, unknown, RegExp]> = [
    ['not an object', 'x', /must be an object/],
    ['other network', { network: 'control' }, /unsupported network/],
    ['bad subnet', { rules: [{ subnet: '16.0.0.0', filter: 2 }] }, /IPv4 CIDR/],
    ['bad filter', { default: { filter: 7 } }, /filter must be/],
    ['loss > 100', { default: { loss: 101 } }, /percentage/],
    ['negative', { default: { bandwidth: -1 } }, /non-negative/],
    ['ipv6', { IPv6: 'fd00::1/64' }, /IPv6/],
    ['policy', { routing_policy: 'maybe' }, /routing_policy/]
  ]
  for (const [what, raw, re] of bad) it(`refuses ${what}`, () => { assert.throws(() => parseNetworkConfig(raw), re) })

  it('refuses latency/jitter/corrupt of the link shape with the netem reason; rules\' shape fields are not applied, so not refused', () => {
    assert.match(unsupportedReason(parseNetworkConfig({ default: { latency: 1e8 } })) ?? '', /default: latency need tc netem/)
    assert.match(unsupportedReason(parseNetworkConfig({ default: { jitter: 5, corrupt: 1 } })) ?? '', /default: jitter, corrupt need tc netem/)
    assert.equal(unsupportedReason(parseNetworkConfig({ rules: [{ subnet: '16.0.0.0/24', jitter: 5 }] })), undefined)
    assert.equal(unsupportedReason(parseNetworkConfig({ default: { loss: 5, bandwidth: 1e6 } })), undefined)
  })

  it('normalises a rule\'s subnet to its network, as Go\'s net.ParseCIDR does', () => {
    assert.equal(parseNetworkConfig({ rules: [{ subnet: '16.0.1.7/24', filter: 2 }] }).rules[0].subnet, '16.0.1.0/24')
    assert.equal(parseNetworkConfig({ rules: [{ subnet: '16.0.1.7/32', filter: 2 }] }).rules[0].subnet, '16.0.1.7/32')
  })

  it('keeps the sync service reachable; filters are routes, not nftables rules', () => {
    const cfg = parseNetworkConfig({ default: { loss: 2.5 }, rules: [{ subnet: '16.0.0.7/32', filter: 2 }] })
    const rs = nftRuleset(applyConfig(initialLinkState(), cfg, ctx.subnet).state, ctx)
    const lines = rs.split('\n').map(l => l.trim())
    assert.ok(lines.indexOf('ip daddr 16.0.0.1 tcp dport 5050 accept') < lines.indexOf('ip daddr 16.0.0.0/16 numgen random mod 10000 < 250 drop'))
    assert.doesNotMatch(rs, /16\.0\.0\.7/)
    assert.ok(rs.startsWith('table inet testground\ndelete table inet testground\n'))
  })

  it('100% loss, disabled network and deny_all', () => {
    const at = (raw: unknown): string => nftRuleset(applyConfig(initialLinkState(), parseNetworkConfig(raw), ctx.subnet).state, ctx)
    assert.match(at({ default: { loss: 100 } }), /ip daddr 16.0.0.0\/16 drop/)
    const off = at({ enable: false }).split('\n').map(l => l.trim())
    assert.ok(off.indexOf('drop') > off.indexOf('ip daddr 16.0.0.1 tcp dport 5050 accept'))
    assert.match(at({ routing_policy: 'deny_all' }), /ip daddr 16.0.0.1 drop/)
  })

  it('tc: only a reset without bandwidth; an htb class for the link shape with it; rules\' bandwidth is not applied', () => {
    const at = (raw: unknown): string[] => tcCommands(applyConfig(initialLinkState(), parseNetworkConfig(raw), ctx.subnet).state, ctx).map(c => c.join(' '))
    assert.deepEqual(at({}), ['qdisc del dev eth0 root'])
    assert.deepEqual(at({ rules: [{ subnet: '16.0.9.0/24', bandwidth: 8000 }] }), ['qdisc del dev eth0 root'])
    const cmds = at({ default: { bandwidth: 1 << 20 } })
    assert.equal(cmds[0], 'qdisc del dev eth0 root')
    assert.ok(cmds.includes('class add dev eth0 parent 1: classid 1:10 htb rate 1048576bit'))
    assert.ok(cmds.includes('filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dst 16.0.0.1/32 flowid 1:2'))
  })
})

describe('testground link rules (testground\'s AddRules / Shape semantics)', () => {
  const DATA = ctx.subnet
  const step = (s: LinkState, raw: Record<string, unknown>): AppliedConfig => applyConfig(s, parseNetworkConfig(raw), DATA)
  const routes = (raw: Record<string, unknown>): string[] => routeCommands(parseNetworkConfig(raw)).map(c => `${c.argv.join(' ')}${c.mayFail ? ' (may fail)' : ''}`)
  const drop = (subnet: string): unknown => ({ subnet, filter: 2 })

  /** A namespace's routing table as the kernel keeps filter routes: one per subnet, del matches the type. */
  function routeTable (): { apply: (argv: string[]) => boolean, table: Map<string, string> } {
    const table = new Map<string, string>()
    return {
      table,
      apply: ([, op, type, subnet]) => {
        if (op === 'replace') { table.set(subnet, type); return true }
        if (table.get(subnet) !== type) return false
        table.delete(subnet)
        return true
      }
    }
  }

  it('each rule becomes its AddRules route command, in order; an empty rules list none', () => {
    assert.deepEqual(routes({ rules: [drop('16.0.0.5/32'), { subnet: '16.0.1.0/24', filter: 1 }, { subnet: '16.0.0.6/32', filter: 0 }] }), [
      'route replace blackhole 16.0.0.5/32',
      'route replace prohibit 16.0.1.0/24',
      'route del blackhole 16.0.0.6/32 (may fail)',
      'route del prohibit 16.0.0.6/32 (may fail)'
    ])
    assert.deepEqual(routes({ rules: [] }), [])
    assert.deepEqual(routes({}), [])
    assert.deepEqual(routes({ enable: false, rules: [drop('16.0.0.5/32')] }), [])
  })

  it('an accept names the route\'s network: drop 16.0.1.7/24, then accept 16.0.1.0/24 deletes that route', () => {
    const rt = routeTable()
    for (const rules of [[drop('16.0.1.7/24')], [{ subnet: '16.0.1.0/24' }]]) {
      for (const c of routeCommands(parseNetworkConfig({ rules }))) rt.apply(c.argv)
    }
    assert.deepEqual([...rt.table], [])
  })

  it('property: each subnet ends as the last rule naming it said, however the rules are split over configs; failures only where allowed', () => {
    const subnets = ['16.0.0.2/32', '16.0.0.3/32', '16.0.1.0/24', '16.0.0.0/8']
    const rule = fc.record({ subnet: fc.constantFrom(...subnets), filter: fc.constantFrom(0, 1, 2) })
    fc.assert(fc.property(fc.array(fc.array(rule, { maxLength: 5 }), { maxLength: 6 }), configs => {
      const rt = routeTable()
      for (const rules of configs) {
        for (const c of routeCommands(parseNetworkConfig({ rules }))) assert.ok(rt.apply(c.argv) || c.mayFail, c.argv.join(' '))
      }
      const expected = new Map<string, string>()
      for (const r of configs.flat()) {
        if (r.filter === 0) expected.delete(r.subnet)
        else expected.set(r.subnet, r.filter === 2 ? 'blackhole' : 'prohibit')
      }
      assert.deepEqual(Object.fromEntries(rt.table), Object.fromEntries(expected))
    }))
  })

  it('default.filter changes nothing and warns, naming the rule to use instead', () => {
    const before = step(initialLinkState(), {}).state
    for (const f of [1, 2]) {
      const raw = { default: { filter: f } }
      const { state, warnings } = step(before, raw)
      assert.equal(nftRuleset(state, ctx), nftRuleset(before, ctx))
      assert.deepEqual(tcCommands(state, ctx), tcCommands(before, ctx))
      assert.deepEqual(routes(raw), [])
      assert.equal(warnings.length, 1)
      assert.match(warnings[0], new RegExp(`default.filter = ${f} .* is ignored.*rules: \\[\\{ subnet: '<peer IP>/32', filter: ${f} \\}\\].*enable: false`))
    }
  })

  it('Shape replaces the whole link shape: a config without loss ends an earlier loss', () => {
    const lossy = step(initialLinkState(), { default: { loss: 50, bandwidth: 1000 } }).state
    const after = step(lossy, {}).state
    assert.equal(after.shape.loss, 0)
    assert.equal(after.shape.bandwidth, 0)
    assert.doesNotMatch(nftRuleset(after, ctx), /numgen/)
  })

  it('enable = false detaches and applies nothing else; enabling again applies the new shape', () => {
    const off = step(initialLinkState(), { enable: false, default: { loss: 20 }, rules: [{ subnet: '16.0.0.5/32', filter: 0 }] })
    assert.equal(off.state.enabled, false)
    assert.equal(off.state.shape.loss, 0)
    assert.match(off.warnings[0], /enable = false: the 1 rule\(s\) of this config are not applied/)
    const on = step(off.state, { enable: true, default: { loss: 20 } }).state
    assert.equal(on.enabled, true)
    assert.equal(on.shape.loss, 20)
  })

  it('warns about what testground would not do: rule shape fields, a wider rule, a rule for the whole data subnet', () => {
    const { warnings } = step(initialLinkState(), {
      rules: [{ subnet: '16.0.3.0/24', loss: 10, bandwidth: 100, filter: 0 }, drop('16.0.0.0/8'), drop('16.0.0.0/16')]
    })
    assert.match(warnings[0], /rules\[0\] \(16.0.3.0\/24\): loss, bandwidth ignored/)
    assert.match(warnings[1], /rules\[1\] \(16.0.0.0\/8\): has no effect on the data network 16.0.0.0\/16/)
    assert.match(warnings[2], /rules\[2\] \(16.0.0.0\/16\): a drop rule for the whole data subnet replaces its connected route/)
    assert.deepEqual(step(initialLinkState(), { rules: [drop('16.0.0.5/32')] }).warnings, [])
  })
})

describe('testground addresses', () => {
  it('plans gateway and instance addresses, skipping .0 and .255', () => {
    const s = parseCidr('16.0.0.0/16')
    const { gateway, addrs } = planAddresses(s, 300)
    assert.equal(gateway, '16.0.0.1')
    assert.equal(addrs[0], '16.0.0.2')
    assert.ok(!addrs.some(a => a.endsWith('.0') || a.endsWith('.255')))
    assert.equal(new Set(addrs).size, 300)
    assert.throws(() => planAddresses(parseCidr('10.1.2.0/29'), 10), /room for/)
    assert.throws(() => parseCidr('16.0.0.0'), /not an IPv4 CIDR/)
  })
  it('detects overlapping subnets', () => {
    assert.ok(overlaps(parseCidr('16.0.0.0/16'), parseCidr('16.0.3.0/24')))
    assert.ok(!overlaps(parseCidr('16.0.0.0/16'), parseCidr('16.1.0.0/16')))
    assert.equal(ipString(parseCidr('192.168.7.9/24').base), '192.168.7.0')
  })
})

describe('testground outcome', () => {
  it('prints testground\'s outcome line, groups sorted', () => {
    const line = outcomeLine({ outcome: 'failure', outcomes: { b: { ok: 1, total: 2 }, a: { ok: 3, total: 3 } } } as any)
    assert.equal(line, 'run finished with outcome = failure (a:3/3 b:1/2)')
  })
  it('summarises values', () => {
    assert.deepEqual(summarize([5, 1, 3, 2, 4]), { count: 5, min: 1, p50: 3, p95: 5, max: 5, mean: 3 })
    assert.equal(summarize([]), null)
  })
})
