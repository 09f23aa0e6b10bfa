/**
 * The network manager's placement duty (managers/placement-duty.ts) with
 * fakes for membership, health reports and replicated config (the fake
 * store applies the namespace's built-in rule, as the real one does), on a
 * virtual clock: the first round places `count` instances on the freest
 * reported nodes; a dead node's instance moves, within the kick delay of
 * the death; a stale term cannot win (it writes nothing once it sees the
 * newer record, and what it wrote before is ignored); a new holder
 * continues from the last record, writing its own key before deleting the
 * older ones; undeploy deletes the records; a member without a report
 * gets nothing new but keeps what it has.
 */
import { strict as assert } from 'node:assert'
import FakeTimers from '@sinonjs/fake-timers'
import pino from 'pino'
import { Registry } from 'prom-client'
import { KICK_DELAY_MS, PlacementDuty, type PlacementConfig } from '../../managers/placement-duty.js'
import { placementMetrics } from '../../managers/metrics.js'
import { DEPLOYMENTS_NAMESPACE } from '../../managers/deployment.js'
import { checkPlacementEntry, currentPlacements, PLACEMENTS_NAMESPACE as NS } from '../../managers/placement-namespace.js'
import type { Member, MemberState } from '../../protocols/membership/types.js'
import type { HealthReport } from '../../protocols/health/index.js'

const logger = pino({ level: 'silent' })
const REGION = 'eu'
const [A, B, C, D] = ['12D3KooWa', '12D3KooWb', '12D3KooWc', '12D3KooWd']

/** Replicated config as the duty sees it; every write passes the built-in rule and is logged in order. */
class FakeConfig implements PlacementConfig {
  readonly data = new Map<string, Map<string, { value: unknown, writer?: string }>>()
  readonly ops: string[] = []
  readonly synced: string[] = []
  private readonly listeners = new Set<(e: { ns: string }) => void>()
  constructor (readonly self = 'holder') {}
  entries (ns: string): Array<[string, { value: unknown, writer?: string }]> { return [...(this.data.get(ns) ?? new Map())].sort(([a], [b]) => a < b ? -1 : 1) }
  async write (ns: string, key: string, value: unknown, opts: { deleted?: boolean } = {}): Promise<unknown> {
    const m = this.data.get(ns) ?? new Map()
    this.data.set(ns, m)
    if (opts.deleted === true) {
      if (!m.delete(key)) return undefined
      this.ops.push(`delete ${key}`)
    } else {
      if (ns === NS) checkPlacementEntry(key, value)
      m.set(key, { value, writer: this.self })
      this.ops.push(`write ${key}`)
    }
    for (const l of this.listeners) l({ ns })
    return {}
  }

  onChange (l: (e: { ns: string }) => void): () => void { this.listeners.add(l); return () => { this.listeners.delete(l) } }
  async syncWith (peer: string): Promise<void> { this.synced.push(peer) }
  deploy (name: string, d: Record<string, unknown>): void { void this.write(DEPLOYMENTS_NAMESPACE, name, { name, version: '1.0.0', ...d }) }
  inForce (name: string): { term: number, nodes: string[] } | undefined {
    const r = currentPlacements(this.entries(NS)).byDeployment.get(`${REGION}/${name}`)?.record
    return r === undefined ? undefined : { term: r.term, nodes: r.assignments.map(a => a.node) }
  }
}

class FakeMembership extends EventTarget {
  readonly list: Member[]
  constructor (ids: string[]) {
    super()
    this.list = ids.map(peerId => ({ peerId, state: 'alive', incarnation: 0, region: REGION, roles: [], addrs: [], version: '0.1.0', lastSeen: 0 }))
  }

  self (): Member { return this.list[0] }
  members (): Member[] { return this.list.map(m => ({ ...m })) }
  set (peerId: string, state: MemberState): void {
    const m = this.list.find(x => x.peerId === peerId)!
    m.state = state
    this.dispatchEvent(new CustomEvent(`member:${state}`, { detail: { ...m } }))
  }
}

function report (peerId: string, freeGb: number, extra: Partial<HealthReport> = {}): HealthReport {
  return {
    v: 1, peerId, region: REGION, issuedAt: 1, uptimeSeconds: 1, version: '0.1.0', roles: [], load: [0, 0, 0], cpus: 4,
    memory: { rssBytes: 1, heapUsedBytes: 1, totalBytes: 16e9, freeBytes: freeGb * 1e9 }, diskFreeBytes: 1e11, checks: [], ...extra
  }
}

