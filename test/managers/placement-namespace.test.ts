/**
 * The built-in namespace `mycel.placements` (managers/placement-namespace.ts):
 * keys `<region>/<deployment>/<term>`, the rule that a value is a record of
 * the deployment and term its key names (writer and receiver), and the
 * reader's choice of the highest term per (region, deployment), whatever
 * the order of the entries (fast-check).
 */
import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import {
  checkPlacementEntry, currentPlacements, parsePlacementKey, placementKey, PLACEMENTS_NAMESPACE as NS
} from '../../managers/placement-namespace.js'
import { makeReplica } from '../crdt/fixtures.js'
import { PROPERTY_RUNS } from '../helpers/wire-evolution.js'

const rec = (deployment: string, term: number, nodes: string[] = []): { deployment: string, term: number, assignments: Array<{ node: string, since: number }> } =>
  ({ deployment, term, assignments: nodes.map(node => ({ node, since: 1 })) })

describe('mycel.placements keys and rule', () => {
  it('a key names region, deployment and a canonical term', () => {
    assert.equal(placementKey('eu', 'web', 7), 'eu/web/7')
    assert.deepEqual(parsePlacementKey('eu/web/7'), { region: 'eu', deployment: 'web', term: 7 })
    assert.deepEqual(parsePlacementKey('eu.west-1/a-b/0'), { region: 'eu.west-1', deployment: 'a-b', term: 0 })
    for (const bad of ['eu/web', 'eu/web/7/8', 'EU/web/7', 'eu/Web/7', 'eu/web/07', 'eu/web/-1', 'eu/web/1.5', 'eu/web/', 'eu/web/99999999999999999', '/web/1']) {
      assert.throws(() => parsePlacementKey(bad), { name: 'InvalidPlacementRecordError' }, bad)
    }
  })

  it('the value must be a record of the key\'s deployment and term', () => {
    checkPlacementEntry('eu/web/3', rec('web', 3, ['a']))
    assert.throws(() => checkPlacementEntry('eu/web/3', rec('api', 3)), /deployment: "api" stored under key "eu\/web\/3"/)
    assert.throws(() => checkPlacementEntry('eu/web/3', rec('web', 4)), /term: 4 stored under key/)
    assert.throws(() => checkPlacementEntry('eu/web/3', { deployment: 'web', term: 3 }), { name: 'InvalidPlacementRecordError' })
    assert.throws(() => checkPlacementEntry('nope', rec('web', 3)), { name: 'InvalidPlacementRecordError' })
  })

  it('the writer refuses a mismatched record; a receiver without it does not show it and counts it', async () => {
    const builtins = { [NS]: checkPlacementEntry }
    const ruled = await makeReplica(1, { builtins })
    const unruled = await makeReplica(2)
    const receiver = await makeReplica(3, { builtins })
    await assert.rejects(ruled.replica.write(NS, 'eu/web/3', rec('web', 9)), { name: 'SchemaViolationError', status: 422 })
    const ok = await ruled.replica.write(NS, 'eu/web/3', rec('web', 3, ['a']))
    assert.equal((await receiver.replica.ingest(ok!.bytes, 'gossip')).result, 'applied')
    const bad = await unruled.replica.write(NS, 'eu/web/4', rec('web', 9, ['b']))
    await receiver.replica.ingest(bad!.bytes, 'gossip')
    assert.equal(receiver.counters.invalid, 1)
    assert.equal(receiver.replica.get(NS, 'eu/web/4'), undefined)
    assert.deepEqual(currentPlacements(receiver.replica.entries(NS)).byDeployment.get('eu/web')?.record, rec('web', 3, ['a']))
  })
})

describe('currentPlacements: the highest term decides', () => {
  it('per (region, deployment), with older keys listed for deletion and bad entries counted', () => {
    const r = currentPlacements([
      ['eu/web/2', { value: rec('web', 2, ['a']), writer: 'w2' }],
      ['eu/web/5', { value: rec('web', 5, ['b']), writer: 'w5' }],
      ['eu/web/3', { value: rec('web', 3, ['c']) }],
      ['us/web/1', { value: rec('web', 1, ['d']) }],
      ['eu/api/1', { value: rec('api', 1, ['e']) }],
      ['eu/web/9', { value: rec('web', 8, ['x']) }], // mismatched term: skipped
      ['eu/web/x', { value: rec('web', 1) }],
      ['eu/web/10', { value: 'garbage' }]
    ])
    assert.equal(r.invalid, 3)
    const eu = r.byDeployment.get('eu/web')
    assert.equal(eu?.key, 'eu/web/5')
    assert.equal(eu?.writer, 'w5')
    assert.deepEqual(eu?.record.assignments.map(a => a.node), ['b'])
    assert.deepEqual(eu?.older, ['eu/web/2', 'eu/web/3'])
    assert.equal(r.byDeployment.get('us/web')?.record.term, 1)
    assert.equal(r.byDeployment.get('eu/api')?.record.term, 1)
    assert.equal(r.byDeployment.size, 3)
  })

  it('does not depend on the order of the entries (fast-check)', () => {
    const entry = fc.tuple(fc.constantFrom('eu', 'us'), fc.constantFrom('web', 'api'), fc.nat(6), fc.constantFrom('a', 'b', 'c'))
      .map(([region, d, term, node]) => [placementKey(region, d, term), { value: rec(d, term, [node]) }] as const)
    fc.assert(fc.property(fc.uniqueArray(entry, { selector: e => e[0], maxLength: 20 }).chain(es => fc.tuple(fc.constant(es), fc.shuffledSubarray(es, { minLength: es.length, maxLength: es.length }))), ([es, shuffled]) => {
      const a = currentPlacements(es)
      const b = currentPlacements(shuffled)
      assert.deepEqual([...a.byDeployment].sort(), [...b.byDeployment].sort())
      for (const cur of a.byDeployment.values()) {
        // The winner is the maximum term among the slot's keys, and every other key of the slot is listed as older.
        const terms = es.filter(([k]) => k.startsWith(`${cur.region}/${cur.deployment}/`)).map(([k]) => parsePlacementKey(k).term)
        assert.equal(cur.record.term, Math.max(...terms))
        assert.equal(cur.older.length, terms.length - 1)
      }
    }), { numRuns: PROPERTY_RUNS })
  })
})
