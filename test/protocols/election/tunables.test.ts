import { strict as assert } from 'node:assert'
import { electionTunables, MAX_FUTURE_ISSUE_MS, MAX_LEASE_MS } from '../../../protocols/election/constants.js'

describe('election tunables', () => {
  it('fencing safety: a holder renews before any peer can see its lease lapse', () => {
    // lan: renew 30 s + 10 % jitter + 1 s skew = 34 s.
    assert.equal(electionTunables.create('lan', { leaseMs: 34_001 }).leaseMs, 34_001)
    assert.throws(() => electionTunables.create('lan', { leaseMs: 34_000 }),
      { name: 'InvalidTunablesError', message: /election.*lan: leaseMs \(34000\) must exceed renewIntervalMs × \(1 \+ jitter\) \+ maxClockSkewMs \(34000\)/ })
    assert.throws(() => electionTunables.create('test', { maxClockSkewMs: 6_000 }), { name: 'InvalidTunablesError', message: /leaseMs \(8000\) must exceed renewIntervalMs/ })
    assert.equal(electionTunables.create('wan', { renewIntervalMs: 14_500 }).renewIntervalMs, 14_500)
    assert.throws(() => electionTunables.create('wan', { jitter: 0.99, renewIntervalMs: 14_500 }), { name: 'InvalidTunablesError', message: /leaseMs \(30000\) must exceed renewIntervalMs/ })
  })

  it('the contact lapse can only shorten a lease, and leaves a holder time to act', () => {
    assert.equal(electionTunables.create('lan', { contactLapseMs: 90_000 }).contactLapseMs, 90_000)
    assert.throws(() => electionTunables.create('lan', { contactLapseMs: 90_001 }), { name: 'InvalidTunablesError', message: /contactLapseMs \(90001\) must not exceed leaseMs \(90000\)/ })
    assert.equal(electionTunables.create('lan', { contactLapseMs: 2_001 }).contactLapseMs, 2_001)
    assert.throws(() => electionTunables.create('lan', { contactLapseMs: 2_000 }), { name: 'InvalidTunablesError', message: /contactLapseMs \(2000\) must exceed 2 × maxClockSkewMs \(2000\)/ })
  })

  it('a holder hands over no sooner than the winner would claim', () => {
    assert.equal(electionTunables.create('lan', { handoverSettleMs: 2_000 }).handoverSettleMs, 2_000)
    assert.throws(() => electionTunables.create('lan', { handoverSettleMs: 1_999 }), { name: 'InvalidTunablesError', message: /handoverSettleMs \(1999\) must not be below viewSettleMs \(2000\)/ })
  })

  it('a new term is still active once it has settled', () => {
    assert.throws(() => electionTunables.create('test', { claimSettleMs: 7_700 }), { name: 'InvalidTunablesError', message: /leaseMs \(8000\) must exceed claimSettleMs \+ maxClockSkewMs \(8000\)/ })
  })

  it('leases and skews stay within what every record validator accepts', () => {
    assert.throws(() => electionTunables.create('wan', { leaseMs: MAX_LEASE_MS + 1 }), { name: 'InvalidTunablesError', message: /leaseMs .* must not exceed MAX_LEASE_MS/ })
    assert.throws(() => electionTunables.create('wan', { leaseMs: MAX_LEASE_MS, maxClockSkewMs: MAX_FUTURE_ISSUE_MS / 2 + 1 }), { name: 'InvalidTunablesError', message: /2 × maxClockSkewMs .* must not exceed MAX_FUTURE_ISSUE_MS/ })
  })
})
