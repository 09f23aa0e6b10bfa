/**
 * The SWIM state machine on a fake clock: incarnation ordering, suspicion
 * and refutation, Lifeguard's shrinking timeout (exact values), leave vs
 * dead, reaping, restarts and stale updates; two processes sharing one
 * identity; eviction of a peer that failed admission.
 */
import assert from 'node:assert/strict'
import FakeTimers from '@sinonjs/fake-timers'
import fc from 'fast-check'
import { MemberTable, type IdentityConflict, type TableHooks } from '../../../protocols/membership/state.js'
import { membershipConfig, suspicionTimeoutMs, type MembershipConfig } from '../../../protocols/membership/constants.js'
import { remainingSuspicionTime } from '../../../protocols/membership/suspicion.js'
import { encodeCbor } from '../../../wire/codec.js'
import type { AliveBody, DeadBody, LeftBody, SuspectBody, Update, UpdateBody } from '../../../protocols/membership/messages.js'
import type { Clock } from '../../../lib/clock.js'
import type { MemberState } from '../../../protocols/membership/types.js'

const SELF = 'self'
const u = <B extends UpdateBody>(body: B): Update<B> => ({ body, raw: { b: encodeCbor(body), s: new Uint8Array(64) } })
const alive = (id: string, inc: number, extra: Partial<AliveBody> = {}): Update<AliveBody> =>
  u({ v: 1, t: 'alive', id, inc, region: 'r', roles: [], addrs: [], ver: '1', ts: 0, ...extra })
const NOW = 1_000_000
const suspect = (id: string, inc: number, from = 'X', refused = false, ts = NOW): Update<SuspectBody> => u({ v: 1, t: 'suspect', id, inc, from, ts, refused })
const dead = (id: string, inc: number, from = 'X'): Update<DeadBody> => u({ v: 1, t: 'dead', id, inc, from, ts: 0 })
const left = (id: string, inc: number): Update<LeftBody> => u({ v: 1, t: 'left', id, inc, ts: 0 })

interface Harness {
  table: MemberTable
  clock: FakeTimers.Clock
  events: Array<[string, string, MemberState]>
  refutes: number[]
  timeouts: Array<[string, number]>
  news: string[]
  conflicts: IdentityConflict[]
  forgotten: string[]
}

/** memberlist's DefaultLANConfig suspicion values, so the expected numbers below are memberlist's. */
const MEMBERLIST_LAN = membershipConfig('lan', { suspicionMult: 4, suspicionMaxTimeoutMult: 6, probeIntervalMs: 1_000, refusedSuspicionMs: 1_000 })

function harness (cfg: MembershipConfig = MEMBERLIST_LAN, selfInc = 5): Harness {
  const clock = FakeTimers.createClock(NOW)
  const h: Harness = { table: undefined as unknown as MemberTable, clock, events: [], refutes: [], timeouts: [], news: [], conflicts: [], forgotten: [] }
  const hooks: TableHooks = {
    onRefute: (inc) => { h.refutes.push(inc) },
    onSuspicionTimeout: (id, inc) => { h.timeouts.push([id, inc]) },
    onNews: (member) => { h.news.push(member) },
    emit: (event, m) => { h.events.push([event, m.peerId, m.state]) },
    onConflict: (c) => { h.conflicts.push(c) },
    onForget: (id) => { h.forgotten.push(id) }
  }
  const adapter: Clock = {
    now: () => clock.now,
    setTimeout: (fn, ms) => clock.setTimeout(fn, ms),
    clearTimeout: (t) => { clock.clearTimeout(t as FakeTimers.TimerId) }
  }
  h.table = new MemberTable(cfg, adapter, alive(SELF, selfInc), hooks)
  return h
}

/** A table that knows `n` other alive members M0..M(n-1) at incarnation 1. */
function withMembers (n: number, cfg?: MembershipConfig): Harness {
  const h = harness(cfg)
  for (let i = 0; i < n; i++) assert.equal(h.table.apply(alive(`M${i}`, 1)), 'applied')
  h.events.length = 0
  h.news.length = 0
  return h
}

