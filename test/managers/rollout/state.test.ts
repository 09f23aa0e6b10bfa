/**
 * What every node derives from the rollout records (managers/rollout/state.ts,
 * term-records.ts): the highest term in force whatever the order of the
 * entries; the rollout's state; the version a rollout makes a node run.
 */
import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import { inForce } from '../../../managers/term-records.js'
import { parseRollout, type Rollout } from '../../../managers/rollout/record.js'
import { parseProgress, type RegionProgress } from '../../../managers/rollout/progress.js'
import { rolloutState, rolloutVersion } from '../../../managers/rollout/state.js'

const PROPERTY_RUNS = 200

function rollout (over: Record<string, unknown> = {}): Rollout {
  return parseRollout({ id: 'r1', component: 'web', from: '1.0.0', to: '2.0.0', regions: ['eu'], maxParallel: { count: 1 }, createdAt: 10, control: { state: 'running', at: 10 }, ...over })
}

function progress (waves: Array<{ nodes: string[], assigned?: string[], state: string }>, over: Record<string, unknown> = {}): RegionProgress {
  return parseProgress({ id: 'r1', region: 'eu', term: 1, state: 'running', startedAt: 1, lastProgressAt: 1, waves, ...over })
}

describe('rollout state', () => {
  it('property: the record in force per slot is the highest term, whatever the order of the entries; the others are listed older', () => {
    const entry = fc.record({ slot: fc.constantFrom('a', 'b', 'c'), term: fc.nat({ max: 50 }) })
    fc.assert(fc.property(fc.uniqueArray(entry, { selector: e => `${e.slot}/${e.term}`, maxLength: 20 }), fc.func(fc.integer()), (es, order) => {
      const entries = es.map(e => [`${e.slot}/${e.term}`, { value: e }] as const)
      const shuffled = [...entries].sort((x, y) => order(x[0]) - order(y[0]))
      const read = (key: string, value: unknown): { slot: string, term: number, record: unknown } => ({ slot: key.split('/')[0]!, term: (value as { term: number }).term, record: value })
      const a = inForce(entries, read)
      const b = inForce(shuffled, read)
      assert.deepEqual([...a.bySlot.entries()].sort(), [...b.bySlot.entries()].sort())
      for (const [slot, e] of a.bySlot) {
        const terms = es.filter(x => x.slot === slot).map(x => x.term)
        assert.equal(e.term, Math.max(...terms))
        assert.equal(e.older.length, terms.length - 1)
      }
    }), { numRuns: PROPERTY_RUNS })
  })

  it('state: abort and rollback first, then a failed region, then all passed, then pause', () => {
    const failed = progress([{ nodes: ['a'], assigned: ['a'], state: 'failed' }], { state: 'failed', failure: { at: 2, reason: 'health-failing', detail: 'x', wave: 0 } })
    const passed = progress([{ nodes: ['a'], assigned: ['a'], state: 'passed' }], { state: 'passed' })
    const m = (p?: RegionProgress): Map<string, RegionProgress> => new Map(p === undefined ? [] : [['eu', p]])
    assert.equal(rolloutState(rollout(), m()), 'running')
    assert.equal(rolloutState(rollout({ control: { state: 'paused', at: 1 } }), m()), 'paused')
    assert.equal(rolloutState(rollout({ control: { state: 'paused', at: 1 } }), m(passed)), 'succeeded')
    assert.equal(rolloutState(rollout(), m(failed)), 'rolled-back')
    assert.equal(rolloutState(rollout({ autoRevert: false }), m(failed)), 'failed')
    assert.equal(rolloutState(rollout({ control: { state: 'aborted', at: 1 } }), m(failed)), 'aborted')
    assert.equal(rolloutState(rollout({ control: { state: 'rollback', at: 1 } }), m(passed)), 'rolled-back')
    assert.equal(rolloutState(rollout({ regions: ['eu', 'us'] }), m(passed)), 'running', 'one region of two passed')
  })

  it('version: the newest rollout from the deployment\'s version that touched the node decides', () => {
    const p = progress([{ nodes: ['a'], state: 'passed', assigned: ['a'] }, { nodes: ['b', 'c'], assigned: ['b'], state: 'active' }, { nodes: ['d'], state: 'pending' }])
    const input = (peerId: string, r: Rollout = rollout(), deploymentVersion = '1.0.0'): Parameters<typeof rolloutVersion>[0] =>
      ({ peerId, region: 'eu', deploymentVersion, rollouts: [{ rollout: r, progress: new Map([['eu', p]]) }] })
    assert.equal(rolloutVersion(input('a')), '2.0.0', 'in a passed wave')
    assert.equal(rolloutVersion(input('b')), '2.0.0', 'assigned in the active wave')
    assert.equal(rolloutVersion(input('c')), undefined, 'not assigned yet')
    assert.equal(rolloutVersion(input('d')), undefined, 'pending wave')
    assert.equal(rolloutVersion(input('x')), undefined, 'in no wave (joined later)')
    assert.equal(rolloutVersion(input('a', rollout({ control: { state: 'rollback', at: 2 } }))), '1.0.0')
    assert.equal(rolloutVersion(input('a', rollout({ control: { state: 'rollback', at: 2 }, lastStable: '0.9.0' }))), '0.9.0')
    assert.equal(rolloutVersion(input('a', rollout(), '2.0.0')), undefined, 'the deployment moved on (succeeded, or redeployed by hand)')
    assert.equal(rolloutVersion({ ...input('a'), region: 'us' }), undefined, 'another region')
    const newer = rollout({ id: 'r2', to: '3.0.0', createdAt: 20 })
    const both = { peerId: 'a', region: 'eu', deploymentVersion: '1.0.0', rollouts: [{ rollout: rollout(), progress: new Map([['eu', p]]) }, { rollout: newer, progress: new Map([['eu', { ...p, id: 'r2' }]]) }] }
    assert.equal(rolloutVersion(both), '3.0.0')
    assert.equal(rolloutVersion({ ...both, rollouts: [...both.rollouts].reverse() }), '3.0.0', 'order of the input does not matter')
  })
})
