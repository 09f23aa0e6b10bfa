/**
 * The wave gate: scripted cases for each rule and deadline (plain numbers
 * stand in for the clock), then properties over generated waves: never
 * passes while an alive node is off the target, a failing target health
 * always fails, passed and failed stay so as time goes on with unchanged
 * reports, and nextCheckAt is the first moment a waiting verdict can change.
 * MYCEL_PROPERTY_RUNS=n runs n cases each.
 */
import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import { evaluateGate, observePassing, type GateInput, type GateNode, type GateReport } from '../../../managers/rollout/gate.js'
import { PROPERTY_RUNS } from '../../helpers/wire-evolution.js'

const V2 = '2.0.0'
const MIN = 10_000
const HEALTHY = 300_000
const PROGRESS = 600_000

const running = (since: number, version = V2): GateReport => ({ version, state: 'running', health: 'passing', since })
const healthyNode = (peerId: string, since = 0): GateNode => ({ peerId, alive: true, report: running(since), passingSince: since })

function gate (nodes: GateNode[], now: number, over: Partial<GateInput> = {}): ReturnType<typeof evaluateGate> {
  return evaluateGate({ nodes, target: V2, waveStartedAt: 0, minHealthyTimeMs: MIN, healthyDeadlineMs: HEALTHY, progressDeadlineMs: PROGRESS, lastProgressAt: 0, now, ...over })
}

describe('rollout gate', () => {
  it('waits for min healthy time, then passes', () => {
    const nodes = [healthyNode('a', 1000), healthyNode('b', 2000)]
    const early = gate(nodes, 11_500)
    assert.equal(early.verdict, 'waiting')
    assert.equal(early.nextCheckAt, 12_000)
    assert.deepEqual(early.nodes.map(n => n.ok), [true, false])
    assert.equal(gate(nodes, 12_000).verdict, 'passed')
  })

  it('starts the healthy run at the later of the state since and the first passing seen', () => {
    const node: GateNode = { peerId: 'a', alive: true, report: running(1000), passingSince: 5000 }
    assert.equal(gate([node], 14_999).verdict, 'waiting')
    assert.equal(gate([node], 15_000).verdict, 'passed')
    assert.equal(gate([{ ...node, passingSince: undefined }], 100_000).verdict, 'waiting', 'passing not yet observed')
  })

  it('fails at once on a target that failed or fails its health check, not on another version', () => {
    const failed = gate([healthyNode('a'), { peerId: 'b', alive: true, report: { version: V2, state: 'failed', health: 'unknown', since: 5 } }], 20)
    assert.equal(failed.verdict, 'failed')
    assert.equal(failed.reason, 'node-failed')
    assert.match(failed.detail ?? '', /^b: /)
    const failing = gate([{ peerId: 'a', alive: true, report: { ...running(0), health: 'failing' } }], 1)
    assert.equal(failing.reason, 'health-failing')
    const old = gate([{ peerId: 'a', alive: true, report: { version: '1.0.0', state: 'failed', health: 'failing', since: 0 } }], 1)
    assert.equal(old.verdict, 'waiting')
  })

  it('does not pass over a dead node, nor fail on it before the healthy deadline', () => {
    const dead: GateNode = { peerId: 'b', alive: false, report: { ...running(0), health: 'failing' } }
    const before = gate([healthyNode('a'), dead], HEALTHY - 1)
    assert.equal(before.verdict, 'waiting')
    assert.equal(before.nodes[1]?.detail, 'dead (membership)')
    const at = gate([healthyNode('a'), dead], HEALTHY)
    assert.equal(at.verdict, 'failed')
    assert.equal(at.reason, 'healthy-deadline')
    assert.equal(gate([healthyNode('a'), { ...healthyNode('b'), alive: true }], HEALTHY - 1).verdict, 'passed', 'back in time')
  })

  it('fails a node that became healthy only after the healthy deadline, whenever it is looked at', () => {
    const late = healthyNode('a', HEALTHY - MIN + 1)
    const r = gate([late], HEALTHY + 5 * MIN)
    assert.equal(r.verdict, 'failed')
    assert.equal(r.reason, 'healthy-deadline')
    assert.equal(gate([healthyNode('a', HEALTHY - MIN)], HEALTHY + 5 * MIN).verdict, 'passed', 'healthy exactly at the deadline')
  })

  it('fails on the progress deadline, which each node becoming healthy resets', () => {
    const over = { waveStartedAt: 1_000_000, lastProgressAt: 0, healthyDeadlineMs: 10 * PROGRESS }
    const stuck = gate([{ peerId: 'a', alive: true, report: running(1_000_000, '1.0.0') }], PROGRESS, over)
    assert.equal(stuck.verdict, 'failed')
    assert.equal(stuck.reason, 'progress-deadline')
    const progressed = gate([healthyNode('a', PROGRESS - MIN), { peerId: 'b', alive: true }], 2 * PROGRESS - 1, { lastProgressAt: 0, healthyDeadlineMs: 10 * PROGRESS })
    assert.equal(progressed.verdict, 'waiting')
    assert.equal(progressed.nextCheckAt, 2 * PROGRESS)
    const gap = gate([healthyNode('a', PROGRESS + 1 - MIN)], 2 * PROGRESS, { lastProgressAt: 0, healthyDeadlineMs: 10 * PROGRESS })
    assert.equal(gap.reason, 'progress-deadline', 'healthy after the progress deadline')
  })

  it('never passes an empty wave', () => {
    assert.equal(gate([], 1).verdict, 'waiting')
    assert.equal(gate([], HEALTHY).reason, 'healthy-deadline')
  })

  it('tracks an unbroken passing run across reports', () => {
    let run = observePassing(undefined, running(100), 500)
    assert.deepEqual(run, { version: V2, since: 100, passingSince: 500 })
    run = observePassing(run, running(100), 900)
    assert.equal(run?.passingSince, 500, 'kept')
    assert.equal(observePassing(run, { ...running(100), health: 'unknown' }, 1000), undefined, 'broken')
    assert.equal(observePassing(run, running(950), 1000)?.passingSince, 1000, 'a restart starts a new run')
    assert.equal(observePassing(run, running(100, '3.0.0'), 1000)?.passingSince, 1000, 'another version starts a new run')
  })
})

