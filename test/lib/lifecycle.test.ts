import { expect } from 'chai'
import fc from 'fast-check'
import { Lifecycle, LifecycleStateError, StartError, type Startable } from '../../lib/lifecycle.js'

/** A part that records every hook call into a shared journal and can be told to fail one hook. */
function part (name: string, journal: string[], failOn?: keyof Startable): Startable {
  const hook = (h: keyof Startable) => () => {
    journal.push(`${name}.${h}`)
    if (failOn === h) throw new Error(`${name} ${h} boom`)
  }
  return {
    beforeStart: hook('beforeStart'),
    start: hook('start'),
    afterStart: hook('afterStart'),
    beforeStop: hook('beforeStop'),
    stop: hook('stop'),
    afterStop: hook('afterStop')
  }
}

describe('lib/lifecycle', () => {
  it('starts in order with hooks, stops in reverse with beforeStop while all run', async () => {
    const j: string[] = []
    const lc = new Lifecycle()
    lc.add('a', part('a', j)); lc.add('b', part('b', j)); lc.add('c', part('c', j))
    await lc.start()
    expect(lc.state).to.equal('started')
    expect(j).to.deep.equal(['a.beforeStart', 'a.start', 'b.beforeStart', 'b.start', 'c.beforeStart', 'c.start', 'a.afterStart', 'b.afterStart', 'c.afterStart'])
    j.length = 0
    await lc.stop()
    await lc.stop()
    expect(j).to.deep.equal(['c.beforeStop', 'b.beforeStop', 'a.beforeStop', 'c.stop', 'b.stop', 'a.stop', 'c.afterStop', 'b.afterStop', 'a.afterStop'])
    expect(lc.state).to.equal('stopped')
  })

  it('a failed start stops what already started, newest first, and names the part', async () => {
    const j: string[] = []
    const lc = new Lifecycle()
    lc.add('a', part('a', j)); lc.add('b', part('b', j)); lc.add('c', part('c', j, 'start')); lc.add('d', part('d', j))
    const err = await lc.start().then(() => undefined, (e: unknown) => e)
    expect(err).to.be.instanceOf(StartError)
    expect((err as StartError).part).to.equal('c')
    expect((err as StartError).message).to.contain('c start boom')
    // c threw inside start: it is stopped too (stop is safe on a half-started part); d never started.
    expect(j.slice(j.indexOf('c.start') + 1)).to.deep.equal(['c.stop', 'b.stop', 'a.stop', 'c.afterStop', 'b.afterStop', 'a.afterStop'])
    expect(j.some(x => x.startsWith('d.'))).to.equal(false)
    expect(lc.state).to.equal('stopped')
  })

  it('keeps stopping when a part fails to stop, and reports it', async () => {
    const j: string[] = []
    const errors: string[] = []
    const lc = new Lifecycle({ onStopError: (p, h) => errors.push(`${p}.${h}`) })
    lc.add('a', part('a', j)); lc.add('b', part('b', j, 'stop')); lc.add('c', part('c', j))
    await lc.start()
    await lc.stop()
    expect(errors).to.deep.equal(['b.stop'])
    expect(j.filter(x => x.endsWith('.stop'))).to.deep.equal(['c.stop', 'b.stop', 'a.stop'])
  })

  it('rollback leaves exactly the entered parts stopped, for any failing part and hook', async () => {
    const hooks = ['beforeStart', 'start', 'afterStart'] as const
    await fc.assert(fc.asyncProperty(fc.integer({ min: 1, max: 6 }), fc.nat(), fc.constantFrom(...hooks), async (n, failAt, hook) => {
      const j: string[] = []
      const lc = new Lifecycle()
      const failing = failAt % n
      for (let i = 0; i < n; i++) lc.add(`p${i}`, part(`p${i}`, j, i === failing ? hook : undefined))
      await lc.start().then(() => { throw new Error('start should fail') }, (e: unknown) => { expect(e).to.be.instanceOf(StartError) })
      const entered = new Set(j.filter(x => x.endsWith('.beforeStart')).map(x => x.split('.')[0]))
      const stopped = j.filter(x => x.endsWith('.stop')).map(x => x.split('.')[0])
      expect(new Set(stopped)).to.deep.equal(entered)
      // newest first
      expect(stopped).to.deep.equal([...entered].reverse())
    }), { numRuns: 100 })
  })

  it('refuses parts added after start and duplicate names', async () => {
    const lc = new Lifecycle()
    lc.add('a', part('a', []))
    expect(() => lc.add('a', part('a', []))).to.throw(/twice/)
    await lc.start()
    expect(() => lc.add('b', part('b', []))).to.throw(/started/)
    await lc.stop()
  })

  it('startPart starts each part as it is built; finishStart runs afterStart; stop is the same', async () => {
    const j: string[] = []
    const events: string[] = []
    const lc = new Lifecycle({ onPart: (p, e) => events.push(`${p} ${e}`) })
    await lc.startPart('a', part('a', j))
    // b is built only once a has started.
    await lc.startPart('b', () => { j.push('build b'); return part('b', j) })
    expect(lc.state).to.equal('starting')
    await lc.finishStart()
    expect(lc.state).to.equal('started')
    expect(j).to.deep.equal(['a.beforeStart', 'a.start', 'build b', 'b.beforeStart', 'b.start', 'a.afterStart', 'b.afterStart'])
    j.length = 0
    await lc.stop()
    expect(j).to.deep.equal(['b.beforeStop', 'a.beforeStop', 'b.stop', 'a.stop', 'b.afterStop', 'a.afterStop'])
    expect(events).to.deep.equal(['a started', 'b started', 'b stopped', 'a stopped'])
  })

  it('a build that throws is that part\'s failed start: the started parts are stopped, newest first', async () => {
    const j: string[] = []
    const lc = new Lifecycle()
    await lc.startPart('a', part('a', j))
    await lc.startPart('b', part('b', j))
    const err = await lc.startPart('c', () => { throw new Error('cannot build c') }).then(() => undefined, (e: unknown) => e)
    expect(err).to.be.instanceOf(StartError)
    expect((err as StartError).part).to.equal('c')
    expect((err as StartError).message).to.equal('c failed to start: cannot build c')
    expect(j.slice(j.indexOf('b.start') + 1)).to.deep.equal(['b.stop', 'a.stop', 'b.afterStop', 'a.afterStop'])
    expect(lc.state).to.equal('stopped')
    // Nothing more starts on a rolled-back lifecycle.
    await lc.startPart('d', part('d', j)).then(() => { throw new Error('should refuse') }, (e: unknown) => { expect(e).to.be.instanceOf(LifecycleStateError) })
  })

  it('startPart refuses to mix with add, and parts after finishStart', async () => {
    const mixed = new Lifecycle()
    mixed.add('a', part('a', []))
    await mixed.startPart('b', part('b', [])).then(() => { throw new Error('should refuse') }, (e: unknown) => { expect(e).to.be.instanceOf(LifecycleStateError) })
    const lc = new Lifecycle()
    await lc.startPart('a', part('a', []))
    await lc.finishStart()
    await lc.startPart('b', part('b', [])).then(() => { throw new Error('should refuse') }, (e: unknown) => { expect(e).to.be.instanceOf(LifecycleStateError) })
    await lc.stop()
  })
})
