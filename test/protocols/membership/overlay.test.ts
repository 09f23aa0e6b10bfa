/**
 * The monitoring rings (protocols/membership/overlay.ts): bounded degree,
 * every member watched, same rings in every view, regions connected.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { MonitorRings, linkedPeers, type RingMember } from '../../../protocols/membership/overlay.js'

const ids = (n: number, region = (i: number): string => 'r0'): RingMember[] =>
  Array.from({ length: n }, (_, i) => ({ id: `12D3KooPeer${i.toString().padStart(4, '0')}`, region: region(i) }))

/** Subjects of every member, as each would compute them from the same view. */
function graph (members: RingMember[], k: number, r: number): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const m of members) out.set(m.id, new MonitorRings(m.id, k, r).neighbours(members).subjects)
  return out
}

/** Members reachable from `start` over subject/observer links restricted to `within`. */
function reachable (g: Map<string, string[]>, start: string, within: Set<string>): Set<string> {
  const undirected = new Map<string, Set<string>>()
  for (const [a, subs] of g) {
    for (const b of subs) {
      if (!within.has(a) || !within.has(b)) continue
      if (!undirected.has(a)) undirected.set(a, new Set())
      if (!undirected.has(b)) undirected.set(b, new Set())
      undirected.get(a)?.add(b)
      undirected.get(b)?.add(a)
    }
  }
  const seen = new Set([start])
  const todo = [start]
  while (todo.length > 0) {
    for (const n of undirected.get(todo.pop() as string) ?? []) if (!seen.has(n)) { seen.add(n); todo.push(n) }
  }
  return seen
}

describe('membership monitoring rings', () => {
  it('bounds probing and links per node whatever N is', () => {
    for (const n of [2, 3, 10, 50, 200]) {
      const members = ids(n)
      for (const m of members.slice(0, 20)) {
        const rings = new MonitorRings(m.id, 3, 2)
        const nb = rings.neighbours(members)
        assert.ok(nb.subjects.length >= 1 && nb.subjects.length <= 5, `N=${n}: ${nb.subjects.length} subjects`)
        assert.ok(linkedPeers(nb).length <= 10)
        assert.ok(!nb.subjects.includes(m.id) && !nb.observers.includes(m.id), 'never itself')
        assert.ok(nb.subjects.length <= n - 1)
      }
    }
  })

  it('has every member watched by several observers, and observers agree with subjects', () => {
    const members = ids(100)
    const g = graph(members, 3, 2)
    const watchedBy = new Map<string, number>()
    for (const subs of g.values()) for (const s of subs) watchedBy.set(s, (watchedBy.get(s) ?? 0) + 1)
    for (const m of members) {
      assert.ok((watchedBy.get(m.id) ?? 0) >= 2, `${m.id} watched by ${watchedBy.get(m.id) ?? 0}`)
      // Symmetry: my observers are exactly the members that list me as subject.
      const observers = new MonitorRings(m.id, 3, 2).neighbours(members).observers
      const actual = [...g].filter(([, subs]) => subs.includes(m.id)).map(([id]) => id)
      assert.deepEqual([...observers].sort(), actual.sort())
    }
  })

  it('is a connected graph, and each region is connected on its own', () => {
    const members = ids(90, i => `r${i % 3}`)
    const g = graph(members, 3, 2)
    const all = new Set(members.map(m => m.id))
    assert.equal(reachable(g, members[0].id, all).size, 90)
    for (const region of ['r0', 'r1', 'r2']) {
      const local = members.filter(m => m.region === region)
      const set = new Set(local.map(m => m.id))
      assert.equal(reachable(g, local[0].id, set).size, local.length, `region ${region} split`)
    }
  })

  it('adds no link for a region ring whose region is the whole network', () => {
    // Region ring r is global ring r restricted to the region: one region, no links beyond the global rings'.
    for (const n of [2, 10, 100]) {
      const members = ids(n)
      for (const m of members.slice(0, 20)) {
        const both = new MonitorRings(m.id, 3, 2).neighbours(members)
        assert.deepEqual(both, new MonitorRings(m.id, 3, 0).neighbours(members), `N=${n}`)
        assert.ok(linkedPeers(both).length <= 6)
      }
    }
    // Regions that differ keep their own rings: a node links to its region's successors too.
    const members = ids(90, i => `r${i % 3}`)
    const extra = members.slice(0, 30).filter(m => {
      const global = new Set(new MonitorRings(m.id, 3, 0).neighbours(members).subjects)
      return new MonitorRings(m.id, 3, 2).neighbours(members).subjects.some(s => !global.has(s))
    })
    assert.ok(extra.length >= 20, `${extra.length} of 30 nodes have a region link beyond the global rings'`)
  })

  it('does not depend on the order members are listed in', () => {
    const members = ids(40, i => `r${i % 2}`)
    const a = new MonitorRings(members[7].id, 3, 2).neighbours(members)
    const b = new MonitorRings(members[7].id, 3, 2).neighbours([...members].reverse())
    assert.deepEqual(a, b)
  })

  it('changes few links when one member joins', () => {
    const members = ids(60)
    const before = graph(members, 3, 2)
    const after = graph([...members, { id: '12D3KooNewcomer', region: 'r0' }], 3, 2)
    let changed = 0
    for (const m of members) {
      const x = before.get(m.id) ?? []
      const y = after.get(m.id) ?? []
      if (x.join() !== y.join()) changed++
    }
    // The newcomer takes one predecessor's successor slot per ring.
    assert.ok(changed >= 1 && changed <= 5, `${changed} members changed subjects`)
  })

  it('tells any node which members observe a member, as those members compute it themselves (generated sets)', () => {
    const memberSet = fc.uniqueArray(fc.record({ id: fc.stringMatching(/^[0-9a-f]{4,8}$/), region: fc.constantFrom('r0', 'r1', 'r2') }), { selector: m => m.id, minLength: 1, maxLength: 40 })
    fc.assert(fc.property(memberSet, fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 3 }), fc.nat(), (members, k, r, pick) => {
      const g = graph(members, k, r)
      // One asker for every question, as a node asks about its probe targets.
      const asker = new MonitorRings(members[pick % members.length].id, k, r)
      for (const target of members) {
        const said = asker.neighboursOf(target.id, members)
        const actual = [...g].filter(([, subs]) => subs.includes(target.id)).map(([id]) => id)
        assert.deepEqual([...said.observers].sort(), actual.sort(), `observers of ${target.id}`)
        assert.deepEqual(said, new MonitorRings(target.id, k, r).neighbours(members), `${target.id} as it sees itself`)
      }
      // A new array is a new member set: the sorted rings are not reused for it.
      const without = members.slice(1)
      for (const target of without) {
        assert.deepEqual(asker.neighboursOf(target.id, without), new MonitorRings(target.id, k, r).neighbours(without))
      }
    }), { numRuns: 200 })
  })

  it('returns nothing for a node alone or missing from the view', () => {
    assert.deepEqual(new MonitorRings('me', 3, 2).neighbours([{ id: 'me', region: 'r' }]), { subjects: [], observers: [] })
    assert.deepEqual(new MonitorRings('me', 3, 2).neighbours(ids(5)), { subjects: [], observers: [] })
  })
})
