/**
 * The status view (managers/rollout/view.ts): waves region after region
 * with the active one's index, per node what this node knows (a dead node
 * says so, another region's is unknown), reverted waves once rolled back.
 */
import { strict as assert } from 'node:assert'
import { rolloutView } from '../../../managers/rollout/view.js'
import { component, network, progress, rollout } from './operator-fixtures.js'

describe('rollout status view', () => {
  const r = rollout({ regions: ['eu', 'us'], canary: 1, lastStable: '0.9.0' })
  const eu = progress({
    waves: [
      { nodes: ['eu-1'], assigned: ['eu-1'], state: 'passed', startedAt: 11, passedAt: 20 },
      { nodes: ['eu-2', 'eu-3'], assigned: ['eu-2'], state: 'active', startedAt: 21 },
      { nodes: ['eu-4'], state: 'pending' }
    ]
  })
  const facts = network({
    members: [
      { peerId: 'eu-1', region: 'eu', state: 'alive', version: '0.5.0' },
      { peerId: 'eu-2', region: 'eu', state: 'dead', version: '0.5.0' },
      { peerId: 'eu-3', region: 'eu', state: 'alive', version: '0.5.0' }
    ],
    reports: new Map([
      ['eu-1', { version: '0.5.0', components: [component('web', '2.0.0')] }],
      ['eu-2', { version: '0.5.0', components: [component('web', '2.0.0', { health: 'failing' })] }],
      ['eu-3', { version: '0.5.0', components: [component('db', '1.0.0')], stale: true }]
    ])
  })

  it('shows the issue\'s fields: state, wave, waves, nodes with version, state and health', () => {
    const v = rolloutView({ rollout: r, progress: new Map([['eu', eu]]) }, facts)
    assert.equal(v.state, 'running')
    assert.equal(v.region, 'eu')
    assert.equal(v.wave, 1)
    assert.deepEqual(v.waves, [
      { region: 'eu', index: 0, nodes: ['eu-1'], state: 'passed' },
      { region: 'eu', index: 1, nodes: ['eu-2', 'eu-3'], state: 'active' },
      { region: 'eu', index: 2, nodes: ['eu-4'], state: 'pending' }
    ])
    assert.deepEqual(v.regions.map(x => [x.region, x.state, x.term]), [['eu', 'running', 1], ['us', 'pending', undefined]])
    assert.deepEqual(v.nodes, {
      'eu-1': { region: 'eu', version: '2.0.0', state: 'running', health: 'passing', member: 'alive', stale: false, target: '2.0.0' },
      'eu-2': { region: 'eu', version: '2.0.0', state: 'dead', health: 'failing', member: 'dead', stale: true, target: '2.0.0' },
      'eu-3': { region: 'eu', version: null, state: 'absent', health: 'unknown', member: 'alive', stale: true, target: null },
      'eu-4': { region: 'eu', version: null, state: 'gone', health: 'unknown', member: 'unknown', stale: true, target: null }
    })
    assert.equal(v.lastStable, '0.9.0')
    assert.deepEqual(v.knobs, { canary: 1, maxParallel: { count: 1 }, minHealthyTimeMs: 10_000, healthyDeadlineMs: 300_000, progressDeadlineMs: 600_000, autoRevert: true })
    assert.equal(v.failure, undefined)
  })

  it('rolled back: touched waves are reverted, nodes return to lastStable, the failure is shown', () => {
    const failed = progress({
      state: 'failed',
      waves: [
        { nodes: ['eu-1'], assigned: ['eu-1'], state: 'passed', passedAt: 20 },
        { nodes: ['eu-2', 'eu-3'], assigned: ['eu-2'], state: 'failed', startedAt: 21 },
        { nodes: ['eu-4'], state: 'pending' }
      ],
      failure: { at: 30, reason: 'health-failing', detail: 'eu-2: 2.0.0 health failing', wave: 1 }
    })
    const v = rolloutView({ rollout: r, progress: new Map([['eu', failed]]) }, facts)
    assert.equal(v.state, 'rolled-back')
    assert.equal(v.region, null)
    assert.equal(v.wave, null)
    assert.deepEqual(v.waves.map(w => w.state), ['reverted', 'reverted', 'pending'])
    assert.deepEqual(v.failure, { region: 'eu', at: 30, reason: 'health-failing', detail: 'eu-2: 2.0.0 health failing', wave: 1 })
    assert.equal(v.nodes['eu-1']?.target, '0.9.0')
    assert.equal(v.nodes['eu-3']?.target, null)
  })

  it('a forged peer id __proto__ stays an own key', () => {
    const p = progress({ waves: [{ nodes: ['__proto__'], state: 'pending' }] })
    const v = rolloutView({ rollout: r, progress: new Map([['eu', p]]) }, facts)
    assert.deepEqual(Object.keys(v.nodes), ['__proto__'])
    assert.equal(Object.getPrototypeOf(v.nodes), Object.prototype)
  })
})
