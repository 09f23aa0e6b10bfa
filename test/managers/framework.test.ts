import { strict as assert } from 'node:assert'
import FakeTimers from '@sinonjs/fake-timers'
import pino from 'pino'
import { Registry } from 'prom-client'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { RoleManager } from '../../managers/manager.js'
import { FencedActions } from '../../managers/actions.js'
import { dutyLoop, type Role } from '../../managers/role.js'
import { regionMetrics, rolesMetrics } from '../../managers/metrics.js'
import { summarizeTopology } from '../../managers/network-manager.js'
import { summarizeRegion, MonitoringManager } from '../../managers/monitoring-manager.js'
import { validateRegionConfig, isRegionNamespace, type RegionConfigSource } from '../../managers/config-manager.js'
import { auditRegion, compareVersions } from '../../managers/security-manager.js'
import { testHooksEnabled, PartitionControl } from '../../daemon/test-hooks.js'
import { FencingStore, LeaseBook, signLease, type ElectionEngine } from '../../protocols/election/index.js'
import type { Member } from '../../protocols/membership/types.js'
import type { HealthReport } from '../../protocols/health/index.js'

const logger = pino({ level: 'silent' })

function member (peerId: string, patch: Partial<Member> = {}): Member {
  return { peerId, state: 'alive', incarnation: 1, region: 'eu', roles: [], addrs: ['/ip4/127.0.0.1/tcp/1'], version: '0.1.0', lastSeen: Date.now(), ...patch }
}

function report (peerId: string, patch: Partial<HealthReport> = {}, stale = false) {
  const r: HealthReport = {
    v: 1, peerId, region: 'eu', issuedAt: Date.now(), uptimeSeconds: 10, version: '0.1.0', roles: [], load: [0.5, 0.5, 0.5], cpus: 2,
    memory: { rssBytes: 100, heapUsedBytes: 50, totalBytes: 1000, freeBytes: 500 }, diskFreeBytes: 10_000, checks: [], ...patch
  }
  return { report: r, receivedAt: Date.now(), stale }
}

describe('roles: framework', () => {
  it('starts a role on election and aborts it synchronously on demotion, with metrics', async () => {
    const election = new EventTarget() as unknown as ElectionEngine
    const registry = new Registry()
    const calls: string[] = []
    let signal: AbortSignal | undefined
    const role: Role = {
      name: 'network',
      onElected: (term, s) => { calls.push(`elected:${term}`); signal = s },
      onDemoted: () => { calls.push('demoted') }
    }
    const m = new RoleManager([role], election, rolesMetrics(registry), logger)
    m.start()
    const events: string[] = []
    m.addEventListener('role:activated', () => events.push('activated'))
    m.addEventListener('role:deactivated', () => events.push('deactivated'))
    election.dispatchEvent(new CustomEvent('role:elected', { detail: { region: 'eu', role: 'network', term: 3, lease: {} } }))
    await new Promise(resolve => setImmediate(resolve))
    assert.deepEqual(calls, ['elected:3'])
    assert.equal(m.isActive('network'), true)
    election.dispatchEvent(new CustomEvent('role:demoted', { detail: { region: 'eu', role: 'network', term: 3, reason: 'lease-lapsed' } }))
    // Aborted inside the dispatch: before the election releases or lets the lease lapse.
    assert.equal(signal?.aborted, true)
    await new Promise(resolve => setImmediate(resolve))
    assert.deepEqual(calls, ['elected:3', 'demoted'])
    assert.deepEqual(events, ['activated', 'deactivated'])
    const st = m.status()[0]
    assert.equal(st.active, false)
    assert.equal(st.activations, 1)
    assert.equal(st.lastHandoff?.reason, 'lease-lapsed')
    const text = await registry.metrics()
    assert.match(text, /mycel_roles_activations_total\{role="network"\} 1/)
    assert.match(text, /mycel_roles_handoffs_total\{role="network",reason="lease-lapsed"\} 1/)
    m.stop()
  })

  it('dutyLoop runs on its interval and never after the signal aborts', async () => {
    const clock = FakeTimers.install({ toFake: ['setTimeout', 'clearTimeout'] })
    try {
      const c = new AbortController()
      let runs = 0
      dutyLoop(c.signal, 1000, () => { runs++; if (runs === 2) throw new Error('boom') }, () => {})
      await clock.tickAsync(3500)
      assert.equal(runs, 4)
      c.abort()
      await clock.tickAsync(10_000)
      assert.equal(runs, 4)
    } finally {
      clock.uninstall()
    }
  })
})

describe('roles: fenced actions', () => {
  it('accepts only the token of the best known lease, rejects stale and unknown ones', async () => {
    const keyA = await generateKeyPair('Ed25519')
    const keyB = await generateKeyPair('Ed25519')
    const a = peerIdFromPrivateKey(keyA).toString()
    const b = peerIdFromPrivateKey(keyB).toString()
    const book = new LeaseBook()
    const fencing = new FencingStore()
    const actions = new FencedActions({ election: { book } as unknown as ElectionEngine, fencing, metrics: rolesMetrics(), logger, dispatch: () => {} } as any)
    const now = Date.now()
    assert.equal(actions.admit({ region: 'eu', role: 'network', term: 1, holder: a }), 'unknown_lease', 'no lease known at all')
    book.observe(await signLease({ v: 1, region: 'eu', role: 'network', holder: a, term: 1, issuedAt: now, expiresAt: now + 5000 }, keyA))
    assert.equal(actions.admit({ region: 'eu', role: 'network', term: 1, holder: a }), 'accepted')
    assert.equal(actions.admit({ region: 'eu', role: 'network', term: 5, holder: a }), 'unknown_lease', 'cannot raise the fence by actions alone')
    book.observe(await signLease({ v: 1, region: 'eu', role: 'network', holder: b, term: 2, issuedAt: now, expiresAt: now + 5000 }, keyB))
    fencing.check('eu', 'network', { term: 2, holder: b })
    assert.equal(actions.admit({ region: 'eu', role: 'network', term: 1, holder: a }), 'stale_term')
    assert.equal(actions.admit({ region: 'eu', role: 'network', term: 2, holder: b }), 'accepted')
  })
})

