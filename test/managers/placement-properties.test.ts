/**
 * Placement properties over generated regions, deployments and current
 * assignments (fast-check): never more than count, never on an ineligible
 * or dead node, never two on one node, every instance placed when enough
 * nodes exist, the diff leads from the current assignment to the desired
 * one, deterministic under any order of the inputs, idempotent, and stable
 * when an unrelated node goes away. MYCEL_PROPERTY_RUNS=n runs n cases each.
 */
import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import { parseDeployment, type Deployment } from '../../managers/deployment.js'
import { isEligible, place, reportsFailed, type Assignment, type NodeFacts } from '../../managers/placement.js'
import { PROPERTY_RUNS } from '../helpers/wire-evolution.js'

const IDS = Array.from({ length: 12 }, (_, i) => `12D3KooW${String.fromCharCode(97 + i)}`)
const COMPONENT = 'web'
const VERSION = '1.0.0'

const labels = fc.record({ zone: fc.constantFrom('a', 'b'), disk: fc.constantFrom('ssd', 'hdd'), rack: fc.constantFrom('1', '2') }, { requiredKeys: [] })

const componentReport = fc.record({
  name: fc.constantFrom(COMPONENT, 'other'),
  version: fc.constantFrom(VERSION, '0.9.0'),
  state: fc.constantFrom('fetching', 'installing', 'starting', 'running', 'failed', 'stopped' as const)
})

/** Two values per resource, so equal scores (and the peer id tie-break) are common. */
const nodeFacts = (peerId: string): fc.Arbitrary<NodeFacts> => fc.record({
  peerId: fc.constant(peerId),
  region: fc.constantFrom('eu', 'eu', 'eu', 'us'),
  state: fc.constantFrom('alive', 'alive', 'alive', 'alive', 'suspect', 'dead', 'left' as const),
  freeMemoryBytes: fc.constantFrom(1e9, 4e9),
  diskFreeBytes: fc.constantFrom(5e10, 1e11),
  load: fc.constantFrom(0, 2),
  cpus: fc.constantFrom(2, 4),
  labels,
  components: fc.array(componentReport, { maxLength: 2 })
})

const nodes: fc.Arbitrary<NodeFacts[]> = fc.subarray(IDS).chain(ids => fc.tuple(...ids.map(nodeFacts)))

const deployment: fc.Arbitrary<Deployment> = fc.record({
  name: fc.constant(COMPONENT),
  version: fc.constant(VERSION),
  regions: fc.constantFrom(undefined, ['eu'], ['us'], ['eu', 'us']),
  count: fc.option(fc.integer({ min: 1, max: 14 }), { nil: undefined }),
  constraints: fc.option(labels, { nil: undefined })
}).map(d => parseDeployment(JSON.parse(JSON.stringify(d))))

/** Assignments on any of the ids (also ones not among the nodes), sometimes one node twice. */
const current: fc.Arbitrary<Assignment[]> = fc.array(fc.record({ node: fc.constantFrom(...IDS), since: fc.integer({ min: 0, max: 999 }) }), { maxLength: 14 })

const now = fc.integer({ min: 1000, max: 2000 })

/** A permutation drawn by fast-check (so a failure shrinks and replays). */
const order = fc.uniqueArray(fc.integer({ min: 0, max: 1e9 }), { minLength: 40, maxLength: 40 })
/** `xs` sorted by distinct keys: `keys` must be longer than `xs`. */
function permute<T> (xs: readonly T[], keys: number[]): T[] {
  return xs.map((x, i) => ({ x, k: keys[i] })).sort((a, b) => a.k - b.k).map(e => e.x)
}

const input = fc.record({ d: deployment, nodes, current, now })
const run = (p: fc.IProperty<any>): void => { fc.assert(p, { numRuns: PROPERTY_RUNS }) }

