/** The simulators' virtual clock (harness/sim/clock.ts): order, cancellation, scopes, async driving, globals. */
import assert from 'node:assert/strict'
import { setTimer } from '../../lib/clock.js'
import { VirtualClock } from './clock.js'

describe('sim: virtual clock', () => {
  it('fires timers in time order, ties in the order they were set, and moves time only when told', () => {
    const c = new VirtualClock(1000)
    const fired: string[] = []
    c.setTimeout(() => fired.push(`b@${c.now()}`), 20)
    c.setTimeout(() => fired.push(`a@${c.now()}`), 10)
    c.setTimeout(() => fired.push(`c@${c.now()}`), 20)
    c.setTimeout(() => {
      fired.push(`d@${c.now()}`)
      c.setTimeout(() => fired.push(`e@${c.now()}`), 0) // due now: still within this tick
    }, 20)
    assert.equal(c.now(), 1000)
    assert.equal(c.pending, 4)
    c.tick(19)
    assert.deepEqual(fired, ['a@1010'])
    assert.equal(c.now(), 1019)
    c.tick(100)
    assert.deepEqual(fired, ['a@1010', 'b@1020', 'c@1020', 'd@1020', 'e@1020'])
    assert.equal(c.now(), 1119)
    assert.equal(c.pending, 0)
  })

  it('cancels by clearTimeout and by the cancel function of setTimer (lib/clock.ts, what the BFT keeps); intervals repeat until cleared', () => {
    const c = new VirtualClock()
    const fired: string[] = []
    const t = c.setTimeout(() => fired.push('cleared'), 5)
    const cancel = setTimer(c, 5, () => fired.push('cancelled'))
    setTimer(c, 5, () => fired.push('kept'))
    c.clearTimeout(t)
    cancel()
    c.clearTimeout(t) // twice is harmless
    let n = 0
    const iv = c.setInterval(() => { if (++n === 3) c.clearInterval(iv) }, 10)
    assert.equal(c.pending, 2)
    c.tick(100)
    assert.deepEqual(fired, ['kept'])
    assert.equal(n, 3)
    assert.equal(c.pending, 0)
    assert.equal(c.nextAt(), undefined)
  })

  it('a scope\'s timers all die with cancelAll, including ones set afterwards', () => {
    const c = new VirtualClock()
    const s = c.scope()
    const fired: string[] = []
    s.setTimeout(() => fired.push('scoped'), 10)
    setTimer(s, 10, () => fired.push('scoped timer'))
    c.setTimeout(() => fired.push('global'), 10)
    s.cancelAll()
    s.setTimeout(() => fired.push('after death'), 1)
    c.tick(20)
    assert.deepEqual(fired, ['global'])
  })

  it('run awaits each timer and settles before the next; stopBefore halts without firing; until leaves the clock there', async () => {
    const c = new VirtualClock()
    const log: string[] = []
    c.setTimeout(async () => {
      await Promise.resolve()
      log.push(`slow done@${c.now()}`)
    }, 10)
    c.setTimeout(() => log.push(`next@${c.now()}`), 10)
    c.setTimeout(() => log.push('late'), 50)
    const fired = await c.run({ until: 40 })
    assert.equal(fired, 2)
    assert.deepEqual(log, ['slow done@10', 'next@10'])
    assert.equal(c.now(), 40)
    assert.equal(await c.run({ stopBefore: at => at >= 50 }), 0)
    assert.equal(c.now(), 40, 'stopped before the timer: time did not move')
    assert.equal(await c.run(), 1)
    assert.equal(c.now(), 50)
  })

  it('tickAsync lets promise chains started by a timer run before the next timer, as fake timers do', async () => {
    const c = new VirtualClock()
    const log: string[] = []
    c.setTimeout(() => { void (async () => { await null; await null; log.push('chain') })() }, 10)
    c.setTimeout(() => log.push('second'), 10)
    await c.tickAsync(10)
    assert.deepEqual(log, ['chain', 'second'])
  })

  it('install replaces the global timers and Date until uninstalled', async () => {
    const c = new VirtualClock(1_700_000_000_000)
    const realNow = Date.now()
    const uninstall = c.install()
    try {
      assert.equal(Date.now(), 1_700_000_000_000)
      assert.equal(new Date().getTime(), 1_700_000_000_000)
      assert.equal(new Date(5).getTime(), 5)
      let fired = false
      const t = setTimeout(() => { fired = true }, 1000)
      t.unref()
      await c.tickAsync(999)
      assert.equal(fired, false)
      await c.tickAsync(1)
      assert.equal(fired, true)
      assert.equal(Date.now(), 1_700_000_001_000)
    } finally {
      uninstall()
    }
    assert.ok(Date.now() >= realNow && Date.now() < realNow + 600_000)
  })
})
