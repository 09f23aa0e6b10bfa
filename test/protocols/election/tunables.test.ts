import { strict as assert } from 'node:assert'
import { electionTunables, MAX_FUTURE_ISSUE_MS, MAX_LEASE_MS } from '../../../protocols/election/constants.js'

describe('election tunables', () => {
  it('fencing safety: a holder renews before any peer can see its lease lapse', () => {
    // lan: renew 15 s + 10 % jitter + 1 s skew = 17.5 s.
    assert.equal(electionTunables.create('lan', { leaseMs: 17_501 }).leaseMs, 17_501)
    assert.throws(() => electionTunables.create('lan', { leaseMs: 17_500 }),
      { name: 'InvalidTunablesError', message: /election.*lan: leaseMs \(17500\) must exceed renewIntervalMs × \(1 \+ jitter\) \+ maxClockSkewMs \(17500\)/ })
    assert.throws(() => electionTunables.create('test', { maxClockSkewMs: 6_000 }), { name: 'InvalidTunablesError', message: /leaseMs \(8000\) must exceed renewIntervalMs/ })
    assert.equal(electionTunables.create('wan', { renewIntervalMs: 14_500 }).renewIntervalMs, 14_500)
    assert.throws(() => electionTunables.create('wan', { jitter: 0.99, renewIntervalMs: 14_500 }), { name: 'InvalidTunablesError', message: /leaseMs \(30000\) must exceed renewIntervalMs/ })
  })

  it('the contact lapse can only shorten a lease, and leaves a holder time to act', () => {
    assert.equal(electionTunables.create('lan', { contactLapseMs: 45_000 }).contactLapseMs, 45_000)
    assert.throws(() => electionTunables.create('lan', { contactLapseMs: 45_001 }), { name: 'InvalidTunablesError', message: /contactLapseMs \(45001\) must not exceed leaseMs \(45000\)/ })
    assert.equal(electionTunables.create('lan', { contactLapseMs: 2_001 }).contactLapseMs, 2_001)
    assert.throws(() => electionTunables.create('lan', { contactLapseMs: 2_000 }), { name: 'InvalidTunablesError', message: /contactLapseMs \(2000\) must exceed 2 × maxClockSkewMs \(2000\)/ })
  })

  it('a new term is still active once it has settled', () => {
    assert.throws(() => electionTunables.create('test', { claimSettleMs: 7_700 }), { name: 'InvalidTunablesError', message: /leaseMs \(8000\) must exceed claimSettleMs \+ maxClockSkewMs \(8000\)/ })
  })

  it('leases and skews stay within what every record validator accepts', () => {
    assert.throws(() => electionTunables.create('wan', { leaseMs: MAX_LEASE_MS + 1 }), { name: 'InvalidTunablesError', message: /leaseMs .* must not exceed MAX_LEASE_MS/ })
    assert.throws(() => electionTunables.create('wan', { leaseMs: MAX_LEASE_MS, maxClockSkewMs: MAX_FUTURE_ISSUE_MS / 2 + 1 }), { name: 'InvalidTunablesError', message: /2 × maxClockSkewMs .* must not exceed MAX_FUTURE_ISSUE_MS/ })
  })
})
