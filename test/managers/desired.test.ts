/**
 * What a node should run (managers/desired.ts), over generated nodes,
 * deployments and placement records (fast-check): a system deployment is
 * desired exactly on the nodes of its regions whose labels meet its
 * constraints; a counted one exactly where the highest-term record of the
 * node's region assigns the node; a stale term never decides; the order of
 * the entries does not matter; garbage is skipped and counted, never thrown.
 * Plus the source the agent hands the component host. MYCEL_PROPERTY_RUNS=n
 * runs n cases per property.
 */
import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import { Registry } from 'prom-client'
import { desiredReleases, desiredSource, type DesiredNode } from '../../managers/desired.js'
import { DEPLOYMENTS_NAMESPACE, parseDeployment } from '../../managers/deployment.js'
import { placementKey, PLACEMENTS_NAMESPACE } from '../../managers/placement-namespace.js'
import { PROPERTY_RUNS } from '../helpers/wire-evolution.js'

const IDS = ['12D3KooWa', '12D3KooWb', '12D3KooWc', '12D3KooWd']
const REGIONS = ['eu', 'us']
const NAMES = ['web', 'api', 'db']

const labels = fc.record({ zone: fc.constantFrom('a', 'b'), disk: fc.constantFrom('ssd', 'hdd') }, { requiredKeys: [] })
const node: fc.Arbitrary<DesiredNode> = fc.record({ peerId: fc.constantFrom(...IDS), region: fc.constantFrom(...REGIONS), labels })

const deployment = (name: string): fc.Arbitrary<Record<string, unknown>> => fc.record({
  name: fc.constant(name),
  version: fc.constantFrom('1.0.0', '2.0.0'),
  regions: fc.subarray(REGIONS, { minLength: 1 }),
  count: fc.integer({ min: 1, max: 3 }),
  constraints: fc.record({ zone: fc.constantFrom('a', 'b'), disk: fc.constantFrom('ssd', 'hdd') }, { requiredKeys: [] })
}, { requiredKeys: ['name', 'version'] })

type Entry = readonly [string, { value: unknown }]
const deployments: fc.Arbitrary<Entry[]> = fc.subarray(NAMES).chain(ns => fc.tuple(...ns.map(deployment)))
  .map(ds => ds.map(d => [d.name as string, { value: d }] as const))

const record: fc.Arbitrary<Entry> = fc.tuple(fc.constantFrom(...REGIONS), fc.constantFrom(...NAMES), fc.nat(5), fc.subarray(IDS))
  .map(([region, name, term, nodes]) => [placementKey(region, name, term), { value: { deployment: name, term, assignments: nodes.map(n => ({ node: n, since: 1 })) } }] as const)
const records: fc.Arbitrary<Entry[]> = fc.uniqueArray(record, { selector: e => e[0], maxLength: 12 })

/** The model: the rules of desired.ts written the long way. */
function model (n: DesiredNode, ds: Entry[], rs: Entry[]): string[] {
  const out: string[] = []
  for (const [, { value }] of ds) {
    const d = parseDeployment(value)
    if (d.regions !== undefined && !d.regions.includes(n.region)) continue
    if (!Object.entries(d.constraints ?? {}).every(([k, v]) => n.labels[k] === v)) continue
    if (d.count !== undefined) {
      const mine = rs.filter(([k]) => k.startsWith(`${n.region}/${d.name}/`)).map(([, { value }]) => value as { term: number, assignments: Array<{ node: string }> })
      // Not placed yet: kept where it runs, started nowhere.
      if (mine.length === 0) { out.push(`${d.name}@${d.version} keep`); continue }
      const top = mine.reduce((a, b) => b.term > a.term ? b : a)
      if (!top.assignments.some(a => a.node === n.peerId)) continue
    }
    out.push(`${d.name}@${d.version}`)
  }
  return out.sort()
}

const shuffled = <T>(xs: T[]): fc.Arbitrary<T[]> => fc.shuffledSubarray(xs, { minLength: xs.length, maxLength: xs.length })

