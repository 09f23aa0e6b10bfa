import { strict as assert } from 'node:assert'
import { parseNetworkConfig, unsupportedReason, nftRuleset, tcCommands } from '../../testground/runner/shaping.js'
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

  it('refuses latency/jitter/reorder with the netem reason', () => {
    assert.match(unsupportedReason(parseNetworkConfig({ default: { latency: 1e8 } })) ?? '', /latency need tc netem/)
    assert.match(unsupportedReason(parseNetworkConfig({ rules: [{ subnet: '16.0.0.0/24', jitter: 5 }] })) ?? '', /rule 16.0.0.0\/24: jitter/)
    assert.equal(unsupportedReason(parseNetworkConfig({ default: { loss: 5, bandwidth: 1e6 } })), undefined)
  })

  it('keeps the sync service reachable and orders rules by prefix length', () => {
    const rs = nftRuleset(parseNetworkConfig({
      default: { loss: 2.5 },
      rules: [{ subnet: '16.0.0.0/24', filter: 1 }, { subnet: '16.0.0.7/32', filter: 0 }, { subnet: '16.0.5.0/24', filter: 2 }]
    }), ctx)
    const lines = rs.split('\n').map(l => l.trim())
    const i = (s: string): number => lines.findIndex(l => l.startsWith(s))
    assert.ok(i('ip daddr 16.0.0.1 tcp dport 5050 accept') < i('ip daddr 16.0.0.7/32 accept'))
    assert.ok(i('ip daddr 16.0.0.7/32 accept') < i('ip daddr 16.0.0.0/24 reject'))
    assert.ok(lines.includes('ip daddr 16.0.5.0/24 drop'))
    assert.ok(lines.includes('ip daddr 16.0.0.0/16 numgen random mod 10000 < 250 drop'))
    assert.ok(rs.startsWith('table inet testground\ndelete table inet testground\n'))
  })

  it('100% loss, disabled network and deny_all', () => {
    assert.match(nftRuleset(parseNetworkConfig({ default: { loss: 100 } }), ctx), /ip daddr 16.0.0.0\/16 drop/)
    const off = nftRuleset(parseNetworkConfig({ enable: false }), ctx).split('\n').map(l => l.trim())
    assert.ok(off.indexOf('drop') > off.indexOf('ip daddr 16.0.0.1 tcp dport 5050 accept'))
    assert.match(nftRuleset(parseNetworkConfig({ routing_policy: 'deny_all' }), ctx), /ip daddr 16.0.0.1 drop/)
  })

  it('tc: only a reset without bandwidth; htb classes and filters with it', () => {
    assert.deepEqual(tcCommands(parseNetworkConfig({}), ctx), [['qdisc', 'del', 'dev', 'eth0', 'root']])
    const cmds = tcCommands(parseNetworkConfig({ default: { bandwidth: 1 << 20 }, rules: [{ subnet: '16.0.9.0/24', bandwidth: 8000 }] }), ctx).map(c => c.join(' '))
    assert.equal(cmds[0], 'qdisc del dev eth0 root')
    assert.ok(cmds.includes('class add dev eth0 parent 1: classid 1:10 htb rate 1048576bit'))
    assert.ok(cmds.includes('filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dst 16.0.0.1/32 flowid 1:2'))
    assert.ok(cmds.includes('filter add dev eth0 parent 1: protocol ip prio 2 u32 match ip dst 16.0.9.0/24 flowid 1:100'))
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
