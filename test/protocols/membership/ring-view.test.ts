/**
 * A node's monitoring rings are kept while the set they are drawn over (its
 * alive and suspect members, and their regions) stays the same, and redrawn
 * when it changes (protocols/membership/swim.ts, `ringChanged`). On the
 * membership simulator with frame loss, so that suspicions, refutations and
 * a death happen: every node's subjects are always the rings drawn afresh
 * from its view, and the rings are drawn no more often than that set changes.
 */
import assert from 'node:assert/strict'
import { SimCluster, type SimNode } from '../../../harness/membership-sim/cluster.js'
import { membershipConfig } from '../../../protocols/membership/constants.js'
import { MonitorRings, type RingMember } from '../../../protocols/membership/overlay.js'
import type { Member } from '../../../protocols/membership/types.js'

const cfg = membershipConfig('lan')

/** The node's subjects drawn afresh from its current view. */
function freshSubjects (n: SimNode): string[] {
  const self = n.swim.self()
  const members: RingMember[] = [{ id: self.peerId, region: self.region }]
  for (const m of n.swim.members()) {
    if (m.peerId !== self.peerId && (m.state === 'alive' || m.state === 'suspect')) members.push({ id: m.peerId, region: m.region })
  }
  return new MonitorRings(self.peerId, cfg.monitorRings, cfg.regionRings).neighbours(members).subjects
}

interface Counts { events: number, setChanges: number, draws: number }

/** Counts a node's member events, the changes of its ring set among them, and its ring draws. */
function watch (n: SimNode): Counts {
  const counts: Counts = { events: 0, setChanges: 0, draws: 0 }
  const onRings = new Map<string, string>()
  for (const m of n.swim.members()) if (m.state === 'alive' || m.state === 'suspect') onRings.set(m.peerId, m.region)
  const note = (evt: Event): void => {
    const m = (evt as CustomEvent<Member>).detail
    counts.events++
    const was = onRings.get(m.peerId)
    const now = m.state === 'alive' || m.state === 'suspect' ? m.region : undefined
    if (was !== now) counts.setChanges++
    if (now === undefined) onRings.delete(m.peerId)
    else onRings.set(m.peerId, now)
  }
  for (const ev of ['member:join', 'member:update'] as const) n.swim.addEventListener(ev, note)
  // The rings object is private to the membership: the draw count is what this test is about.
  const rings = (n.swim as unknown as { rings: MonitorRings }).rings
  const draw = rings.neighbours.bind(rings)
  rings.neighbours = (members) => { counts.draws++; return draw(members) }
  return counts
}

describe('membership ring view', function () {
  this.timeout(300_000)

  it('probes the rings drawn afresh from the view, and draws them only when their member set changes (loss, suspicions, a death)', async () => {
    const c = await SimCluster.create({ n: 16, seed: 25, config: cfg, loss: 0.08 })
    await c.start()
    assert.ok(await c.runUntil(() => c.converged(), 300_000) !== undefined, 'joined despite the loss')
    const watched = c.nodes.map(n => ({ n, counts: watch(n) }))
    let checks = 0
    const check = (): void => {
      for (const { n } of watched) {
        if (c.stateOf(n.id) !== 'up') continue
        assert.deepEqual(n.swim.subjects(), freshSubjects(n), `${n.id}'s subjects`)
        checks++
      }
    }
    await c.runUntil(() => false, 60_000, 500, check)
    c.kill([c.nodes[5].id], 'silent')
    await c.runUntil(() => false, 90_000, 500, check)
    const sum = watched.filter(w => c.stateOf(w.n.id) === 'up').reduce((s, w) => ({ events: s.events + w.counts.events, setChanges: s.setChanges + w.counts.setChanges, draws: s.draws + w.counts.draws }), { events: 0, setChanges: 0, draws: 0 })
    assert.ok(checks > 1_000, `${checks} checks`)
    // The run means something only if most events left the ring set alone (suspicions, refutations).
    assert.ok(c.suspects.length > 0, 'the loss led to suspicions')
    assert.ok(sum.events > 2 * sum.setChanges, `${sum.events} member events, ${sum.setChanges} changes of the ring set`)
    // One draw per change of the set at most: the rings are drawn on the first look after a change.
    assert.ok(sum.draws <= sum.setChanges, `${sum.draws} ring draws for ${sum.setChanges} changes of the ring set`)
    assert.ok(sum.draws > 0, 'the death redrew the rings')
  })
})
