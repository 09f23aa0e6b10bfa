/** host/backoff.ts: the restart delay and systemd's start limit, as properties over generated histories. */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { recentStarts, restartDelay, startLimitHit, type RestartPolicy } from '../../host/backoff.js'
import { hostTunables } from '../../host/constants.js'

const policyArb: fc.Arbitrary<RestartPolicy> = fc.record({
  backoffMinMs: fc.integer({ min: 1, max: 10_000 }),
  extra: fc.integer({ min: 0, max: 100_000 }),
  backoffJitter: fc.double({ min: 0, max: 0.99, noNaN: true }),
  backoffResetMs: fc.integer({ min: 1, max: 100_000 }),
  startLimitBurst: fc.integer({ min: 1, max: 20 }),
  startLimitIntervalMs: fc.integer({ min: 1, max: 1_000_000 })
}).map(({ extra, ...p }) => ({ ...p, backoffMaxMs: p.backoffMinMs + extra }))

describe('host/backoff', () => {
  it('the delay doubles from the minimum per quick exit, is capped at the maximum, and stays within its jitter', () => {
    fc.assert(fc.property(policyArb, fc.integer({ min: 0, max: 2000 }), fc.double({ min: 0, max: 0.999999, noNaN: true }), (p, n, r) => {
      const base = Math.min(p.backoffMaxMs, p.backoffMinMs * 2 ** n)
      const d = restartDelay(n, p, () => r)
      assert.ok(Number.isFinite(d) && d >= 0)
      assert.ok(d >= Math.floor(base * (1 - p.backoffJitter)) && d <= Math.ceil(base * (1 + p.backoffJitter)), `${d} outside ${base} ± ${p.backoffJitter}`)
      // Without jitter: exactly min·2^n, capped, never decreasing in n.
      const flat = { ...p, backoffJitter: 0 }
      assert.equal(restartDelay(n, flat), Math.round(base))
      assert.ok(restartDelay(n + 1, flat) >= restartDelay(n, flat))
    }))
  })

  it('a start is refused exactly when `burst` starts lie in the interval before it', () => {
    fc.assert(fc.property(policyArb, fc.array(fc.integer({ min: 0, max: 2_000_000 }), { maxLength: 40 }), fc.integer({ min: 0, max: 2_000_000 }), fc.integer({ min: 0, max: 2_000_000 }), (p, starts, at, back) => {
      const within = starts.filter(s => s > at - p.startLimitIntervalMs && s <= at).length
      assert.equal(startLimitHit(starts, at, p), within >= p.startLimitBurst)
      // Pruning at any earlier time never changes the answer for this start.
      const now = at - back
      assert.equal(startLimitHit(recentStarts(starts, now, p), at, p), startLimitHit(starts, at, p))
    }))
  })

  it('with the default profiles a crash loop at the longest delay still reaches the start limit', () => {
    for (const profile of ['lan', 'wan', 'test'] as const) {
      const t = hostTunables.defaults(profile)
      const starts: number[] = []
      let now = 0
      for (let n = 0; ; n++) {
        const at = now + restartDelay(100, t, () => 0.999999)
        if (startLimitHit(starts, at, t)) break
        assert.ok(n < t.startLimitBurst, `${profile}: no refusal after ${n} starts`)
        starts.push(at)
        now = at
      }
    }
  })
})