const T = 1_000_000
const report = fc.record({
  version: fc.constantFrom(V2, '1.0.0'),
  state: fc.constantFrom('fetching', 'installing', 'starting', 'running', 'running', 'running', 'failed', 'stopped' as const),
  health: fc.constantFrom('passing', 'passing', 'passing', 'failing', 'unknown' as const),
  since: fc.integer({ min: 0, max: T })
})
/** Half the nodes are on the target running and passing, so every verdict is common. */
const node = (peerId: string): fc.Arbitrary<GateNode> => fc.oneof(
  fc.record({
    peerId: fc.constant(peerId),
    alive: fc.constantFrom(true, true, true, true, false),
    report,
    passingSince: fc.integer({ min: 0, max: T })
  }, { requiredKeys: ['peerId', 'alive'] }),
  fc.record({
    peerId: fc.constant(peerId),
    alive: fc.constant(true),
    report: fc.integer({ min: 0, max: T }).map(since => running(since)),
    passingSince: fc.integer({ min: 0, max: T })
  })
)
const input = fc.record({
  nodes: fc.tuple(node('a'), node('b'), node('c'), node('d')).chain(ns => fc.integer({ min: 0, max: 4 }).map(k => ns.slice(0, k))),
  target: fc.constant(V2),
  waveStartedAt: fc.integer({ min: 0, max: T }),
  minHealthyTimeMs: fc.integer({ min: 0, max: T / 10 }),
  healthyDeadlineMs: fc.integer({ min: 0, max: T }),
  progressDeadlineMs: fc.integer({ min: 0, max: T }),
  lastProgressAt: fc.integer({ min: 0, max: T }),
  now: fc.integer({ min: 0, max: 3 * T })
})

describe('rollout gate properties', () => {
  const runs = { numRuns: PROPERTY_RUNS }

  it('never passes while an alive node is not running the target healthy, nor with a dead node', () => {
    fc.assert(fc.property(input, i => {
      if (evaluateGate(i).verdict !== 'passed') return
      assert.ok(i.nodes.length > 0)
      for (const n of i.nodes) {
        assert.ok(n.alive && n.report?.version === V2 && n.report.state === 'running' && n.report.health === 'passing' && n.passingSince !== undefined)
        assert.ok(Math.max(n.report.since, n.passingSince) + i.minHealthyTimeMs <= i.now)
      }
    }), runs)
  })

  it('fails whenever an alive node reports the target failed or failing', () => {
    fc.assert(fc.property(input, i => {
      const bad = i.nodes.some(n => n.alive && n.report?.version === V2 && (n.report.state === 'failed' || n.report.health === 'failing'))
      const r = evaluateGate(i)
      if (bad) assert.equal(r.verdict, 'failed')
      if (r.verdict === 'failed' && (r.reason === 'node-failed' || r.reason === 'health-failing')) assert.ok(bad)
    }), runs)
  })

  it('keeps passed and failed (and the reason) as time goes on with unchanged reports', () => {
    fc.assert(fc.property(input, fc.integer({ min: 0, max: 2 * T }), (i, later) => {
      const a = evaluateGate(i)
      const b = evaluateGate({ ...i, now: i.now + later })
      if (a.verdict !== 'waiting') {
        assert.equal(b.verdict, a.verdict)
        assert.equal(b.reason, a.reason)
      }
    }), runs)
  })

  it('does not change a waiting verdict before nextCheckAt, which lies ahead', () => {
    fc.assert(fc.property(input, fc.double({ min: 0, max: 1, noNaN: true }), (i, f) => {
      const a = evaluateGate(i)
      if (a.verdict !== 'waiting') return
      assert.ok(a.nextCheckAt !== undefined && a.nextCheckAt > i.now)
      const before = i.now + Math.floor((a.nextCheckAt - 1 - i.now) * f)
      assert.deepEqual(evaluateGate({ ...i, now: before }), a)
    }), runs)
  })
})