function setup (ids = [A, B, C, D], free: Record<string, number> = { [A]: 8, [B]: 6, [C]: 4, [D]: 2 }): { config: FakeConfig, membership: FakeMembership, reports: Map<string, HealthReport>, duty: PlacementDuty, metrics: ReturnType<typeof placementMetrics>, registry: Registry } {
  const config = new FakeConfig()
  const membership = new FakeMembership(ids)
  const reports = new Map(ids.filter(id => free[id] !== undefined).map(id => [id, report(id, free[id])]))
  const registry = new Registry()
  const metrics = placementMetrics(registry)
  const duty = new PlacementDuty({ region: REGION, config: () => config, membership, health: { reports: () => [...reports.values()].map(r => ({ report: r })) }, logger, metrics })
  return { config, membership, reports, duty, metrics, registry }
}

describe('placement duty', () => {
  it('places count instances on the freest reported alive nodes, under its term\'s key, and counts the decisions', async () => {
    const { config, duty, registry } = setup()
    config.deploy('web', { count: 2 })
    config.deploy('sys', {}) // a system deployment needs no record
    config.deploy('elsewhere', { count: 1, regions: ['us'] })
    const r = await duty.round(3)
    assert.deepEqual(r.written, ['web'])
    assert.deepEqual(config.inForce('web'), { term: 3, nodes: [A, B] })
    assert.deepEqual(config.ops.filter(o => o.includes('/')), ['write eu/web/3'])
    assert.equal(config.inForce('sys'), undefined)
    assert.match(await registry.metrics(), /mycel_placement_decisions_total\{action="start",reason="count"\} 2/)
    // Nothing changed: no write.
    const again = await duty.round(3)
    assert.deepEqual(again.written, [])
  })

  it('a member without a report gets no new instance, but keeps the one it has', async () => {
    const { config, reports, duty, registry } = setup()
    reports.delete(A)
    config.deploy('web', { count: 2, constraints: { disk: 'ssd' } })
    for (const id of [B, C, D]) reports.set(id, { ...reports.get(id)!, labels: { disk: 'ssd' } })
    await duty.round(1)
    assert.deepEqual(config.inForce('web')?.nodes, [B, C])
    // A new holder that has heard nothing from B and C yet moves nothing.
    reports.delete(B)
    reports.delete(C)
    const r = await duty.round(2)
    assert.deepEqual(config.inForce('web'), { term: 2, nodes: [B, C] })
    assert.deepEqual(r.placements.web.stop, [])
    assert.match(await registry.metrics(), /mycel_placement_unplaced\{deployment="web"\} 0/)
  })

  it('a dead node\'s instance moves to another alive node soon after the death, not a period later', async () => {
    const clock = FakeTimers.install({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    try {
      const { config, membership, duty, registry } = setup()
      config.deploy('web', { count: 2 })
      const ctl = new AbortController()
      const errors: unknown[] = []
      duty.run(4, ctl.signal, 60_000, (err) => { errors.push(err) })
      await clock.tickAsync(10)
      assert.deepEqual(config.inForce('web'), { term: 4, nodes: [A, B] })
      // Pulled from two live members other than itself before deciding.
      assert.equal(new Set(config.synced).size, 2)
      assert.ok(config.synced.every(id => [B, C, D].includes(id)))
      membership.set(B, 'dead')
      await clock.tickAsync(KICK_DELAY_MS + 10)
      assert.deepEqual(config.inForce('web'), { term: 4, nodes: [A, C] })
      const m = await registry.metrics()
      assert.match(m, /mycel_placement_decisions_total\{action="stop",reason="node-dead"\} 1/)
      assert.match(m, /mycel_placement_decisions_total\{action="start",reason="count"\} 3/)
      // A deployment change is picked up within the kick delay as well.
      config.deploy('api', { count: 1 })
      await clock.tickAsync(KICK_DELAY_MS + 10)
      assert.deepEqual(config.inForce('api'), { term: 4, nodes: [A] })
      // Demoted: no more rounds, and the holder-only gauge is gone.
      ctl.abort()
      const ops = config.ops.length
      membership.set(C, 'dead')
      await clock.tickAsync(120_000)
      assert.equal(config.ops.length, ops)
      assert.doesNotMatch(await registry.metrics(), /mycel_placement_unplaced\{/)
      assert.deepEqual(errors, [])
    } finally {
      clock.uninstall()
    }
  })

  it('a stale term cannot win: it writes nothing over a newer record, and its earlier write is ignored', async () => {
    const { config, duty, registry } = setup()
    config.deploy('web', { count: 1 })
    // The old holder (term 4) wrote first, then the new one (term 5) decided otherwise.
    await duty.round(4)
    assert.deepEqual(config.inForce('web'), { term: 4, nodes: [A] })
    await config.write(NS, 'eu/web/5', { deployment: 'web', term: 5, assignments: [{ node: C, since: 1 }] })
    const r = await duty.round(4)
    assert.deepEqual(r, { written: [], deleted: [], superseded: ['web'], placements: {}, failed: [] })
    assert.deepEqual(config.inForce('web'), { term: 5, nodes: [C] })
    assert.match(await registry.metrics(), /mycel_placement_superseded_total 1/)
    // A stale holder that has not seen term 5 yet (its own store) writes under 4: readers still take 5.
    const late = new FakeConfig()
    late.data.set(NS, new Map([['eu/web/4', { value: { deployment: 'web', term: 4, assignments: [{ node: D, since: 9 }] } }], ...config.data.get(NS)!]))
    assert.deepEqual(late.inForce('web'), { term: 5, nodes: [C] })
    // It cannot write a newer term's key with its own record either: the rule ties key and value.
    await assert.rejects(config.write(NS, 'eu/web/6', { deployment: 'web', term: 4, assignments: [] }), { name: 'InvalidPlacementRecordError' })
  })

  it('a new holder continues from the record in force: same instances, own key written before the older ones are deleted', async () => {
    const { config, duty, reports } = setup()
    config.deploy('web', { count: 2 })
    await config.write(NS, 'eu/web/2', { deployment: 'web', term: 2, assignments: [{ node: C, since: 5 }] })
    await config.write(NS, 'eu/web/5', { deployment: 'web', term: 5, assignments: [{ node: C, since: 5 }, { node: D, since: 6 }] })
    // D is now the freest: a fresh placement would pick A and B, continuing keeps C and D.
    reports.set(D, report(D, 20))
    config.ops.length = 0
    const r = await duty.round(7)
    assert.deepEqual(config.inForce('web'), { term: 7, nodes: [C, D] })
    assert.deepEqual(r.placements.web.start, [])
    assert.deepEqual(config.ops, ['write eu/web/7', 'delete eu/web/2', 'delete eu/web/5'])
    assert.deepEqual(config.entries(NS).map(([k]) => k), ['eu/web/7'])
  })

  it('undeploy deletes the deployment\'s records, all terms up to the holder\'s, and leaves other regions alone', async () => {
    const { config, duty } = setup()
    config.deploy('web', { count: 1 })
    await duty.round(3)
    await config.write(NS, 'eu/web/1', { deployment: 'web', term: 1, assignments: [] })
    await config.write(NS, 'us/web/9', { deployment: 'web', term: 9, assignments: [] })
    await config.write(DEPLOYMENTS_NAMESPACE, 'web', undefined, { deleted: true })
    const r = await duty.round(3)
    assert.deepEqual(r.deleted.sort(), ['eu/web/1', 'eu/web/3'])
    assert.deepEqual(config.entries(NS).map(([k]) => k), ['us/web/9'])
    // A record of a newer term than ours is the newer holder's to delete.
    await config.write(NS, 'eu/web/8', { deployment: 'web', term: 8, assignments: [] })
    assert.deepEqual((await duty.round(3)).deleted, [])
  })

  it('places nothing without replicated config; a deployment whose write fails does not stop the others', async () => {
    const membership = new FakeMembership([A])
    const metrics = placementMetrics()
    const none = new PlacementDuty({ region: REGION, config: () => undefined, membership, health: { reports: () => [] }, logger, metrics })
    assert.deepEqual(await none.round(1), { written: [], deleted: [], superseded: [], placements: {}, failed: [] })
    const config = new FakeConfig()
    config.deploy('api', { count: 1 })
    config.deploy('big', { count: 1 })
    config.deploy('web', { count: 1 })
    // The store refuses one deployment's record (say, over the value size limit); the others are placed.
    const write = config.write.bind(config)
    config.write = async (ns, key, value, opts) => { if (key.includes('/big/')) throw new Error('value of 70000 bytes exceeds 65536'); return await write(ns, key, value, opts) }
    const failing = new PlacementDuty({ region: REGION, config: () => config, membership, health: { reports: () => [{ report: report(A, 1) }] }, logger, metrics })
    const r = await failing.round(1)
    assert.deepEqual(r.written, ['api', 'web'])
    assert.deepEqual(r.failed.map(f => [f.deployment, (f.err as Error).name, (f.err as Error).message]), [['big', 'PlacementFailedError', 'placement of big failed: value of 70000 bytes exceeds 65536']])
    // run() reports each failure as a duty error and goes on.
    const clock = FakeTimers.install({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    try {
      const errors: unknown[] = []
      const ctl = new AbortController()
      failing.run(2, ctl.signal, 1_000, (err) => { errors.push(err) })
      await clock.tickAsync(2_500)
      ctl.abort()
      assert.ok(errors.length >= 2, `one error per round: ${errors.length}`)
      assert.ok(errors.every(e => (e as Error).name === 'PlacementFailedError'))
      assert.deepEqual(config.inForce('web'), { term: 2, nodes: [A] })
    } finally {
      clock.uninstall()
    }
  })
})