describe('desired releases (fast-check)', () => {
  it('equal the model: system deployments on eligible nodes, counted ones where the highest term assigns', () => {
    fc.assert(fc.property(node, deployments, records, (n, ds, rs) => {
      const r = desiredReleases(n, ds, rs)
      assert.deepEqual(r.releases.map(x => `${x.name}@${x.version}${x.keepOnly === true ? ' keep' : ''}`), model(n, ds, rs))
      assert.equal(r.invalidDeployments, 0)
      assert.equal(r.invalidPlacements, 0)
    }), { numRuns: PROPERTY_RUNS })
  })

  it('a system deployment is desired exactly on the nodes of its regions that meet its constraints', () => {
    fc.assert(fc.property(deployment('web').map(d => { const { count: _, ...rest } = d; return rest }), fc.array(node, { maxLength: 8 }), (d, ns) => {
      const parsed = parseDeployment(d)
      for (const n of ns) {
        const eligible = (parsed.regions?.includes(n.region) ?? true) && Object.entries(parsed.constraints ?? {}).every(([k, v]) => n.labels[k] === v)
        assert.equal(desiredReleases(n, [['web', { value: d }]], []).releases.length, eligible ? 1 : 0)
      }
    }), { numRuns: PROPERTY_RUNS })
  })

  it('a stale term never decides: adding an older record changes nothing', () => {
    fc.assert(fc.property(node, deployments, records, fc.subarray(IDS), (n, ds, rs, nodes) => {
      const before = desiredReleases(n, ds, rs).releases
      // For every (region, deployment) that has a record, an extra one below its lowest term (when there is room).
      const extra: Entry[] = []
      for (const [k, { value }] of rs) {
        const { deployment: name, term } = value as { deployment: string, term: number }
        const region = k.split('/')[0]
        const lowest = Math.min(...rs.filter(([k2]) => k2.startsWith(`${region}/${name}/`)).map(([, v]) => (v.value as { term: number }).term))
        if (term === lowest && lowest > 0) extra.push([placementKey(region, name, lowest - 1), { value: { deployment: name, term: lowest - 1, assignments: nodes.map(x => ({ node: x, since: 1 })) } }])
      }
      assert.deepEqual(desiredReleases(n, ds, [...rs, ...extra]).releases, before)
    }), { numRuns: PROPERTY_RUNS })
  })

  it('the order of the entries does not matter', () => {
    fc.assert(fc.property(node, deployments.chain(ds => fc.tuple(fc.constant(ds), shuffled(ds))), records.chain(rs => fc.tuple(fc.constant(rs), shuffled(rs))),
      (n, [ds, ds2], [rs, rs2]) => {
        assert.deepEqual(desiredReleases(n, ds2, rs2), desiredReleases(n, ds, rs))
      }), { numRuns: PROPERTY_RUNS })
  })

  it('garbage is skipped and counted, never thrown, and does not hide valid entries', () => {
    const junk = fc.oneof(fc.anything(), fc.constant({ name: 'web', version: 'latest' }), fc.constant({ deployment: 'web', term: 1 }))
    fc.assert(fc.property(node, deployments, records, fc.array(junk, { maxLength: 4 }), fc.array(junk, { maxLength: 4 }), (n, ds, rs, dj, pj) => {
      const badDs: Entry[] = dj.map((value, i) => [`junk-${i}`, { value }])
      const badRs: Entry[] = pj.map((value, i) => [`eu/junk${i}/1`, { value }])
      const r = desiredReleases(n, [...ds, ...badDs], [...rs, ...badRs])
      assert.deepEqual(r.releases.map(x => `${x.name}@${x.version}${x.keepOnly === true ? ' keep' : ''}`), model(n, ds, rs))
      assert.equal(r.invalidDeployments, badDs.length)
      assert.equal(r.invalidPlacements, badRs.length)
    }), { numRuns: PROPERTY_RUNS })
  })

  it('a deployment stored under another name is skipped', () => {
    const r = desiredReleases({ peerId: 'a', region: 'eu', labels: {} }, [['api', { value: { name: 'web', version: '1.0.0' } }]], [])
    assert.deepEqual(r, { releases: [], invalidDeployments: 1, invalidPlacements: 0, invalidRollouts: 0, invalidProgress: 0 })
  })
})

describe('desiredSource', () => {
  it('reads the two namespaces, calls back on their changes only, and exports what it skipped', async () => {
    const store = new Map<string, Array<[string, { value: unknown }]>>([
      [DEPLOYMENTS_NAMESPACE, [['web', { value: { name: 'web', version: '1.0.0', count: 1 } }], ['sys', { value: { name: 'sys', version: '2.0.0' } }], ['bad', { value: 1 }]]],
      [PLACEMENTS_NAMESPACE, [['eu/web/3', { value: { deployment: 'web', term: 3, assignments: [{ node: 'me', since: 1 }] } }]]]
    ])
    const listeners = new Set<(e: { ns: string }) => void>()
    const config = {
      entries: (ns: string) => store.get(ns) ?? [],
      onChange: (l: (e: { ns: string }) => void) => { listeners.add(l); return () => { listeners.delete(l) } }
    }
    const registry = new Registry()
    let running = true
    const src = desiredSource({ node: { peerId: 'me', region: 'eu', labels: {} }, config: () => running ? config : undefined, registry })
    assert.deepEqual(src.desired(), [{ name: 'sys', version: '2.0.0' }, { name: 'web', version: '1.0.0' }])
    assert.match(await registry.metrics(), /mycel_desired_invalid_records\{namespace="mycel.deployments"\} 1/)
    let calls = 0
    const off = src.onChange(() => { calls++ })
    for (const l of listeners) { l({ ns: 'app' }); l({ ns: PLACEMENTS_NAMESPACE }); l({ ns: DEPLOYMENTS_NAMESPACE }) }
    assert.equal(calls, 2)
    off()
    assert.equal(listeners.size, 0)
    running = false
    assert.equal(src.desired(), undefined, 'unknown, not empty: the host stops nothing on a config fault')
  })
})
