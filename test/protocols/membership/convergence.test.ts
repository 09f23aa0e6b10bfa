/**
 * Convergence of the SWIM state machine over the shared seeded network
 * harness (test/sim, the yjs TestConnector idea): N tables exchange updates
 * that are delayed, dropped, duplicated and reordered at random, while
 * members are falsely accused, suspicions expire into dead claims on the
 * virtual clock and some members leave (a leaver then stops, as a crashed
 * node does). After the faults stop and a few loss-free anti-entropy rounds
 * run, every view must be identical: every member that did not leave is
 * alive at its own current incarnation, every member that left is `left`.
 * MEMBERSHIP_SEEDS=<count> runs more seeds (default 60).
 */
import assert from 'node:assert/strict'
import { MemberTable } from '../../../protocols/membership/state.js'
import { membershipConfig } from '../../../protocols/membership/constants.js'
import { encodeCbor } from '../../../wire/codec.js'
import { decodeBody, type AliveBody, type SignedUpdate, type Update, type UpdateBody } from '../../../protocols/membership/messages.js'
import { prng } from '../../helpers/prng.js'
import { VirtualClock } from '../../sim/clock.js'
import { SimNetwork, type LinkFaults } from '../../sim/network.js'

const mk = (body: UpdateBody): Update => ({ body, raw: { b: encodeCbor(body), s: new Uint8Array(64) } })
const aliveBody = (id: string, inc: number): AliveBody => ({ v: 1, t: 'alive', id, inc, region: 'r', roles: [], addrs: [], ver: '1', ts: 0 })
const cfg = membershipConfig('test', { reapAfterMs: 10 * 60_000 })
const SEEDS = Number(process.env.MEMBERSHIP_SEEDS ?? 60)
/**
 * The faulty phase's network. Latencies reach many suspicion timeouts of the
 * test profile (1.5-3 s), so stale accusations and dead claims arrive after
 * their refutation, and refutations after the suspicion expired; with less
 * spread the run finds about half as many seeded state-machine bugs.
 */
const FAULTS: LinkFaults = { drop: 0.3, duplicate: 0.1, latencyMs: [1, 30_000] }
const describeUpdate = (raw: SignedUpdate): string => {
  const b = decodeBody(raw, 4096)
  return `${b.t} ${b.id} inc ${b.inc}${'from' in b ? ` from ${b.from}` : ''}`
}

interface Sim {
  /** How often the run exercised each path: dead claims, refutations, leaves. */
  counts: { dead: number, refuted: number, left: number }
  ids: string[]
  tables: Map<string, MemberTable>
  left: Set<string>
  net: SimNetwork<SignedUpdate>
}

