/**
 * Placement, hand cases: system vs count, constraints, a dead node's
 * instance moves, a failed instance moves, a busy node keeps its instance,
 * too few nodes leaves instances unplaced; and the deployment schema and
 * the placement record around it. The generated cases are in
 * placement-properties.test.ts.
 */
import { strict as assert } from 'node:assert'
import { parseDeployment, type Deployment } from '../../managers/deployment.js'
import { place, type NodeFacts } from '../../managers/placement.js'
import { nextPlacementRecord, parsePlacementRecord } from '../../managers/placement-record.js'

const GB = 1024 ** 3

/** An alive, idle node with 4 GB free memory and 100 GB free disk, unless overridden. */
function node (peerId: string, over: Partial<NodeFacts> = {}): NodeFacts {
  return { peerId, region: 'eu', state: 'alive', freeMemoryBytes: 4 * GB, diskFreeBytes: 100 * GB, load: 0, cpus: 4, labels: {}, components: [], ...over }
}

const web = (over: Partial<Deployment> = {}): Deployment => parseDeployment({ name: 'web', version: '1.0.0', ...over })
const nodesOf = (a: Array<{ node: string }>): string[] => a.map(x => x.node)

describe('placement', () => {
  it('a system component goes to every alive eligible node, not to suspect or dead ones', () => {
    const nodes = [node('c'), node('a'), node('b', { state: 'suspect' }), node('d', { state: 'dead' })]
    const p = place(web(), nodes, [], 1000)
    assert.deepEqual(p.assignments, [{ node: 'a', since: 1000 }, { node: 'c', since: 1000 }])
    assert.deepEqual(p.start, [{ node: 'a', reason: 'system' }, { node: 'c', reason: 'system' }])
    assert.deepEqual(p.stop, [])
    assert.equal(p.unplaced, 0)
  })

  it('a counted deployment takes the nodes with the most free resources, ties by peer id', () => {
    const nodes = [
      node('a', { freeMemoryBytes: 1 * GB }),
      node('b', { load: 4 }), // no idle CPU
      node('c'),
      node('d'),
      node('e', { diskFreeBytes: 50 * GB }) // 2.5 against a's 2.25
    ]
    const p = place(web({ count: 2 }), nodes, [], 5)
    assert.deepEqual(nodesOf(p.assignments), ['c', 'd'])
    assert.deepEqual(p.start, [{ node: 'c', reason: 'count' }, { node: 'd', reason: 'count' }])
    assert.deepEqual(nodesOf(place(web({ count: 3 }), nodes, [], 5).assignments), ['c', 'd', 'e'])
    // c and d tie: the lower peer id wins, whatever the order of the input.
    assert.deepEqual(nodesOf(place(web({ count: 1 }), [...nodes].reverse(), [], 5).assignments), ['c'])
  })

  it('only nodes that carry every constraint label are eligible; an instance on a node that lost the label stops', () => {
    const nodes = [node('a', { labels: { disk: 'ssd', zone: 'x' } }), node('b', { labels: { disk: 'ssd' } }), node('c', { labels: { disk: 'hdd', zone: 'x' } }), node('d')]
    const d = web({ constraints: { disk: 'ssd', zone: 'x' } })
    assert.deepEqual(nodesOf(place(d, nodes, [], 0).assignments), ['a'])
    const p = place(web({ count: 1, constraints: { disk: 'ssd' } }), nodes.map(n => n.peerId === 'a' ? { ...n, labels: {} } : n), [{ node: 'a', since: 1 }], 9)
    assert.deepEqual(p.stop, [{ node: 'a', reason: 'ineligible' }])
    assert.deepEqual(p.start, [{ node: 'b', reason: 'count', replaces: 'a' }])
    // Inherited properties are not labels.
    assert.deepEqual(place(web({ constraints: { constructor: 'x' } }), [node('a')], [], 0).assignments, [])
  })

  it('a node outside the deployment regions is not eligible', () => {
    const nodes = [node('a'), node('b', { region: 'us' })]
    assert.deepEqual(nodesOf(place(web({ regions: ['us'] }), nodes, [], 0).assignments), ['b'])
  })

  it('moves the instance off a dead node, and off a node that is gone from the list', () => {
    const current = [{ node: 'a', since: 1 }, { node: 'b', since: 2 }, { node: 'x', since: 3 }]
    const nodes = [node('a', { state: 'dead' }), node('b'), node('c'), node('d', { freeMemoryBytes: GB })]
    const p = place(web({ count: 3 }), nodes, current, 50)
    assert.deepEqual(p.assignments, [{ node: 'b', since: 2 }, { node: 'c', since: 50 }, { node: 'd', since: 50 }])
    assert.deepEqual(p.stop, [{ node: 'a', reason: 'node-dead' }, { node: 'x', reason: 'node-gone' }])
    assert.deepEqual(p.start, [{ node: 'c', reason: 'count', replaces: 'a' }, { node: 'd', reason: 'count', replaces: 'x' }])
  })

  it('moves a failed instance elsewhere and does not place it back on the node that failed it', () => {
    const failed = { name: 'web', version: '1.0.0', state: 'failed' as const }
    const nodes = [node('a', { components: [failed] }), node('b', { freeMemoryBytes: GB }), node('c', { freeMemoryBytes: 2 * GB })]
    const p = place(web({ count: 1 }), nodes, [{ node: 'a', since: 1 }], 7)
    assert.deepEqual(p.stop, [{ node: 'a', reason: 'failed' }])
    assert.deepEqual(p.assignments, [{ node: 'c', since: 7 }])
    // A failure of another version says nothing about this one.
    const other = nodes.map(n => n.peerId === 'a' ? { ...n, components: [{ ...failed, version: '0.9.0' }] } : n)
    assert.deepEqual(place(web({ count: 1 }), other, [{ node: 'a', since: 1 }], 7).stop, [])
  })

  it('a system component that failed stays where it is and is reported', () => {
    const nodes = [node('a', { components: [{ name: 'web', version: '1.0.0', state: 'failed' }] }), node('b')]
    const p = place(web(), nodes, [{ node: 'a', since: 1 }, { node: 'b', since: 1 }], 7)
    assert.deepEqual(p.stop, [])
    assert.deepEqual(p.problems, [{ kind: 'failed-in-place', node: 'a' }])
  })

  it('a busy node keeps its instance (no churn), and so does a suspect one', () => {
    const current = [{ node: 'a', since: 1 }, { node: 'b', since: 1 }]
    const nodes = [node('a', { load: 40, freeMemoryBytes: 1 }), node('b', { state: 'suspect' }), node('c'), node('d')]
    const p = place(web({ count: 2 }), nodes, current, 9)
    assert.deepEqual(p.assignments, current)
    assert.deepEqual([p.start, p.stop], [[], []])
  })

  it('with fewer eligible nodes than count it places one per node and reports the rest unplaced', () => {
    const nodes = [node('a'), node('b'), node('c', { state: 'dead' })]
    const p = place(web({ count: 4 }), nodes, [], 3)
    assert.deepEqual(nodesOf(p.assignments), ['a', 'b'])
    assert.equal(p.unplaced, 2)
    assert.deepEqual(p.problems, [{ kind: 'not-enough-nodes', wanted: 4, placed: 2, eligible: 2 }])
  })

  it('a lowered count stops the instances on suspect nodes first, then on the least free', () => {
    const current = ['a', 'b', 'c', 'd'].map(n => ({ node: n, since: 1 }))
    const nodes = [node('a'), node('b', { state: 'suspect' }), node('c'), node('d', { freeMemoryBytes: GB })]
    const p = place(web({ count: 2 }), nodes, current, 9)
    assert.deepEqual(p.stop, [{ node: 'b', reason: 'excess' }, { node: 'd', reason: 'excess' }])
    assert.deepEqual(nodesOf(p.assignments), ['a', 'c'])
    assert.deepEqual(p.start, [])
  })

  it('a record naming a node twice keeps one instance, the earliest', () => {
    const p = place(web({ count: 2 }), [node('a'), node('b')], [{ node: 'a', since: 5 }, { node: 'a', since: 3 }], 9)
    assert.deepEqual(p.assignments, [{ node: 'a', since: 3 }, { node: 'b', since: 9 }])
  })

  it('refuses two facts for one node', () => {
    assert.throws(() => place(web(), [node('a'), node('a')], [], 0), { name: 'PlacementInputError' })
  })

  it('treats a bad number in a report as nothing free', () => {
    const nodes = [node('a', { freeMemoryBytes: NaN, diskFreeBytes: Infinity, load: NaN }), node('b')]
    assert.deepEqual(nodesOf(place(web({ count: 1 }), nodes, [], 0).assignments), ['b'])
  })
})

