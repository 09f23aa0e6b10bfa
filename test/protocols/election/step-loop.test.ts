/**
 * The loop that drives a role slot (protocols/election/step-loop.ts): one
 * step at a time, wake-ups during a step coalesced into one more, the step's
 * own delay, halt. On the virtual clock of test/sim.
 */
import { strict as assert } from 'node:assert'
import { StepLoop } from '../../../protocols/election/step-loop.js'
import { VirtualClock } from '../../sim/clock.js'

const DEFAULT_MS = 1_000

describe('election: step loop', () => {
  let clock: VirtualClock
  let uninstall: () => void
  let loop: StepLoop | undefined
  beforeEach(() => {
    clock = new VirtualClock(0)
    uninstall = clock.install()
  })
  afterEach(async () => {
    await loop?.halt()
    loop = undefined
    uninstall()
  })

  /** A loop whose steps record their start time and wait for `release()` while `gated`. */
  function make (delays: Array<number | undefined> = []): { starts: number[], errors: unknown[], gate: { gated: boolean, release: () => void }, loop: StepLoop } {
    const starts: number[] = []
    const errors: unknown[] = []
    let open: () => void = () => {}
    const gate = { gated: false, release: () => { open() } }
    loop = new StepLoop({
      step: async () => {
        starts.push(clock.now())
        if (gate.gated) await new Promise<void>(resolve => { open = resolve })
        const d = delays.shift()
        if (d === -1) throw new Error('step failed')
        return d
      },
      defaultDelay: () => DEFAULT_MS,
      onError: (err) => { errors.push(err) }
    })
    return { starts, errors, gate, loop }
  }

  it('wake-ups during a step run exactly one more step right after it, then the default delay', async () => {
    const { starts, gate, loop } = make()
    gate.gated = true
    loop.after(10)
    await clock.tickAsync(10)
    assert.deepEqual(starts, [10])
    loop.wake()
    loop.wake()
    loop.wake()
    gate.gated = false
    gate.release()
    await clock.tickAsync(0)
    assert.deepEqual(starts, [10, 10], 'three wake-ups during the step: one more step')
    await clock.tickAsync(DEFAULT_MS - 1)
    assert.equal(starts.length, 2)
    await clock.tickAsync(1)
    assert.deepEqual(starts, [10, 10, 10 + DEFAULT_MS])
  })

  it('a wake-up while waiting replaces the timer; the delay a step returns sets the next one', async () => {
    const { starts, loop } = make([250, undefined])
    loop.after(500)
    await clock.tickAsync(100)
    loop.wake()
    await clock.tickAsync(0)
    assert.deepEqual(starts, [100])
    await clock.tickAsync(1_000)
    assert.deepEqual(starts, [100, 350], 'the step asked for 250 ms, and the timer of 500 ms was replaced')
    await clock.tickAsync(DEFAULT_MS)
    assert.deepEqual(starts, [100, 350, 350 + DEFAULT_MS])
  })

  it('halt waits for the step in progress, and no step starts after it', async () => {
    const { starts, gate, loop } = make()
    gate.gated = true
    loop.after(0)
    await clock.tickAsync(0)
    let halted = false
    const done = loop.halt().then(() => { halted = true })
    loop.wake()
    await clock.tickAsync(0)
    assert.equal(halted, false, 'halt resolved while a step was still running')
    gate.gated = false
    gate.release()
    await done
    loop.wake()
    loop.after(0)
    await clock.tickAsync(10 * DEFAULT_MS)
    assert.deepEqual(starts, [0])
  })

  it('a step that throws is reported, and the loop steps again after the default delay', async () => {
    const { starts, errors, loop } = make([-1])
    loop.after(0)
    await clock.tickAsync(0)
    assert.equal(errors.length, 1)
    await clock.tickAsync(DEFAULT_MS)
    assert.deepEqual(starts, [0, DEFAULT_MS])
  })
})
