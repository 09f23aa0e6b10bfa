/**
 * The catch-up push-pulls after a join (protocols/membership/push-pull.ts,
 * cfg.pushPullCatchUpMs): digests at doubling gaps from the first catch-up
 * gap until the gap reaches the periodic interval, then the periodic one; a
 * node that knows no live member has no catch-up to run.
 */
import assert from 'node:assert/strict'
import pino from 'pino'
import { membershipConfig, pushPullIntervalFor } from '../../../protocols/membership/constants.js'
import { PushPull } from '../../../protocols/membership/push-pull.js'
import { VirtualClock } from '../../sim/clock.js'
import { prng } from '../../../harness/prng.js'
import { ignoreCalls, swimClock } from './fake-context.js'


async function syncTimes (profile: 'lan' | 'wan' | 'test', aliveAt: (nowMs: number) => string[], minutes: number): Promise<Array<{ at: number, full: boolean }>> {
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
    table: { ids: () => alive(), get: (id: string) => alive().includes(id) ? { state: 'alive' } : undefined, estimateN: () => alive().length + 1 },
    // Connected to every live member: no stranger to join through.
    peers: { getPeers: () => alive().map(id => ({ toString: () => id })) },
    transport: { handle: async () => {}, unhandle: async () => {} }
  }
  const pp = new PushPull(ctx as any)
  const calls: Array<{ at: number, full: boolean }> = []
  pp.sync = async (_peer: string, full: boolean) => { calls.push({ at: clock.now(), full }) }
  await pp.start()
  await clock.run({ until: minutes * 60_000 })
  shutdown.abort()
  await clock.run({ until: minutes * 60_000 + 1 })
  await pp.stop()
  return calls
}

describe('membership push-pull catch-up after a join', () => {
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
})
