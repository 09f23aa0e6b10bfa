import { strict as assert } from 'node:assert'
import { ReplayGuard } from '../../../protocols/command/replay.js'
import { CommandRefusedError } from '../../../protocols/command/errors.js'

const reason = (r: string) => (e: unknown): boolean => e instanceof CommandRefusedError && e.reason === r

describe('protocols/command/replay: expiry, skew and the bounded replay set', () => {
  const cfg = { expiryWindowMs: 60_000, maxFutureSkewMs: 5_000, seenMax: 3 }
  let now = 1_000_000
  const clock = (): number => now
  beforeEach(() => { now = 1_000_000 })
  const req = (id: string, issuedAt = now, life = 10_000): { id: string, issuedAt: number, expires: number } => ({ id, issuedAt, expires: issuedAt + life })

  it('admits a fresh request once; its replay is refused until and after it expires', () => {
    const g = new ReplayGuard(cfg, clock)
    const r = req('a')
    g.admit(r)
    assert.throws(() => { g.admit(r) }, reason('replayed'))
    now += 9_999
    assert.throws(() => { g.admit(r) }, reason('replayed'))
    now += 1
    assert.throws(() => { g.admit(r) }, reason('expired'))
  })

  it('after a restart (a new guard) refuses a request issued before the start beyond the skew', () => {
    const r = req('old', now, 50_000)
    new ReplayGuard(cfg, clock).admit(r)
    now += 10_000
    const restarted = new ReplayGuard(cfg, clock)
    assert.throws(() => { restarted.admit(r) }, reason('before_start'))
    // Issued within the skew before the start: accepted (the documented window).
    restarted.admit(req('recent', now - 5_000, 50_000))
  })

  it('refuses requests from the future beyond the skew, and ones living longer than the window', () => {
    const g = new ReplayGuard(cfg, clock)
    assert.throws(() => { g.admit(req('f', now + 5_001)) }, reason('future'))
    g.admit(req('g', now + 5_000))
    assert.throws(() => { g.admit(req('l', now, 60_001)) }, reason('too_long'))
    assert.throws(() => { g.admit({ id: 'z', issuedAt: now, expires: now }) }, reason('expired'))
  })

  it('when full of unexpired ids refuses new requests rather than forgetting one; expired ids make room', () => {
    const g = new ReplayGuard(cfg, clock)
    g.admit(req('a', now, 1_000))
    g.admit(req('b', now, 50_000))
    g.admit(req('c', now, 50_000))
    assert.throws(() => { g.admit(req('d')) }, reason('replay_set_full'))
    now += 1_000
    g.admit(req('d'))
    assert.equal(g.size, 3)
    assert.throws(() => { g.admit(req('b', now - 1_000, 50_000)) }, reason('replayed'), 'b is still remembered')
  })
})