function simulate (seed: number, n: number): Sim {
  const rnd = prng(seed)
  const clock = new VirtualClock(1_000_000)
  const net = new SimNetwork<SignedUpdate>({ clock, rand: rnd, faults: FAULTS, describe: describeUpdate })
  const sim: Sim = { counts: { dead: 0, refuted: 0, left: 0 }, ids: Array.from({ length: n }, (_, i) => `N${i}`), tables: new Map(), left: new Set(), net }
  for (const id of sim.ids) {
    net.add(id, (_from, raw) => sim.tables.get(id)?.apply({ body: decodeBody(raw, 4096), raw }))
    let table: MemberTable | undefined
    table = new MemberTable(cfg, net.clockOf(id), mk(aliveBody(id, 1)) as Update<AliveBody>, {
      onRefute: (inc) => {
        sim.counts.refuted++
        const u = mk(aliveBody(id, inc)) as Update<AliveBody>
        table?.setSelf(u)
        net.broadcast(id, u.raw)
      },
      onSuspicionTimeout: (target, inc) => {
        sim.counts.dead++
        const u = mk({ v: 1, t: 'dead', id: target, inc, from: id, ts: clock.now() })
        table?.attachLocalDead(u as Update<any>)
        net.broadcast(id, u.raw)
      },
      onNews: (_member, raw) => { if (rnd() < 0.5) net.broadcast(id, raw) },
      emit: () => {}
    })
    sim.tables.set(id, table)
  }
  /** A push-pull exchange (a direct stream, not gossip), each update lost with probability `loss`. */
  const antiEntropy = (a: string, b: string, loss: number): void => {
    const deliver = (to: string, raw: SignedUpdate): void => { sim.tables.get(to)?.apply({ body: decodeBody(raw, 4096), raw }) }
    for (const raw of sim.tables.get(a)?.snapshot() ?? []) if (rnd() >= loss) deliver(b, raw)
    for (const raw of sim.tables.get(b)?.snapshot() ?? []) if (rnd() >= loss) deliver(a, raw)
  }
  const live = (): string[] => sim.ids.filter(id => !sim.left.has(id))
  const pick = (xs: string[]): string => xs[Math.floor(rnd() * xs.length)]

  // Join: everybody syncs with N0 (lossy).
  for (const id of sim.ids.slice(1)) antiEntropy(id, 'N0', 0.2)

  // Faulty phase.
  for (let step = 0; step < 400; step++) {
    const r = rnd()
    if (r < 0.35) {
      // A moment passes: the messages due arrive (reordered by their latencies, some twice, some never).
      clock.tick(Math.floor(rnd() * 200))
    } else if (r < 0.6) {
      const [a, b] = [pick(live()), pick(live())]
      if (a !== b) antiEntropy(a, b, 0.3)
    } else if (r < 0.75) {
      // A (false or true) accusation at the incarnation the accuser knows.
      const accuser = pick(live())
      const target = pick(sim.ids)
      const m = sim.tables.get(accuser)?.get(target)
      if (target !== accuser && m !== undefined && (m.state === 'alive' || m.state === 'suspect')) {
        const u = mk({ v: 1, t: 'suspect', id: target, inc: m.incarnation, from: accuser, ts: clock.now(), refused: rnd() < 0.2 })
        sim.tables.get(accuser)?.apply(u)
        net.broadcast(accuser, u.raw)
      }
    } else if (r < 0.78 && sim.left.size < n / 3) {
      // A graceful leave by a member of the second half, acknowledged by one
      // member of the first half (which never leaves), as leave() awaits acks;
      // the rest learn it only through the lossy network. Then it stops.
      const leaver = pick(live().filter(x => sim.ids.indexOf(x) >= n / 2))
      const t = leaver === undefined ? undefined : sim.tables.get(leaver)
      // leave() tells members that know it (it is connected to them).
      const ackers = sim.ids.filter(x => sim.ids.indexOf(x) < n / 2 && sim.tables.get(x)?.get(leaver) !== undefined)
      if (leaver !== undefined && t !== undefined && ackers.length > 0) {
        const u = mk({ v: 1, t: 'left', id: leaver, inc: t.selfIncarnation, ts: clock.now() })
        t.setSelfLeft(u as Update<any>)
        const acker = pick(ackers)
        sim.tables.get(acker)?.apply({ body: decodeBody(u.raw, 4096), raw: u.raw })
        net.broadcast(leaver, u.raw)
        net.crash(leaver)
        sim.left.add(leaver)
        sim.counts.left++
      }
    } else {
      clock.tick(Math.floor(rnd() * 2_000))
    }
  }

  // Healing: what is in flight is lost, the network turns loss-free; let
  // suspicions expire, then anti-entropy until quiet.
  net.dropInFlight()
  net.setFaults({})
  for (let round = 0; round < 12; round++) {
    clock.tick(10_000)
    for (const a of live()) for (const b of live()) if (a < b) antiEntropy(a, b, 0)
    clock.tick(100)
  }
  return sim
}

describe('membership convergence over a seeded random network', function () {
  this.timeout(60_000)

  const total = { dead: 0, refuted: 0, left: 0 }
  for (let seed = 1; seed <= SEEDS; seed++) {
    const n = 3 + (seed % 8)
    it(`seed ${seed}: ${n} members agree after faults stop`, () => {
      const sim = simulate(seed, n)
      for (const k of ['dead', 'refuted', 'left'] as const) total[k] += sim.counts[k]
      try {
        check(sim)
      } catch (err) {
        throw sim.net.annotate(err, `seed ${seed}`)
      }
    })
  }

  // One seed alone may exercise little; the whole run must exercise every path.
  // Per seed on average: ~30 expired suspicions, ~17 refutations, 2.5 leaves.
  if (SEEDS >= 20) {
    it('the seeds together exercised expired suspicions, refutations and leaves', () => {
      assert.ok(total.dead > SEEDS * 5, `only ${total.dead} suspicions expired`)
      assert.ok(total.refuted > SEEDS * 5, `only ${total.refuted} refutations`)
      assert.ok(total.left > SEEDS, `only ${total.left} leaves`)
    })
  }
})

/** Every live view identical; live members alive at their own incarnation, leavers `left`. */
function check (sim: Sim): void {
  const live = sim.ids.filter(id => !sim.left.has(id))
  const reference = sim.tables.get(live[0])!
  for (const id of live) {
    const t = sim.tables.get(id)!
    assert.deepEqual(t.digest(), reference.digest(), `view of ${id} differs from ${live[0]}`)
    for (const other of sim.ids) {
      const m = t.get(other)
      if (sim.left.has(other)) {
        assert.equal(m?.state, 'left', `${id} sees leaver ${other} as ${m?.state}`)
      } else {
        assert.equal(m?.state, 'alive', `${id} sees live ${other} as ${m?.state}`)
        assert.equal(m?.incarnation, sim.tables.get(other)!.selfIncarnation, `${id} has a stale incarnation for ${other}`)
      }
    }
  }
}