describe('roles: duties', () => {
  it('network manager: topology by state and connectivity, own region only', () => {
    const members = [member('a'), member('b', { state: 'suspect' }), member('c', { state: 'dead' }), member('d'), member('x', { region: 'us' })]
    const s = summarizeTopology('eu', members, id => id === 'a' || id === 'x', 7)
    assert.deepEqual(s.counts, { alive: 2, suspect: 1, dead: 1, left: 0, revoked: 0 })
    assert.equal(s.members.length, 4)
    assert.deepEqual(s.connectivity, { regionConnected: 1, regionAlive: 2, holderConnections: 7, crossRegionConnected: 1 })
  })

  it('monitoring manager: aggregates fresh reports, flags load outliers, exports only while holding', async () => {
    const reports = [...['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'].map(p => report(p, { load: [0.5, 0.5, 0.5] })), report('k', { load: [9, 9, 9], checks: [{ name: 'disk', ok: false }] }), report('old', {}, true), report('us1', { region: 'us' })]
    const s = summarizeRegion('eu', reports)
    assert.equal(s.reporting, 11)
    assert.equal(s.stale, 1)
    assert.equal(s.load1.max, 9)
    assert.deepEqual(s.loadOutliers.map(o => o.peerId), ['k'])
    assert.deepEqual(s.failedChecks, [{ peerId: 'k', check: 'disk', detail: undefined }])

    const registry = new Registry()
    const emitted: unknown[] = []
    const mm = new MonitoringManager({ region: 'eu', intervalMs: 1000, health: { reports: () => reports }, state: async (_r, _k, body) => { emitted.push(body); return true }, logger, metrics: rolesMetrics(registry), regionMetrics: regionMetrics(registry) })
    const c = new AbortController()
    mm.onElected(1, c.signal)
    await new Promise(resolve => setImmediate(resolve))
    assert.match(await registry.metrics(), /mycel_region_members_reporting\{region="eu"\} 11/)
    assert.equal(emitted.length, 1)
    c.abort()
    mm.onDemoted()
    assert.doesNotMatch(await registry.metrics(), /mycel_region_members_reporting\{/)
  })

  it('configuration manager: re-validates region namespaces and reports violations', () => {
    const data: Record<string, Array<[string, { value: unknown, writer?: string }]>> = {
      eu: [['mtu', { value: 1500, writer: 'w1' }], ['bad', { value: 'x'.repeat(50), writer: 'w2' }]],
      'eu.dns': [['a', { value: 1, writer: 'revoked' }]],
      us: [['mtu', { value: 'nonsense' }]]
    }
    const source: RegionConfigSource = {
      namespaces: () => Object.keys(data),
      entries: ns => data[ns] ?? [],
      checkValue: (_ns, _k, v) => { if (typeof v === 'string' && v.length > 10) throw Object.assign(new Error('value too large'), { name: 'LimitExceededError' }) },
      maxKeys: ns => ns === 'eu' ? 1 : 100,
      canWrite: (_ns, w) => w !== 'revoked'
    }
    const r = validateRegionConfig('eu', source)
    assert.equal(r.source, 'store')
    assert.equal(r.namespaces, 2)
    assert.deepEqual(r.violations.map(v => v.reason).sort(), ['LimitExceededError', 'too_many_keys', 'writer_not_allowed'])
    assert.equal(validateRegionConfig('eu', undefined).source, 'unavailable')
    assert.ok(isRegionNamespace('eu', 'eu.x') && !isRegionNamespace('eu', 'europe'))
  })

  it('security manager: outdated versions, non-admitted and invalid keys, unaudited members', async () => {
    const ids = await Promise.all([0, 1, 2, 3].map(async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()))
    const members = [member(ids[0]), member(ids[1], { version: '0.2.0' }), member(ids[2]), member(ids[3], { state: 'dead', version: '0.0.1' }), member('not-a-peer-id')]
    const reports = [report(ids[0], { version: '0.1.0' }), report(ids[1], { version: '0.10.0' })]
    const f = auditRegion('eu', members, reports, { admitted: id => id !== ids[2] })
    assert.equal(f.newestVersion, '0.10.0')
    assert.deepEqual(f.outdated.map(o => o.peerId).sort(), [ids[0], ids[2], 'not-a-peer-id'].sort())
    assert.deepEqual(f.notAdmitted, [ids[2]])
    assert.deepEqual(f.invalidKeys, ['not-a-peer-id'])
    assert.deepEqual(f.unaudited.sort(), [ids[2], 'not-a-peer-id'].sort())
    assert.equal(auditRegion('eu', members, reports).admission, 'no-policy')
    assert.ok(compareVersions('1.10.0', '1.9.3') > 0 && compareVersions('1.0.0-rc1', '1.0.0') < 0 && compareVersions('v2', '2.0.0') === 0)
  })

  it('test hooks exist only with the test profile and MYCEL_TEST_HOOKS=1', () => {
    assert.equal(testHooksEnabled('test', { MYCEL_TEST_HOOKS: '1' }), true)
    assert.equal(testHooksEnabled('lan', { MYCEL_TEST_HOOKS: '1' }), false)
    assert.equal(testHooksEnabled('test', {}), false)
    const p = new PartitionControl()
    assert.equal(p.denies({ toString: () => 'x' } as any), false)
  })
})
