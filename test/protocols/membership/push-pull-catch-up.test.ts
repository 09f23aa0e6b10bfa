/**
 * The push-pull schedule and partners (protocols/membership/push-pull.ts):
 * after a join, catch-ups (cfg.pushPullCatchUpMs) at doubling gaps until the
 * gap reaches the periodic interval, then the periodic one; a node that knows
 * no live member has no catch-up to run; every periodic sync goes to a live
 * member this node is connected to, a random one after a sync that failed.
 */
import assert from 'node:assert/strict'
import pino from 'pino'
import { membershipConfig, pushPullIntervalFor } from '../../../protocols/membership/constants.js'
import { PushPull } from '../../../protocols/membership/push-pull.js'
import { VirtualClock } from '../../sim/clock.js'
import { prng } from '../../../harness/prng.js'
import { ignoreCalls, swimClock } from './fake-context.js'


const DEAD = 'gone'

async function syncTimes (profile: 'lan' | 'wan' | 'test', aliveAt: (nowMs: number) => string[], minutes: number, connectedTo?: string[], answers: (peer: string) => boolean = () => true): Promise<Array<{ at: number, full: boolean, peer: string }>> {
  const cfg = membershipConfig(profile)
  const clock = new VirtualClock(0)
  const shutdown = new AbortController()
  const alive = (): string[] => aliveAt(clock.now())
  const ctx = {
    cfg,
    selfId: 'self',
    signal: shutdown.signal,
    clock: swimClock(clock),
    random: prng(42),
    log: pino({ level: 'silent' }),
    metrics: ignoreCalls,
    // DEAD has a record, not an alive one: a member this node may still hold a connection to.
    table: { ids: () => alive(), get: (id: string) => alive().includes(id) ? { state: 'alive' } : id === DEAD ? { state: 'dead' } : undefined, estimateN: () => alive().length + 1 },
    // Connected to every live member unless told otherwise: no stranger to join through.
    peers: { getPeers: () => (connectedTo ?? alive()).map(id => ({ toString: () => id })) },
    transport: { handle: async () => {}, unhandle: async () => {} }
  }
  const pp = new PushPull(ctx as any)
  const calls: Array<{ at: number, full: boolean, peer: string }> = []
  pp.sync = async (peer: string, full: boolean) => { calls.push({ at: clock.now(), full, peer }); return answers(peer) }
  await pp.start()
  await clock.run({ until: minutes * 60_000 })
  shutdown.abort()
  await clock.run({ until: minutes * 60_000 + 1 })
  await pp.stop()
  return calls
}

describe('membership push-pull schedule and partners', () => {
  for (const profile of ['lan', 'wan', 'test'] as const) {
    it(`${profile}: digests at doubling gaps until they reach the periodic interval, then the periodic interval`, async () => {
      const cfg = membershipConfig(profile)
      const calls = await syncTimes(profile, () => ['a', 'b'], 5)
      const interval = pushPullIntervalFor(cfg.pushPullIntervalMs, 3)
      const want: number[] = []
      for (let g = cfg.pushPullCatchUpMs; g < interval; g *= 2) want.push(g)
      assert.ok(want.length >= 2, 'the profile has catch-ups to check')
      assert.ok(calls.every(c => !c.full), 'catch-ups and periodic syncs start with the digest')
      const gaps = calls.map((c, i) => c.at - (i === 0 ? 0 : calls[i - 1].at))
      want.forEach((g, i) => {
        // The first counts from the start: the loop notices the join at its first wake-up (the probe cadence).
        const slack = i === 0 ? cfg.probeIntervalMs * 1.25 : 0
        assert.ok(gaps[i] >= g * 0.75 && gaps[i] <= g * 1.25 + slack + 1, `catch-up ${i}: ${gaps[i]} ms, expected ${g} ± 25 %`)
      })
      const periodic = gaps.slice(want.length)
      assert.ok(periodic.length >= 2, `${periodic.length} periodic syncs in 5 minutes`)
      for (const g of periodic) assert.ok(g >= interval * 0.75 && g <= interval * 1.25 + 1, `periodic gap ${g} ms, expected ${interval} ± 25 %`)
    })
  }

  it('runs no sync before the node knows a live member, and starts the catch-up when it joins', async () => {
    const cfg = membershipConfig('lan')
    assert.deepEqual(await syncTimes('lan', () => [], 3), [], 'alone: nothing to sync with')
    const joinAt = 20_000
    const calls = await syncTimes('lan', now => now >= joinAt ? ['a'] : [], 2)
    assert.ok(calls.length > 0)
    // The loop notices the join at its next wake-up (the probe cadence while isolated).
    const first = calls[0].at - joinAt
    assert.ok(first >= cfg.pushPullCatchUpMs * 0.75 && first <= cfg.probeIntervalMs * 1.25 + cfg.pushPullCatchUpMs * 1.25 + 1, `first catch-up ${first} ms after the join`)
  })

  it('sends every sync, catch-up or periodic, to a live member it is connected to while it has one', async () => {
    const cfg = membershipConfig('lan')
    const members = Array.from({ length: 40 }, (_, i) => `m${i}`)
    const connected = ['m3', 'm17']
    // Also connected: a member that is dead in our view; never a partner.
    const calls = await syncTimes('lan', () => members, 10, [...connected, DEAD])
    const interval = pushPullIntervalFor(cfg.pushPullIntervalMs, members.length + 1)
    let catchUps = 0
    for (let g = cfg.pushPullCatchUpMs; g < interval; g *= 2) catchUps++
    assert.ok(catchUps >= 2 && calls.length > catchUps + 3, `${calls.length} syncs, ${catchUps} of them catch-ups`)
    for (const c of calls) assert.ok(connected.includes(c.peer), `sync at ${c.at} ms went to ${c.peer}, not a connected member`)
    // Both links are used: the choice among them is random, not always the first.
    assert.deepEqual(new Set(calls.map(c => c.peer)), new Set(connected))
  })

  it('with no link to a live member, syncs with random live members', async () => {
    const members = Array.from({ length: 40 }, (_, i) => `m${i}`)
    const calls = await syncTimes('lan', () => members, 10, [])
    assert.ok(calls.length > 5, `${calls.length} syncs`)
    assert.ok(new Set(calls.map(c => c.peer)).size > 3, `syncs went to ${[...new Set(calls.map(c => c.peer))].join(', ')} only`)
  })

  it('after a sync that failed, syncs with a random live member, then goes back to its link', async () => {
    const members = Array.from({ length: 40 }, (_, i) => `m${i}`)
    // The one link never answers; everyone else does.
    const calls = await syncTimes('lan', () => members, 20, ['m3'], peer => peer !== 'm3')
    assert.ok(calls.length > 8, `${calls.length} syncs`)
    calls.forEach((c, i) => {
      if (i === 0) return
      const prev = calls[i - 1].peer
      if (prev === 'm3') assert.notEqual(c.peer, 'm3', `sync ${i} at ${c.at} ms went to the link that just failed`)
      else assert.equal(c.peer, 'm3', `sync ${i} at ${c.at} ms after a good one left the link for ${c.peer}`)
    })
  })
})