describe('placement properties', () => {
  it('never more than count, never two on one node, every instance placed when enough nodes exist', () => {
    run(fc.property(input, ({ d, nodes, current, now }) => {
      const p = place(d, nodes, current, now)
      const placed = p.assignments.map(a => a.node)
      assert.equal(new Set(placed).size, placed.length)
      if (d.count !== undefined) {
        assert.ok(placed.length <= d.count)
        assert.equal(placed.length + p.unplaced, d.count)
        const free = nodes.filter(n => isEligible(d, n) && !reportsFailed(d, n)).length
        if (free >= d.count) assert.equal(p.unplaced, 0)
        assert.equal(p.problems.some(x => x.kind === 'not-enough-nodes'), p.unplaced > 0)
      } else {
        assert.equal(p.unplaced, 0)
        // A system component runs on every alive eligible node.
        for (const n of nodes) if (isEligible(d, n)) assert.ok(placed.includes(n.peerId), n.peerId)
      }
    }))
  })

  it('never on an ineligible, dead or unknown node; new instances only on alive eligible nodes', () => {
    run(fc.property(input, ({ d, nodes, current, now }) => {
      const p = place(d, nodes, current, now)
      const byId = new Map(nodes.map(n => [n.peerId, n]))
      for (const a of p.assignments) {
        const n = byId.get(a.node)
        assert.ok(n !== undefined, a.node)
        assert.ok(n.state === 'alive' || n.state === 'suspect', `${a.node} is ${n.state}`)
        assert.ok(isEligible(d, { ...n, state: 'alive' }), `${a.node} does not meet the deployment`)
        if (d.count !== undefined) assert.ok(!reportsFailed(d, n), `${a.node} failed it`)
      }
      for (const s of p.start) {
        const n = byId.get(s.node)!
        assert.ok(isEligible(d, n) && (d.count === undefined || !reportsFailed(d, n)))
      }
    }))
  })

  it('the diff leads from the current assignment to the desired one; kept instances keep their since', () => {
    run(fc.property(input, ({ d, nodes, current, now }) => {
      const p = place(d, nodes, current, now)
      const before = new Set(current.map(a => a.node))
      const after = new Set(p.assignments.map(a => a.node))
      assert.deepEqual(p.stop.map(s => s.node), [...before].filter(n => !after.has(n)).sort())
      assert.deepEqual(p.start.map(s => s.node), [...after].filter(n => !before.has(n)).sort())
      for (const a of p.assignments) {
        const earliest = Math.min(...current.filter(c => c.node === a.node).map(c => c.since))
        assert.equal(a.since, before.has(a.node) ? earliest : now)
      }
    }))
  })

  it('is deterministic under any order of nodes, current assignments, labels and reports', () => {
    run(fc.property(input, order, ({ d, nodes, current, now }, keys) => {
      const shuffled = permute(nodes, keys).map(n => ({
        ...n,
        labels: Object.fromEntries(permute(Object.entries(n.labels), keys.slice(3))),
        components: permute(n.components, keys.slice(7))
      }))
      const reordered = { ...d, constraints: d.constraints === undefined ? undefined : Object.fromEntries(permute(Object.entries(d.constraints), keys.slice(11))) }
      const p = place(d, nodes, current, now)
      assert.deepEqual(place(reordered, shuffled, permute(current, keys.slice(5)), now), p)
      // Drawn keys are often nearly sorted (fast-check favours small values); reversed is never the same order.
      assert.deepEqual(place(d, [...nodes].reverse(), [...current].reverse(), now), p)
    }))
  })

  it('is idempotent: placing again on its own result changes nothing', () => {
    run(fc.property(input, ({ d, nodes, current, now }) => {
      const p = place(d, nodes, current, now)
      const again = place(d, nodes, p.assignments, now + 1)
      assert.deepEqual(again.assignments, p.assignments)
      assert.deepEqual([again.start, again.stop], [[], []])
      assert.equal(again.unplaced, p.unplaced)
    }))
  })

  it('is stable: removing one node moves only the instance that was on it', () => {
    run(fc.property(input, fc.nat(), ({ d, nodes, current, now }, pick) => {
      fc.pre(nodes.length > 0)
      const settled = place(d, nodes, current, now).assignments
      const gone = nodes[pick % nodes.length].peerId
      const p = place(d, nodes.filter(n => n.peerId !== gone), settled, now + 1)
      const held = settled.some(a => a.node === gone)
      if (!held) assert.deepEqual(p.assignments, settled)
      else {
        assert.deepEqual(p.stop, [{ node: gone, reason: 'node-gone' }])
        for (const a of settled) if (a.node !== gone) assert.ok(p.assignments.some(b => b.node === a.node && b.since === a.since), a.node)
        assert.ok(p.start.length <= 1)
      }
    }))
  })
})
