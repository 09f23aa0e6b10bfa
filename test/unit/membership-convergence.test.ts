/**
 * Convergence of the SWIM state machine over a seeded random network (the
 * yjs TestConnector idea): N tables exchange updates that are dropped,
 * duplicated and reordered at random, while members are falsely accused,
 * suspicions expire into dead claims and some members leave. After the
 * faults stop and a few loss-free anti-entropy rounds run, every view must
 * be identical: every member that did not leave is alive at its own current
 * incarnation, every member that left is `left`.
 */
import assert from 'node:assert/strict'
import FakeTimers from '@sinonjs/fake-timers'
import { MemberTable } from '../../protocols/membership/state.js'
import { membershipConfig } from '../../protocols/membership/constants.js'
import { encodeCbor } from '../../protocols/wire/codec.js'
import { decodeBody, type AliveBody, type SignedUpdate, type Update, type UpdateBody } from '../../protocols/membership/messages.js'
import type { Clock } from '../../protocols/membership/clock.js'
import { prng } from '../helpers/prng.js'

const mk = (body: UpdateBody): Update => ({ body, raw: { b: encodeCbor(body), s: new Uint8Array(64) } })
const aliveBody = (id: string, inc: number): AliveBody => ({ v: 1, t: 'alive', id, inc, region: 'r', roles: [], addrs: [], ver: '1', ts: 0 })
const cfg = membershipConfig('test', { reapAfterMs: 10 * 60_000 })

interface Sim {
  ids: string[]
  tables: Map<string, MemberTable>
  /** In-flight messages: [to, raw]. */
  wire: Array<[string, SignedUpdate]>
  left: Set<string>
  clock: FakeTimers.Clock
}

function simulate (seed: number, n: number): Sim {
  const rnd = prng(seed)
  const clock = FakeTimers.createClock(1_000_000)
  const adapter: Clock = { now: () => clock.now, setTimeout: (fn, ms) => clock.setTimeout(fn, ms), clearTimeout: (t) => { clock.clearTimeout(t as FakeTimers.TimerId) } }
  const sim: Sim = { ids: Array.from({ length: n }, (_, i) => `N${i}`), tables: new Map(), wire: [], left: new Set(), clock }
  const broadcast = (from: string, raw: SignedUpdate): void => {
    for (const to of sim.ids) if (to !== from) sim.wire.push([to, raw])
  }
  for (const id of sim.ids) {
    let table: MemberTable | undefined
    table = new MemberTable(cfg, adapter, mk(aliveBody(id, 1)) as Update<AliveBody>, {
      onRefute: (inc) => {
        const u = mk(aliveBody(id, inc)) as Update<AliveBody>
        table?.setSelf(u)
        broadcast(id, u.raw)
      },
      onSuspicionTimeout: (target, inc) => {
        const u = mk({ v: 1, t: 'dead', id: target, inc, from: id, ts: clock.now })
        table?.attachLocalDead(u as Update<any>)
        broadcast(id, u.raw)
      },
      onNews: (_member, raw) => { if (rnd() < 0.5) broadcast(id, raw) },
      emit: () => {}
    })
    sim.tables.set(id, table)
  }
  const deliver = (to: string, raw: SignedUpdate): void => {
    if (sim.left.has(to)) return
    sim.tables.get(to)?.apply({ body: decodeBody(raw, 4096), raw })
  }
  const antiEntropy = (a: string, b: string, loss: number): void => {
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
    if (r < 0.35 && sim.wire.length > 0) {
      // Deliver a random in-flight message (reorder), sometimes twice, sometimes never.
      const i = Math.floor(rnd() * sim.wire.length)
      const [to, raw] = sim.wire.splice(i, 1)[0]
      if (rnd() < 0.3) continue
      deliver(to, raw)
      if (rnd() < 0.1) deliver(to, raw)
    } else if (r < 0.6) {
      const [a, b] = [pick(live()), pick(live())]
      if (a !== b) antiEntropy(a, b, 0.3)
    } else if (r < 0.75) {
      // A (false or true) accusation at the incarnation the accuser knows.
      const accuser = pick(live())
      const target = pick(sim.ids)
      const m = sim.tables.get(accuser)?.get(target)
      if (target !== accuser && m !== undefined && (m.state === 'alive' || m.state === 'suspect')) {
        const u = mk({ v: 1, t: 'suspect', id: target, inc: m.incarnation, from: accuser, ts: clock.now, refused: rnd() < 0.2 })
        sim.tables.get(accuser)?.apply(u)
        broadcast(accuser, u.raw)
      }
    } else if (r < 0.78 && sim.left.size < n / 3) {
      // A graceful leave by a member of the second half, acknowledged by one
      // member of the first half (which never leaves), as leave() awaits acks;
      // the rest learn it only through the lossy network.
      const leaver = pick(live().filter(x => sim.ids.indexOf(x) >= n / 2))
      const t = leaver === undefined ? undefined : sim.tables.get(leaver)
      // leave() tells members that know it (it is connected to them).
      const ackers = sim.ids.filter(x => sim.ids.indexOf(x) < n / 2 && sim.tables.get(x)?.get(leaver) !== undefined)
      if (leaver !== undefined && t !== undefined && ackers.length > 0) {
        const u = mk({ v: 1, t: 'left', id: leaver, inc: t.selfIncarnation, ts: clock.now })
        t.setSelfLeft(u as Update<any>)
        deliver(pick(ackers), u.raw)
        broadcast(leaver, u.raw)
        sim.left.add(leaver)
      }
    } else {
      clock.tick(Math.floor(rnd() * 2_000))
    }
  }

  // Healing: no loss; let suspicions expire, then anti-entropy until quiet.
  sim.wire.length = 0
  for (let round = 0; round < 12; round++) {
    clock.tick(10_000)
    for (const a of live()) for (const b of live()) if (a < b) antiEntropy(a, b, 0)
    for (const [to, raw] of sim.wire.splice(0)) deliver(to, raw)
  }
  return sim
}

describe('membership convergence over a seeded random network', function () {
  this.timeout(60_000)

  for (let seed = 1; seed <= 60; seed++) {
    const n = 3 + (seed % 8)
    it(`seed ${seed}: ${n} members agree after faults stop`, () => {
      const sim = simulate(seed, n)
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
    })
  }
})
