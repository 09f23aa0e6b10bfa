/** lib/clock.ts: the cancel function of setTimer, jittered intervals, the abortable sleep. */
import assert from 'node:assert/strict'
import { jittered, setTimer, sleep } from '../../lib/clock.js'
import { VirtualClock } from '../sim/clock.js'

describe('lib/clock', () => {
  it('setTimer runs once after its delay on the clock it is given; its cancel function stops it', () => {
    const c = new VirtualClock()
    const fired: string[] = []
    setTimer(c, 10, () => fired.push('kept'))
    const cancel = setTimer(c, 5, () => fired.push('cancelled'))
    cancel()
    c.tick(9)
    assert.deepEqual(fired, [])
    c.tick(1)
    assert.deepEqual(fired, ['kept'])
    assert.equal(c.pending, 0)
  })

  it('jittered spreads ms uniformly over ±fraction of it', () => {
    assert.equal(jittered(1000, 0.25, () => 0), 750)
    assert.equal(jittered(1000, 0.25, () => 0.5), 1000)
    assert.equal(jittered(1000, 0.5, () => 0.75), 1250)
    assert.equal(jittered(1000, 0, () => 0.9), 1000)
    for (let i = 0; i < 1000; i++) {
      const v = jittered(200, 0.1)
      assert.ok(v >= 180 && v <= 220, `${v} outside 200 ± 10 %`)
    }
  })

  it('sleep ends early when its signal aborts, and at once when it already has', async () => {
    const ac = new AbortController()
    const started = Date.now()
    const slept = sleep(60_000, ac.signal)
    ac.abort()
    await slept
    await sleep(60_000, ac.signal)
    assert.ok(Date.now() - started < 5_000)
  })
})
