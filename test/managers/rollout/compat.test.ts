/**
 * Rollout compatibility: scripted cases (missing, unsatisfied, not semver,
 * prereleases) and a property against a model: ok exactly when every node
 * has every requirement in range, with one problem per failing pair.
 * MYCEL_PROPERTY_RUNS=n runs n cases.
 */
import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import semver from 'semver'
import { checkCompatibility, describeProblem, type NodeInstalled } from '../../../managers/rollout/compat.js'
import { PROPERTY_RUNS } from '../../helpers/wire-evolution.js'

const node = (peerId: string, mycel: string, components: Record<string, string> = {}): NodeInstalled =>
  ({ peerId, mycel, components: Object.entries(components).map(([name, version]) => ({ name, version })) })

describe('rollout compatibility', () => {
  it('is ok with no requirements, or all met', () => {
    assert.deepEqual(checkCompatibility(undefined, [node('a', '0.1.0')]), { ok: true, problems: [] })
    assert.equal(checkCompatibility({ mycel: '>=0.3.0', db: '^2.1.0' }, [node('a', '0.3.1', { db: '2.4.0' })]).ok, true)
  })

  it('lists every node and requirement that fails, sorted, with the reason', () => {
    const r = checkCompatibility({ mycel: '>=0.3.0', db: '^2.1.0' }, [
      node('c', '0.3.0', { db: '3.0.0' }),
      node('a', '0.2.9'),
      node('b', 'dev-build', { db: '2.1.0' })
    ])
    assert.equal(r.ok, false)
    assert.deepEqual(r.problems, [
      { node: 'a', requirement: 'db', range: '^2.1.0', reason: 'missing' },
      { node: 'a', requirement: 'mycel', range: '>=0.3.0', found: '0.2.9', reason: 'unsatisfied' },
      { node: 'b', requirement: 'mycel', range: '>=0.3.0', found: 'dev-build', reason: 'invalid-version' },
      { node: 'c', requirement: 'db', range: '^2.1.0', found: '3.0.0', reason: 'unsatisfied' }
    ])
    assert.deepEqual(r.problems.map(describeProblem), [
      'a: requires db ^2.1.0, not installed',
      'a: requires mycel >=0.3.0, found 0.2.9',
      'b: requires mycel >=0.3.0, found "dev-build" (not a semver version)',
      'c: requires db ^2.1.0, found 3.0.0'
    ])
  })

  it('places prereleases in the range by semver order', () => {
    assert.equal(checkCompatibility({ mycel: '>=0.3.0' }, [node('a', '0.4.0-rc.1')]).ok, true)
    assert.equal(checkCompatibility({ mycel: '>=0.3.0' }, [node('a', '0.3.0-rc.1')]).ok, false)
    assert.equal(checkCompatibility({ mycel: '<1.0.0' }, [node('a', '1.0.0-rc.1')]).ok, true)
  })
})

const VERSIONS = ['0.1.0', '0.2.0', '0.2.5', '1.0.0-rc.1', '1.0.0', '1.3.2', '2.0.0']
const RANGES = ['>=0.2.0', '^1.0.0', '<1.0.0', '0.2.x', '*', '>=1.0.0 <2.0.0', '~0.2.0']
const NAMES = ['mycel', 'db', 'cache']

/** The model: every (node, requirement) pair, found by a plain scan, compared by semver's own order. */
function model (requires: Record<string, string>, nodes: NodeInstalled[]): number {
  let bad = 0
  for (const n of nodes) {
    for (const [name, range] of Object.entries(requires)) {
      const found = name === 'mycel' ? n.mycel : n.components.filter(c => c.name === name).map(c => c.version)[0]
      if (found === undefined || !semver.satisfies(found, range, { includePrerelease: true })) bad++
    }
  }
  return bad
}

describe('rollout compatibility properties', () => {
  it('is ok exactly when every node satisfies every range, with one problem per failing pair', () => {
    const requires = fc.dictionary(fc.constantFrom(...NAMES), fc.constantFrom(...RANGES), { maxKeys: 3 })
    const installed = fc.uniqueArray(fc.record({ name: fc.constantFrom('db', 'cache'), version: fc.constantFrom(...VERSIONS) }), { selector: c => c.name, maxLength: 2 })
    const nodes = fc.uniqueArray(fc.record({ peerId: fc.constantFrom('a', 'b', 'c', 'd'), mycel: fc.constantFrom(...VERSIONS), components: installed }), { selector: n => n.peerId, maxLength: 4 })
    fc.assert(fc.property(requires, nodes, (req, ns) => {
      const r = checkCompatibility(req, ns)
      const bad = model(req, ns)
      assert.equal(r.ok, bad === 0)
      assert.equal(r.problems.length, bad)
      assert.deepEqual(checkCompatibility(req, [...ns].reverse()), r, 'independent of node order')
    }), { numRuns: PROPERTY_RUNS })
  })
})
