/**
 * The testground `revocation` case's judgements (testground/plans/mycel/lib/revocation-check.js): when an
 * observer counts the victim as cut off, when the victim counts as alone, and the run's quantiles.
 */
import { strict as assert } from 'node:assert'
import { createRequire } from 'node:module'
import fc from 'fast-check'
import { summarize as runnerSummary } from '../../testground/runner/outcome.js'

interface View { revoked: Array<{ peerId: string }>, connected: Array<{ peerId: string, verdict: string }> }
interface Member { peerId: string, state: string }
interface Report { seq: number, victim: boolean, cutMs?: number, metricMs?: number, isolatedMs?: number }
interface Quantiles { count: number, p50: number, p95: number, max: number }

const require = createRequire(import.meta.url)
const check = require('../../testground/plans/mycel/lib/revocation-check.js') as {
  standing: (view: View, members: Member[] | null, victim: string) => { revoked: boolean, disconnected: boolean, listedRevoked: boolean, cutOff: boolean }
  firstIsolated: (samples: Array<{ t: number, connected: number }>, from: number) => number | undefined
  quantiles: (values: number[]) => Quantiles | undefined
  summarize: (reports: Report[]) => Record<string, number>
  revocationMetric: (text: string) => { sum: number, count: number }
}

const V = 'victim'
const view = (revoked: boolean, connected: string | undefined): View => ({
  revoked: revoked ? [{ peerId: V }] : [{ peerId: 'other' }],
  connected: [{ peerId: 'a', verdict: 'admitted' }, ...(connected !== undefined ? [{ peerId: V, verdict: connected }] : [])]
})

describe('testground revocation case: checks', () => {
  it('counts the victim cut off only when revoked in the policy, with no connection in any verdict, and listed revoked', () => {
    const members = (state: string): Member[] => [{ peerId: 'a', state: 'alive' }, { peerId: V, state }]
    assert.equal(check.standing(view(true, undefined), members('revoked'), V).cutOff, true)
    assert.equal(check.standing(view(false, undefined), members('revoked'), V).cutOff, false)
    // A redial the gater is still refusing is a connection.
    assert.equal(check.standing(view(true, 'pending'), members('revoked'), V).cutOff, false)
    assert.equal(check.standing(view(true, 'admitted'), members('revoked'), V).cutOff, false)
    assert.equal(check.standing(view(true, undefined), members('alive'), V).cutOff, false)
    assert.equal(check.standing(view(true, undefined), members('dead'), V).cutOff, false)
    assert.equal(check.standing(view(true, undefined), null, V).cutOff, false)
    assert.equal(check.standing(view(true, undefined), [], V).cutOff, false)
  })

  it('takes the victim as alone at its first connection-free sample from the block time on', () => {
    const samples = [{ t: 10, connected: 0 }, { t: 20, connected: 3 }, { t: 30, connected: 1 }, { t: 40, connected: 0 }, { t: 50, connected: 1 }]
    assert.equal(check.firstIsolated(samples, 15), 40)
    assert.equal(check.firstIsolated(samples, 5), 10)
    assert.equal(check.firstIsolated(samples, 41), undefined)
  })

  it('computes the same nearest-rank quantiles as the runner', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 1e6 }), { minLength: 1, maxLength: 60 }), values => {
      const q = check.quantiles(values) as Quantiles
      const r = runnerSummary(values)
      assert.ok(r !== null)
      assert.deepEqual([q.count, q.p50, q.p95, q.max], [r.count, r.p50, r.p95, r.max])
      assert.ok(q.p50 <= q.p95 && q.p95 <= q.max)
      assert.equal(q.max, Math.max(...values))
    }))
    assert.equal(check.quantiles([]), undefined)
  })

  it('summarises the observers only, and refuses a run with an observer that measured nothing', () => {
    const reports: Report[] = [
      { seq: 1, victim: false, cutMs: 120, metricMs: 40 },
      { seq: 2, victim: false, cutMs: 300 },
      { seq: 3, victim: false, cutMs: 200, metricMs: 60 },
      { seq: 4, victim: true, isolatedMs: 90 }
    ]
    assert.deepEqual(check.summarize(reports), {
      observers: 3,
      revocation_p50_ms: 200,
      revocation_p95_ms: 300,
      revocation_max_ms: 300,
      closed_observers: 2,
      close_p50_ms: 40,
      close_p95_ms: 60,
      close_max_ms: 60,
      victim_isolated_ms: 90
    })
    assert.throws(() => check.summarize([...reports, { seq: 5, victim: false }]), /no revocation measurement from instance\(s\) 5/)
  })

  it('reads the agent\'s revocation histogram from Prometheus text', () => {
    const text = [
      '# HELP mycel_admission_revocation_seconds From the commit',
      '# TYPE mycel_admission_revocation_seconds histogram',
      'mycel_admission_revocation_seconds_bucket{le="0.1"} 1',
      'mycel_admission_revocation_seconds_bucket{le="+Inf"} 1',
      'mycel_admission_revocation_seconds_sum 0.042',
      'mycel_admission_revocation_seconds_count 1',
      'mycel_other_seconds_sum 9'
    ].join('\n')
    assert.deepEqual(check.revocationMetric(text), { sum: 0.042, count: 1 })
    assert.deepEqual(check.revocationMetric('mycel_other_seconds_sum 9\n'), { sum: 0, count: 0 })
  })
})
