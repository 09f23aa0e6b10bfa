/**
 * The operator's controls (managers/rollout/control.ts): the whole state ×
 * verb table, each refusal a 409 naming the state, each accepted control a
 * record the schema accepts, and the derived state it leads to.
 */
import { strict as assert } from 'node:assert'
import { applyControl, CONTROL_VERBS, type ControlVerb } from '../../../managers/rollout/control.js'
import { ROLLOUT_STATES, type RolloutState } from '../../../managers/rollout/record.js'
import { rolloutState } from '../../../managers/rollout/state.js'
import { progress, rollout } from './operator-fixtures.js'

/** A rollout (canary 1) and its progress in each derived state. */
function inState (s: RolloutState): { r: ReturnType<typeof rollout>, p: Map<string, ReturnType<typeof progress>> } {
  const base = { canary: 1, autoRevert: false }
  const failed = progress({ state: 'failed', waves: [{ nodes: ['eu-1'], assigned: ['eu-1'], state: 'failed' }], failure: { at: 5, reason: 'node-failed', detail: 'x', wave: 0 } })
  const passed = progress({ state: 'passed', waves: [{ nodes: ['eu-1'], assigned: ['eu-1'], state: 'passed', passedAt: 5 }] })
  const cases: Record<RolloutState, [Record<string, unknown>, ReturnType<typeof progress>[]]> = {
    running: [{}, []],
    paused: [{ control: { state: 'paused', at: 3, resumedAt: 2 } }, []],
    succeeded: [{}, [passed]],
    failed: [{}, [failed]],
    'rolled-back': [{ control: { state: 'rollback', at: 3 } }, []],
    aborted: [{ control: { state: 'aborted', at: 3 } }, []]
  }
  const [over, ps] = cases[s]
  const r = rollout({ ...base, ...over })
  const p = new Map(ps.map(x => [x.region, x]))
  assert.equal(rolloutState(r, p), s)
  return { r, p }
}

/** verb → state → the state it leads to, or undefined: refused. */
const TABLE: Record<ControlVerb, Partial<Record<RolloutState, RolloutState>>> = {
  pause: { running: 'paused' },
  resume: { paused: 'running' },
  abort: { running: 'aborted', paused: 'aborted', failed: 'aborted' },
  rollback: { running: 'rolled-back', paused: 'rolled-back', failed: 'rolled-back' },
  promote: { running: 'running' }
}

describe('rollout controls', () => {
  it('state × verb: applies where the table says, 409 naming the state elsewhere', () => {
    for (const verb of CONTROL_VERBS) {
      for (const s of ROLLOUT_STATES) {
        const { r, p } = inState(s)
        const expected = TABLE[verb][s]
        if (expected === undefined) {
          assert.throws(() => applyControl(r, s, verb, 100), (e: any) => {
            assert.equal(e.name, 'ControlRefusedError', `${verb} on ${s}`)
            assert.equal(e.status, 409)
            assert.ok(e.message.includes(`is ${s}`) && e.message.includes(r.id), e.message)
            return true
          }, `${verb} on ${s}`)
          continue
        }
        const next = applyControl(r, s, verb, 100)
        assert.equal(rolloutState(next, p), expected, `${verb} on ${s}`)
        assert.equal(next.control.at, 100)
        assert.deepEqual({ ...next, control: r.control }, r, 'only the control changes')
      }
    }
  })

  it('resume sets resumedAt; promote sets promoted once, only with canaries; a failed rollout is not resumed', () => {
    const paused = inState('paused')
    assert.equal(applyControl(paused.r, 'paused', 'resume', 100).control.resumedAt, 100)
    const running = inState('running')
    const promoted = applyControl(running.r, 'running', 'promote', 100)
    assert.equal(promoted.control.promoted, true)
    assert.equal(promoted.control.state, 'running')
    assert.throws(() => applyControl(promoted, 'running', 'promote', 101), /promoted already/)
    assert.throws(() => applyControl(rollout({ canary: 0 }), 'running', 'promote', 100), /no canary wave/)
    // A pause keeps the promotion (the driver reads it once resumed).
    assert.equal(applyControl(promoted, 'running', 'pause', 102).control.promoted, true)
    const failed = inState('failed')
    assert.throws(() => applyControl(failed.r, 'failed', 'resume', 100), /cannot be resumed; roll it back .* or abort it/)
  })
})