describe('deployment schema', () => {
  it('parses a deployment, sorts and dedupes its regions, drops unknown fields', () => {
    assert.deepEqual(parseDeployment({ name: 'web-probe', version: '1.2.0-rc.1', regions: ['us', 'eu', 'us'], count: 2, constraints: { 'disk/type': 'ssd' }, later: true }),
      { name: 'web-probe', version: '1.2.0-rc.1', regions: ['eu', 'us'], count: 2, constraints: { 'disk/type': 'ssd' } })
  })

  it('refuses bad names, versions, regions, counts and constraints with a named error', () => {
    const base = { name: 'web', version: '1.0.0' }
    const bad = [
      { ...base, name: 'Web' }, { ...base, name: '-web' }, { ...base, name: 'w'.repeat(65) }, { ...base, name: undefined },
      { ...base, version: '1.0' }, { ...base, version: 'v1.0.0' }, { ...base, version: 1 },
      { ...base, regions: [] }, { ...base, regions: ['EU'] },
      { ...base, count: 0 }, { ...base, count: 1.5 }, { ...base, count: 4097 },
      { ...base, constraints: { __proto__x: 'a' } }, { ...base, constraints: { k: 'v'.repeat(257) } },
      // As JSON.parse makes it (an own key): zod's record would drop it silently.
      { ...base, constraints: JSON.parse('{"__proto__": "a"}') as unknown },
      { ...base, constraints: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])) },
      null, 'web@1.0.0'
    ]
    for (const input of bad) assert.throws(() => parseDeployment(input), { name: 'InvalidDeploymentError' }, JSON.stringify(input))
    assert.doesNotThrow(() => parseDeployment({ ...base, name: 'w'.repeat(64), count: 4096 }))
  })
})

