/**
 * The testground `rollout` case's checks (testground/plans/mycel/lib/rollout-check.js): what fails the run
 * when instances switched twice, stayed on the bad version or were down together beyond max-unavailable.
 */
import { strict as assert } from 'node:assert'
import { createRequire } from 'node:module'
import fc from 'fast-check'

interface Change { t: number, version: string | null, state: string, health: string }
interface Timeline { seq: number, v2Start: number, v3Start: number, changes: Change[] }

const require = createRequire(import.meta.url)
const check = require('../../testground/plans/mycel/lib/rollout-check.js') as {
  isUp: (c: Change) => boolean
  maxDown: (timelines: Change[][]) => { max: number, at?: number }
  versionsBetween: (changes: Change[], from: number, to: number) => string[]
  firstStable: (changes: Change[], version: string, after: number, bad: string) => number | undefined
  checkTimelines: (timelines: Timeline[], o: { v1: string, v2: string, v3: string, v3Start: number, maxUnavailable: number }) => string[]
}

const up = (t: number, version: string): Change => ({ t, version, state: 'running', health: 'passing' })
const down = (t: number, version: string | null, state = 'installing', health = 'unknown'): Change => ({ t, version, state, health })
const O = { v1: '1.0.0', v2: '2.0.0', v3: '3.0.0', v3Start: 100, maxUnavailable: 1 }

/** An instance that switches v1 → v2 at `at` (down for 5 ms) and, if `touched`, tries v3 at `bad` and comes back. */
function instance (seq: number, at: number, touched?: number): Timeline {
  const changes = [up(0, '1.0.0'), down(at, '2.0.0'), up(at + 5, '2.0.0')]
  if (touched !== undefined) changes.push(down(touched, '3.0.0'), down(touched + 3, '3.0.0', 'running', 'failing'), down(touched + 6, '2.0.0'), up(touched + 8, '2.0.0'))
  return { seq, v2Start: 0, v3Start: O.v3Start, changes }
}

describe('testground rollout case checks', () => {
  it('a clean run (one switch each, one at a time, the v3 canary back on v2) has no problems', () => {
    const tls = [instance(1, 10), instance(2, 20), instance(3, 30, 110), instance(4, 40)]
    assert.deepEqual(check.checkTimelines(tls, O), [])
    assert.equal(check.maxDown(tls.map(t => t.changes)).max, 1)
    assert.equal(check.firstStable(tls[2].changes, '2.0.0', O.v3Start, '3.0.0'), 118)
    assert.equal(check.firstStable(tls[0].changes, '2.0.0', O.v3Start, '3.0.0'), undefined)
  })

  it('flags an instance that switched twice, one that stays on v3, and two down at once', () => {
    const twice = instance(1, 10)
    twice.changes.splice(3, 0, down(50, '1.0.0'), up(55, '1.0.0'), down(60, '2.0.0'), up(65, '2.0.0'))
    const stuck = instance(2, 20)
    stuck.changes.push(down(120, '3.0.0'), down(125, '3.0.0', 'running', 'failing'))
    const overlap = [instance(3, 30), instance(4, 32)]
    const problems = check.checkTimelines([twice, stuck, ...overlap], O)
    assert.equal(problems.length, 3, problems.join('\n'))
    assert.match(problems[0], /instance 1 ran \["1.0.0","2.0.0","1.0.0","2.0.0"\]/)
    assert.match(problems[1], /instance 2 ends on 3.0.0 running failing/)
    assert.match(problems[2], /^2 instances not running-and-passing at once/)
    assert.deepEqual(check.checkTimelines([twice, stuck, ...overlap], { ...O, maxUnavailable: 2 }).length, 2)
  })

  it('an instance that never switched is flagged', () => {
    const never: Timeline = { seq: 5, v2Start: 0, v3Start: O.v3Start, changes: [up(0, '1.0.0')] }
    assert.match(check.checkTimelines([never], O)[0], /instance 5 ran \["1.0.0"\]/)
  })

  it('versionsBetween: the version in force at the start counts, later ones and unknown versions do not', () => {
    const cs = [up(0, 'a'), down(5, null, 'absent'), up(7, 'a'), down(10, 'b'), up(12, 'b'), down(20, 'c')]
    assert.deepEqual(check.versionsBetween(cs, 3, 20), ['a', 'b'])
    assert.deepEqual(check.versionsBetween(cs, 12, 20), ['b'])
    assert.deepEqual(check.versionsBetween(cs, 30, 40), ['c'])
    assert.deepEqual(check.versionsBetween(cs, -5, 0), [])
  })

  it('maxDown equals the most instances down at any integer moment (property)', () => {
    const entry = fc.record({ dt: fc.integer({ min: 1, max: 5 }), up: fc.boolean() })
    const timeline = fc.record({ start: fc.integer({ min: 0, max: 10 }), entries: fc.array(entry, { minLength: 1, maxLength: 12 }) })
    fc.assert(fc.property(fc.array(timeline, { minLength: 1, maxLength: 6 }), (specs) => {
      const tls = specs.map(s => {
        let t = s.start
        return s.entries.map(e => { t += e.dt; return e.up ? up(t, 'x') : down(t, 'x') })
      })
      const end = Math.max(...tls.flatMap(cs => cs.map(c => c.t)))
      let brute = 0
      for (let t = 0; t <= end; t++) {
        const n = tls.filter(cs => { const c = cs.filter(x => x.t <= t).pop(); return c !== undefined && !check.isUp(c) }).length
        brute = Math.max(brute, n)
      }
      assert.equal(check.maxDown(tls).max, brute)
    }))
  })
})