const stateOf = (h: Harness, id: string): [MemberState | undefined, number | undefined] => {
  const m = h.table.get(id)
  return [m?.state, m?.incarnation]
}

describe('membership state machine', () => {
  describe('incarnation ordering (memberlist rules plus left)', () => {
    // [name, setup updates for A, incoming, expected result, expected [state, inc]]
    const cases: Array<[string, Array<Update>, Update, string, [MemberState, number]]> = [
      ['alive higher inc over alive', [alive('A', 1)], alive('A', 2), 'applied', ['alive', 2]],
      ['alive same inc is stale', [alive('A', 1)], alive('A', 1), 'stale', ['alive', 1]],
      ['alive lower inc is stale', [alive('A', 3)], alive('A', 2), 'stale', ['alive', 3]],
      ['suspect same inc over alive', [alive('A', 1)], suspect('A', 1), 'applied', ['suspect', 1]],
      ['suspect higher inc over alive', [alive('A', 1)], suspect('A', 2), 'applied', ['suspect', 2]],
      ['suspect lower inc is stale', [alive('A', 2)], suspect('A', 1), 'stale', ['alive', 2]],
      ['alive same inc does not clear suspect', [alive('A', 1), suspect('A', 1)], alive('A', 1), 'stale', ['suspect', 1]],
      ['alive higher inc refutes suspect', [alive('A', 1), suspect('A', 1)], alive('A', 2), 'applied', ['alive', 2]],
      ['dead same inc over alive', [alive('A', 1)], dead('A', 1), 'applied', ['dead', 1]],
      ['dead same inc over suspect', [alive('A', 1), suspect('A', 1)], dead('A', 1), 'applied', ['dead', 1]],
      ['dead lower inc is stale', [alive('A', 2)], dead('A', 1), 'stale', ['alive', 2]],
      ['dead over dead is stale', [alive('A', 1), dead('A', 1)], dead('A', 2), 'stale', ['dead', 1]],
      ['suspect over dead is stale', [alive('A', 1), dead('A', 1)], suspect('A', 1), 'stale', ['dead', 1]],
      ['alive same inc over dead is stale', [alive('A', 1), dead('A', 1)], alive('A', 1), 'stale', ['dead', 1]],
      ['alive higher inc revives dead', [alive('A', 1), dead('A', 1)], alive('A', 2), 'applied', ['alive', 2]],
      ['left same inc over alive', [alive('A', 1)], left('A', 1), 'applied', ['left', 1]],
      ['left same inc over dead', [alive('A', 1), dead('A', 1)], left('A', 1), 'applied', ['left', 1]],
      ['left lower inc is stale', [alive('A', 2)], left('A', 1), 'stale', ['alive', 2]],
      ['dead over left is stale', [alive('A', 1), left('A', 1)], dead('A', 1), 'stale', ['left', 1]],
      ['suspect over left is stale', [alive('A', 1), left('A', 1)], suspect('A', 2), 'stale', ['left', 1]],
      ['alive same inc over left is stale (replay)', [alive('A', 1), left('A', 1)], alive('A', 1), 'stale', ['left', 1]],
      ['alive higher inc after left rejoins', [alive('A', 1), left('A', 1)], alive('A', 2), 'applied', ['alive', 2]]
    ]
    for (const [name, setup, incoming, result, expected] of cases) {
      it(name, () => {
        const h = withMembers(3)
        for (const s of setup) h.table.apply(s)
        assert.equal(h.table.apply(incoming), result)
        assert.deepEqual(stateOf(h, 'A'), expected)
      })
    }

    it('ignores suspect, dead and left about unknown members', () => {
      const h = withMembers(2)
      assert.equal(h.table.apply(suspect('Z', 1)), 'unknown')
      assert.equal(h.table.apply(dead('Z', 1)), 'unknown')
      assert.equal(h.table.apply(left('Z', 1)), 'unknown')
      assert.equal(h.table.get('Z'), undefined)
    })

    it('emits join, suspect, alive, dead, left events', () => {
      const h = withMembers(3)
      h.table.apply(alive('A', 1))
      h.table.apply(suspect('A', 1))
      h.table.apply(alive('A', 2))
      h.table.apply(dead('A', 2))
      h.table.apply(alive('A', 3))
      h.table.apply(left('A', 3))
      const kinds = h.events.filter(e => e[0] !== 'member:update').map(e => `${e[0]}:${e[2]}`)
      assert.deepEqual(kinds, ['member:join:alive', 'member:suspect:suspect', 'member:alive:alive', 'member:dead:dead', 'member:alive:alive', 'member:left:left'])
    })

    it('pairs every state event with a member:update for the same record; a member the table did not hold is member:join alone (generated sequences)', () => {
      // The election engine and the rings listen to member:join and member:update only (election.ts, swim.ts).
      const ids = ['A', 'B', 'C']
      const op = fc.record({
        kind: fc.constantFrom('alive', 'suspect', 'dead', 'left', 'evict', 'revoke', 'expire'),
        id: fc.constantFrom(...ids),
        inc: fc.integer({ min: 0, max: 4 })
      })
      fc.assert(fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const h = harness()
        for (const o of ops) {
          const before = h.events.length
          const known = h.table.get(o.id) !== undefined
          if (o.kind === 'alive') h.table.apply(alive(o.id, o.inc))
          else if (o.kind === 'suspect') h.table.apply(suspect(o.id, o.inc))
          else if (o.kind === 'dead') h.table.apply(dead(o.id, o.inc))
          else if (o.kind === 'left') h.table.apply(left(o.id, o.inc))
          else if (o.kind === 'evict') h.table.evict(o.id)
          else if (o.kind === 'revoke') h.table.revoke(o.id)
          else h.clock.tick(60_000)
          const evs = h.events.slice(before)
          for (let i = 0; i < evs.length; i++) {
            const [event, id, state] = evs[i]
            if (event === 'member:update') continue
            if (event === 'member:join' && !known) continue
            const next = evs[i + 1]
            assert.ok(next !== undefined && next[0] === 'member:update' && next[1] === id && next[2] === state, `${event} of ${id} (${state}) not followed by its member:update: ${JSON.stringify(evs)}`)
          }
        }
      }), { numRuns: 300 })
    })
  })

  describe('self refutation', () => {
    it('refutes a suspicion at our incarnation by going one above it', () => {
      const h = withMembers(3)
      assert.equal(h.table.apply(suspect(SELF, 5)), 'refuted')
      assert.deepEqual(h.refutes, [6])
      assert.equal(h.table.selfIncarnation, 6)
      assert.equal(h.table.self().state, 'alive')
    })

    it('refutes dead claims and accusations at a higher incarnation', () => {
      const h = withMembers(3)
      assert.equal(h.table.apply(dead(SELF, 9)), 'refuted')
      assert.deepEqual(h.refutes, [10])
    })

    it('ignores stale accusations about itself', () => {
      const h = withMembers(3)
      assert.equal(h.table.apply(suspect(SELF, 4)), 'stale')
      assert.equal(h.table.apply(dead(SELF, 2)), 'stale')
      assert.deepEqual(h.refutes, [])
    })

    it('jumps above an own alive record newer than it knows (lost state)', () => {
      const h = withMembers(1)
      assert.equal(h.table.apply(alive(SELF, 5)), 'stale')
      assert.equal(h.table.apply(alive(SELF, 12)), 'refuted')
      assert.deepEqual(h.refutes, [13])
    })

    it('does not refute once it has left', () => {
      const h = withMembers(3)
      h.table.setSelfLeft(left(SELF, 5))
      assert.equal(h.table.apply(dead(SELF, 5)), 'stale')
      assert.equal(h.table.self().state, 'left')
    })
  })

  describe('suspicion timeout (Lifeguard)', () => {
    it('matches memberlist remainingSuspicionTime on its own test table', () => {
      // memberlist suspicion_test.go TestSuspicion_remainingSuspicionTime
      const cases: Array<[number, number, number, number]> = [
        [0, 3, 0, 30_000],
        [1, 3, 2_000, 14_000],
        [2, 3, 3_000, 4_810],
        [3, 3, 4_000, -2_000],
        [4, 3, 5_000, -3_000],
        [5, 3, 10_000, -8_000]
      ]
      for (const [n, k, elapsed, expected] of cases) {
        assert.equal(remainingSuspicionTime(n, k, elapsed, 2_000, 30_000), expected, `n=${n}`)
      }
    })

    it('scales the minimum with log10(N)', () => {
      assert.equal(suspicionTimeoutMs(4, 1, 1_000), 4_000)
      assert.equal(suspicionTimeoutMs(4, 10, 1_000), 4_000)
      assert.equal(suspicionTimeoutMs(4, 100, 1_000), 8_000)
      assert.equal(suspicionTimeoutMs(4, 50, 1_000), Math.floor(4 * Math.log10(50) * 1_000))
    })

    it('declares dead after the full max timeout when nobody confirms', () => {
      // self + 9 members: N = 10, min = 4 s, max = 24 s, k = 2 (lan).
      const h = withMembers(9)
      h.table.apply(suspect('M0', 1, 'M1'))
      assert.equal(h.table.suspicionTimeoutOf('M0'), 24_000)
      h.clock.tick(23_999)
      assert.deepEqual(stateOf(h, 'M0'), ['suspect', 1])
      h.clock.tick(1)
      assert.deepEqual(stateOf(h, 'M0'), ['dead', 1])
      assert.deepEqual(h.timeouts, [['M0', 1]])
      assert.ok(h.events.some(e => e[0] === 'member:dead' && e[1] === 'M0'))
    })

    it('shrinks the timeout with each independent confirmation, to the minimum at k', () => {
      const h = withMembers(9)
      h.table.apply(suspect('M0', 1, 'M1'))
      h.clock.tick(1_000)
      // A repeat from the first accuser is not a confirmation.
      assert.equal(h.table.apply(suspect('M0', 1, 'M1')), 'stale')
      assert.equal(h.table.suspicionTimeoutOf('M0'), 24_000)
      assert.equal(h.table.apply(suspect('M0', 1, 'M2')), 'confirmed')
      const afterOne = Math.floor(24_000 - (Math.log(2) / Math.log(3)) * 20_000)
      assert.equal(h.table.suspicionTimeoutOf('M0'), afterOne)
      assert.equal(afterOne, 11_381)
      h.clock.tick(afterOne - 1_000 - 1)
      assert.deepEqual(stateOf(h, 'M0'), ['suspect', 1])
      // Second confirmation at t = afterOne - 1: timeout drops to min (4 s), already elapsed: dead now.
      assert.equal(h.table.apply(suspect('M0', 1, 'M3')), 'confirmed')
      assert.equal(h.table.suspicionTimeoutOf('M0'), 4_000)
      assert.equal(h.table.apply(suspect('M0', 1, 'M4')), 'stale', 'beyond k confirmations are not counted')
      h.clock.tick(0)
      assert.deepEqual(stateOf(h, 'M0'), ['dead', 1])
    })

    it('expects no more confirmations than the suspect has other observers (monitoring rings)', () => {
      // k = 2 on this profile; a member two observers watch can get one confirmation beside its accuser's.
      const clock = FakeTimers.createClock(NOW)
      const adapter: Clock = { now: () => clock.now, setTimeout: (fn, ms) => clock.setTimeout(fn, ms), clearTimeout: (t) => { clock.clearTimeout(t as FakeTimers.TimerId) } }
      const asked: string[] = []
      const hooks: TableHooks = { onRefute: () => {}, onSuspicionTimeout: () => {}, onNews: () => {}, emit: () => {}, observers: (id) => { asked.push(id); return 2 } }
      const table = new MemberTable(MEMBERLIST_LAN, adapter, alive(SELF, 5), hooks)
      for (let i = 0; i < 9; i++) table.apply(alive(`M${i}`, 1))
      table.apply(suspect('M0', 1, 'M1'))
      assert.deepEqual(asked, ['M0'])
      assert.equal(table.suspicionTimeoutOf('M0'), 24_000)
      assert.equal(table.apply(suspect('M0', 1, 'M2')), 'confirmed')
      assert.equal(table.suspicionTimeoutOf('M0'), 4_000, 'the one confirmation it can get brings the minimum')
    })

    it('uses the minimum at once in clusters too small for k confirmations', () => {
      // self + 2: N = 3, k would be 2 but N - 2 < k, so k = 0 and the timer is min = 4 s.
      const h = withMembers(2)
      h.table.apply(suspect('M0', 1, 'M1'))
      assert.equal(h.table.suspicionTimeoutOf('M0'), 4_000)
      h.clock.tick(3_999)
      assert.equal(h.table.get('M0')?.state, 'suspect')
      h.clock.tick(1)
      assert.equal(h.table.get('M0')?.state, 'dead')
    })

    it('an unhealthy node (Lifeguard score) stretches its timeout-based suspicions, not refused ones', () => {
      let score = 0
      const clock = FakeTimers.createClock(NOW)
      const adapter: Clock = { now: () => clock.now, setTimeout: (fn, ms) => clock.setTimeout(fn, ms), clearTimeout: (t) => { clock.clearTimeout(t as FakeTimers.TimerId) } }
      const hooks: TableHooks = { onRefute: () => {}, onSuspicionTimeout: () => {}, onNews: () => {}, emit: () => {} }
      const table = new MemberTable(MEMBERLIST_LAN, adapter, alive(SELF, 1), hooks, () => score + 1)
      for (let i = 0; i < 9; i++) table.apply(alive(`M${i}`, 1))
      table.apply(suspect('M0', 1, 'M1'))
      assert.equal(table.suspicionTimeoutOf('M0'), 24_000)
      score = 2
      table.apply(suspect('M2', 1, 'M1'))
      assert.equal(table.suspicionTimeoutOf('M2'), 72_000)
      table.apply(suspect('M3', 1, 'M1', true))
      assert.equal(table.suspicionTimeoutOf('M3'), 1_000)
    })

    it('a refusal-based suspicion uses refusedSuspicionMs', () => {
      const h = withMembers(9)
      h.table.apply(suspect('M0', 1, 'M1', true))
      assert.equal(h.table.suspicionTimeoutOf('M0'), 1_000)
      h.clock.tick(1_000)
      assert.equal(h.table.get('M0')?.state, 'dead')
    })

    it('a refused confirmation shortens a running timeout-based suspicion', () => {
      const h = withMembers(9)
      h.table.apply(suspect('M0', 1, 'M1'))
      h.clock.tick(500)
      assert.equal(h.table.apply(suspect('M0', 1, 'M2', true)), 'confirmed')
      h.clock.tick(1_000)
      assert.equal(h.table.get('M0')?.state, 'dead')
    })

    it('refutation by a higher incarnation cancels the timer', () => {
      const h = withMembers(9)
      h.table.apply(suspect('M0', 1, 'M1'))
      h.clock.tick(10_000)
      assert.equal(h.table.apply(alive('M0', 2)), 'applied')
      h.clock.tick(60_000)
      assert.deepEqual(stateOf(h, 'M0'), ['alive', 2])
      assert.deepEqual(h.timeouts, [])
    })

    it('the timeout uses the test profile timers', () => {
      const h = withMembers(3, membershipConfig('test'))
      h.table.apply(suspect('M0', 1, 'M1'))
      // N = 4: k = 1 (mult 3), min = 3 × 1 × 500 = 1500 ms, max = 2 × 1500.
      assert.equal(h.table.suspicionTimeoutOf('M0'), 3_000)
      h.table.apply(suspect('M0', 1, 'M2'))
      assert.equal(h.table.suspicionTimeoutOf('M0'), 1_500)
    })
  })

  describe('leave, death, reaping and restarts', () => {
    it('keeps left and dead distinct', () => {
      const h = withMembers(3)
      h.table.apply(dead('M0', 1))
      h.table.apply(left('M1', 1))
      assert.equal(h.table.get('M0')?.state, 'dead')
      assert.equal(h.table.get('M1')?.state, 'left')
      assert.deepEqual(h.table.countByState(), { alive: 2, suspect: 0, dead: 1, left: 1, revoked: 0 })
      assert.equal(h.table.estimateN(), 2)
    })

    it('reaps dead and left members after reapAfterMs and keeps a tombstone against replays', () => {
      const cfg = { ...MEMBERLIST_LAN, reapAfterMs: 10_000, tombstoneMs: 60_000 }
      const h = withMembers(3, cfg)
      h.table.apply(dead('M0', 1))
      h.table.apply(left('M1', 1))
      h.clock.tick(9_999)
      assert.deepEqual(h.table.reap(), [])
      h.clock.tick(1)
      assert.deepEqual(h.table.reap().sort(), ['M0', 'M1'])
      assert.deepEqual(h.forgotten.sort(), ['M0', 'M1'], 'the reaped entries are reported gone')
      assert.equal(h.table.get('M0'), undefined)
      assert.equal(h.table.members().length, 2)
      // A replayed old alive record does not resurrect a reaped member...
      assert.equal(h.table.apply(alive('M0', 1)), 'stale')
      // ...but a restart (higher incarnation) is a new join.
      assert.equal(h.table.apply(alive('M1', 2)), 'applied')
      assert.ok(h.events.some(e => e[0] === 'member:join' && e[1] === 'M1'))
      // After the tombstone expires the old record would be accepted again.
      h.clock.tick(60_000)
      h.table.reap()
      assert.equal(h.table.apply(alive('M0', 1)), 'applied')
    })

    it('accepts a restarted node with a higher incarnation', () => {
      const h = withMembers(3)
      h.table.apply(dead('M0', 1))
      assert.equal(h.table.apply(alive('M0', 1)), 'stale')
      assert.equal(h.table.apply(alive('M0', 2, { addrs: ['/ip4/127.0.0.1/tcp/2'] })), 'applied')
      assert.deepEqual(stateOf(h, 'M0'), ['alive', 2])
      assert.deepEqual(h.table.get('M0')?.addrs, ['/ip4/127.0.0.1/tcp/2'])
      assert.ok(h.events.some(e => e[0] === 'member:alive' && e[1] === 'M0'))
    })

    it('treats suspect claims older than suspectMaxAgeMs as stale replays', () => {
      const h = withMembers(3)
      assert.equal(h.table.apply(suspect('M0', 1, 'X', false, NOW - MEMBERLIST_LAN.suspectMaxAgeMs - 1)), 'stale')
      assert.equal(h.table.apply(suspect(SELF, 5, 'X', false, NOW - MEMBERLIST_LAN.suspectMaxAgeMs - 1)), 'stale')
      assert.deepEqual(h.refutes, [])
      assert.equal(h.table.apply(suspect('M0', 1, 'X', false, NOW - MEMBERLIST_LAN.suspectMaxAgeMs)), 'applied')
    })

    it('gives members that just joined, or came back, a grace period (and ourselves after start)', () => {
      const h = harness()
      assert.equal(h.table.apply(alive('A', 1)), 'applied')
      h.clock.tick(5_000)
      assert.equal(h.table.apply(alive('B', 1)), 'applied')
      assert.equal(h.table.inJoinGrace('A', 4_000), false)
      assert.equal(h.table.inJoinGrace('B', 4_000), true)
      assert.equal(h.table.inJoinGrace('A', 6_000), true, 'we started 5 s ago')
      h.clock.tick(5_000)
      assert.equal(h.table.inJoinGrace('B', 4_000), false)
      h.table.apply(dead('B', 1))
      h.table.apply(alive('B', 2))
      assert.equal(h.table.inJoinGrace('B', 4_000), true, 'a restart is a new join')
      assert.equal(h.table.inJoinGrace('Z', 4_000), false)
    })

    it('counts only news for re-gossip, never stale replays', () => {
      const h = withMembers(3)
      h.table.apply(suspect('M0', 1))
      h.table.apply(suspect('M0', 0))
      h.table.apply(alive('M1', 0))
      h.table.apply(dead('M2', 0))
      assert.deepEqual(h.news, ['M0'])
    })

    it('snapshots every member as alive record plus claim, and digests equal views equally', () => {
      const a = withMembers(3)
      const b = withMembers(3)
      assert.deepEqual(a.table.digest(), b.table.digest())
      a.table.apply(suspect('M0', 1))
      assert.notDeepEqual(a.table.digest(), b.table.digest())
      assert.equal(a.table.snapshot().length, 4 + 1)
    })

    it('refuses new members beyond maxMembers', () => {
      const h = harness({ ...MEMBERLIST_LAN, maxMembers: 3 })
      assert.equal(h.table.apply(alive('A', 1)), 'applied')
      assert.equal(h.table.apply(alive('B', 1)), 'applied')
      assert.equal(h.table.apply(alive('C', 1)), 'full')
    })
  })

  describe('two processes with one identity (a copied key)', () => {
    const HERE = ['/ip4/10.0.0.1/tcp/4100']
    const THERE = ['/ip4/10.0.0.2/tcp/4100']

    it('a record about us signed by another process since we started is a conflict, and still refuted', () => {
      const h = harness()
      assert.equal(h.table.apply(alive(SELF, 9, { addrs: THERE, ts: NOW + 1_000 })), 'refuted')
      assert.deepEqual(h.refutes, [10])
      assert.equal(h.conflicts.length, 1)
      assert.deepEqual(h.conflicts[0], { peerId: SELF, kind: 'self', addrs: [[], THERE], incarnations: [5, 9] })
      // A leave we never announced, signed while we run, is the other process too.
      assert.equal(h.table.apply(left(SELF, 11)), 'refuted')
      assert.equal(h.conflicts.length, 1, 'a leave signed before we started is our own')
      assert.equal(h.table.apply(u<LeftBody>({ v: 1, t: 'left', id: SELF, inc: 13, ts: NOW + 2_000 })), 'refuted')
      assert.equal(h.conflicts.length, 2)
      assert.equal(h.conflicts[1].kind, 'self')
    })

    it('records of our earlier runs are no conflict; the original seen by a copy started after it is', () => {
      const h = harness()
      // An earlier run, below the incarnation we started at (the incarnation store's promise).
      assert.equal(h.table.apply(alive(SELF, 4, { addrs: THERE, ts: NOW - 60_000 })), 'stale')
      assert.equal(h.table.observe(alive(SELF, 4, { addrs: THERE, ts: NOW - 60_000 })), false)
      // An earlier run whose incarnation file was lost: above it, but from our own addresses.
      assert.equal(h.table.apply(alive(SELF, 9, { addrs: [], ts: NOW - 60_000 })), 'refuted')
      assert.deepEqual(h.conflicts, [])
      // Another process that started before us, from other addresses, at incarnations we never had.
      const original = alive(SELF, 10, { addrs: THERE, ts: NOW - 1_000 })
      assert.equal(h.table.classify(original.body), 'stale')
      assert.equal(h.table.observe(original), true)
      assert.deepEqual(h.conflicts, [{ peerId: SELF, kind: 'self', addrs: [[], THERE], incarnations: [10, 10] }])
    })

    it('a stale record about us that we never signed is a conflict; our own older ones are not', () => {
      const h = harness()
      const twin = alive(SELF, 5, { addrs: THERE, ts: NOW + 1_000 })
      assert.equal(h.table.classify(twin.body), 'stale')
      assert.equal(h.table.differsFromHeld(twin.body, twin.raw), true)
      assert.equal(h.table.observe(twin), true)
      assert.deepEqual(h.conflicts, [{ peerId: SELF, kind: 'self', addrs: [[], THERE], incarnations: [5, 5] }])
      assert.equal(h.table.observe(twin), false, 'reported once')
      const ours = alive(SELF, 3, { addrs: [], ts: NOW + 1_000 })
      assert.equal(h.table.observe(ours), false, 'an older record of ours, addresses we announced')
      const held = h.table.selfRecord()
      assert.equal(h.table.differsFromHeld(held.body, held.raw), false)
      assert.equal(h.conflicts.length, 1)
    })

    it('two different records of a member at one incarnation come from two processes', () => {
      const h = withMembers(0)
      h.table.apply(alive('A', 1, { addrs: HERE, ts: 1 }))
      const other = alive('A', 1, { addrs: THERE, ts: 2 })
      assert.equal(h.table.classify(other.body), 'stale')
      assert.equal(h.table.differsFromHeld(other.body, other.raw), true)
      assert.equal(h.table.observe(other), true)
      assert.deepEqual(h.conflicts, [{ peerId: 'A', kind: 'member', addrs: [HERE, THERE], incarnations: [1, 1] }])
      assert.equal(h.table.observe(other), false, 'reported once')
      const same = alive('A', 1, { addrs: HERE, ts: 1 })
      assert.equal(h.table.differsFromHeld(same.body, same.raw), false, 'a forwarded copy is the same record')
      assert.equal(h.table.differsFromHeld(alive('A', 0, { addrs: THERE }).body, other.raw), false, 'older incarnations are not compared')
    })

    it('a member whose addresses flip back to the set it just left is announced by two processes', () => {
      const h = withMembers(0)
      h.table.apply(alive('A', 1, { addrs: HERE }))
      assert.equal(h.table.apply(alive('A', 2, { addrs: THERE })), 'applied')
      assert.deepEqual(h.conflicts, [], 'one move is no conflict')
      h.clock.tick(5_000)
      assert.equal(h.table.apply(alive('A', 3, { addrs: HERE })), 'applied')
      assert.deepEqual(h.conflicts, [{ peerId: 'A', kind: 'member', addrs: [THERE, HERE], incarnations: [2, 3] }])
      h.table.apply(alive('A', 4, { addrs: THERE }))
      assert.equal(h.conflicts.length, 2)
      // Same addresses again: a refutation or restart in place, not a conflict.
      h.table.apply(alive('A', 5, { addrs: THERE }))
      assert.equal(h.conflicts.length, 2)
    })

    it('moving back after the window is a move, not a conflict', () => {
      const h = withMembers(0)
      h.table.apply(alive('A', 1, { addrs: HERE }))
      h.table.apply(alive('A', 2, { addrs: THERE }))
      h.clock.tick(MEMBERLIST_LAN.identityConflictWindowMs + 1)
      h.table.apply(alive('A', 3, { addrs: HERE }))
      assert.deepEqual(h.conflicts, [])
    })
  })

  describe('eviction (a peer that failed admission)', () => {
    it('forgets the member at once, tells listeners it is gone, and keeps its records out', () => {
      const h = withMembers(2)
      assert.equal(h.table.evict('M0'), true)
      assert.equal(h.table.get('M0'), undefined)
      assert.deepEqual(h.events, [['member:dead', 'M0', 'dead'], ['member:update', 'M0', 'dead']])
      assert.equal(h.table.apply(alive('M0', 1)), 'stale', 'tombstoned at its incarnation')
      assert.equal(h.table.apply(suspect('M0', 1)), 'unknown')
      assert.equal(h.table.evict('M0'), false)
      assert.deepEqual(h.forgotten, ['M0'], 'the evicted entry is reported gone, once')
      assert.deepEqual(h.table.ids(['alive']), ['M1'])
    })
  })
  describe('revocation (the admission policy cut a peer off)', () => {
    it('keeps a revoked member listed as revoked, never reaped, and no record about it applies again', () => {
      const h = withMembers(2)
      assert.equal(h.table.revoke('M0'), true)
      assert.equal(h.table.get('M0')?.state, 'revoked')
      assert.ok(h.events.some(([e, id, st]) => e === 'member:dead' && id === 'M0' && st === 'revoked'))
      assert.equal(h.table.revoke('M0'), false)
      // Any signed record, however new, is stale: a revocation is not refuted.
      for (const up of [alive('M0', 99), suspect('M0', 99), dead('M0', 99), left('M0', 99)]) assert.equal(h.table.classify(up.body), 'stale')
      assert.equal(h.table.apply(alive('M0', 100)), 'stale')
      h.clock.tick(MEMBERLIST_LAN.reapAfterMs * 3)
      h.table.reap()
      assert.equal(h.table.get('M0')?.state, 'revoked')
      assert.equal(h.table.countByState().revoked, 1)
      // A peer revoked before we ever heard of it never gets in.
      assert.equal(h.table.revoke('N9'), true)
      assert.equal(h.table.classify(alive('N9', 1).body), 'stale')
      assert.equal(h.table.revoke(SELF), false)
    })
  })
})