describe('placement record', () => {
  const nodes = [node('a'), node('b'), node('c')]

  it('a new holder continues from the previous record: same assignment, new term', () => {
    const first = nextPlacementRecord(undefined, web({ count: 2 }), nodes, 3, 100)
    assert.deepEqual(first.record, { deployment: 'web', term: 3, assignments: [{ node: 'a', since: 100 }, { node: 'b', since: 100 }] })
    assert.equal(first.changed, true)
    const again = nextPlacementRecord(first.record, web({ count: 2 }), nodes, 3, 200)
    assert.equal(again.changed, false)
    // A new holder with busier a and b keeps them where they are.
    const busy = nodes.map(n => n.peerId === 'c' ? n : { ...n, load: 10 })
    const next = nextPlacementRecord(first.record, web({ count: 2 }), busy, 4, 300)
    assert.deepEqual(next.record, { ...first.record, term: 4 })
    assert.equal(next.changed, true)
    assert.deepEqual(parsePlacementRecord(JSON.parse(JSON.stringify(next.record))), next.record)
  })

  it('a first record keeps the instances nodes report running (a system deployment turned counted), up to count', () => {
    const running = (state: 'running' | 'failed', version = '1.0.0'): Partial<NodeFacts> => ({ components: [{ name: 'web', version, state }] })
    // b and c run it; a is freer, but the running ones stay.
    const facts = [node('a'), node('b', { ...running('running'), load: 3 }), node('c', { ...running('running'), load: 3 }), node('d', running('failed'))]
    const first = nextPlacementRecord(undefined, web({ count: 2 }), facts, 1, 100)
    assert.deepEqual(nodesOf(first.record.assignments), ['b', 'c'])
    assert.deepEqual(first.placement.start, [])
    // More running than count: the excess goes (the least free first); another version does not count.
    const three = [node('a', running('running')), node('b', { ...running('running'), load: 3 }), node('c', running('running', '0.9.0'))]
    assert.deepEqual(nodesOf(nextPlacementRecord(undefined, web({ count: 1 }), three, 1, 100).record.assignments), ['a'])
  })

  it('refuses a malformed record with a named error', () => {
    const ok = { deployment: 'web', term: 1, assignments: [{ node: 'a', since: 1 }] }
    const bad = [{ ...ok, term: -1 }, { ...ok, deployment: 'Web' }, { ...ok, assignments: [{ node: '', since: 1 }] }, { ...ok, assignments: [{ node: 'a' }] },
      { ...ok, assignments: Array.from({ length: 4097 }, (_, i) => ({ node: `n${i}`, since: 0 })) }, undefined]
    for (const input of bad) assert.throws(() => parsePlacementRecord(input), { name: 'InvalidPlacementRecordError' })
  })

  it('a stale holder may not write over a later term; a record of another deployment is refused', () => {
    const rec = { deployment: 'web', term: 5, assignments: [] }
    assert.throws(() => nextPlacementRecord(rec, web(), nodes, 4, 0), { name: 'StalePlacementTermError' })
    assert.throws(() => nextPlacementRecord({ ...rec, deployment: 'db' }, web(), nodes, 5, 0), { name: 'PlacementRecordMismatchError' })
  })
})
