/**
 * The last stable version: healthy everywhere it ran, the most recently
 * settled, never the version being rolled out; a property against a model.
 */
import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import { lastStable, type VersionOutcome } from '../../../managers/rollout/last-stable.js'
import { PROPERTY_RUNS } from '../../helpers/wire-evolution.js'

const o = (peerId: string, version: string, healthy: boolean, at: number): VersionOutcome => ({ peerId, version, healthy, at })

describe('last stable version', () => {
  it('is the most recently settled version healthy everywhere it ran', () => {
    const history = [o('a', '1.0.0', true, 10), o('b', '1.0.0', true, 11), o('a', '1.1.0', true, 20), o('b', '1.1.0', false, 21)]
    assert.equal(lastStable(history), '1.0.0')
    assert.equal(lastStable([...history, o('a', '1.2.0', true, 30)]), '1.2.0')
  })

  it('goes by time, not version order, and leaves out the version being rolled out', () => {
    const history = [o('a', '2.0.0', true, 10), o('a', '1.4.0', true, 20)]
    assert.equal(lastStable(history), '1.4.0')
    assert.equal(lastStable(history, '1.4.0'), '2.0.0')
    assert.equal(lastStable([o('a', '1.0.0', false, 1)]), undefined)
    assert.equal(lastStable([]), undefined)
  })

  it('breaks a tie in time by the higher version', () => {
    assert.equal(lastStable([o('a', '1.10.0', true, 5), o('b', '1.9.0', true, 5)]), '1.10.0')
  })

  it('agrees with a model and ignores the order of the history', () => {
    const outcome = fc.record({ peerId: fc.constantFrom('a', 'b', 'c'), version: fc.constantFrom('1.0.0', '1.1.0', '2.0.0'), healthy: fc.boolean(), at: fc.integer({ min: 0, max: 20 }) })
    fc.assert(fc.property(fc.array(outcome, { maxLength: 12 }), fc.constantFrom(undefined, '2.0.0'), (history, excluding) => {
      const got = lastStable(history, excluding)
      assert.equal(lastStable([...history].reverse(), excluding), got)
      const stable = (v: string): boolean => v !== excluding && history.some(h => h.version === v) && history.every(h => h.version !== v || h.healthy)
      if (got === undefined) {
        assert.ok(!history.some(h => stable(h.version)))
        return
      }
      assert.ok(stable(got))
      const at = (v: string): number => Math.max(...history.filter(h => h.version === v).map(h => h.at))
      for (const h of history) if (stable(h.version)) assert.ok(at(h.version) <= at(got))
    }), { numRuns: PROPERTY_RUNS })
  })
})
