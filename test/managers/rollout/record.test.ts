/**
 * The rollout record (managers/rollout/record.ts): defaults, bounds, the
 * named 422 error, unknown fields dropped (docs/wire.md rule 1), the
 * cross-field rules (durations, from != to) and the namespace rule (id = key).
 */
import { strict as assert } from 'node:assert'
import {
  checkRolloutEntry, InvalidRolloutError, MAX_REGION_NODES, MAX_REGIONS, parseRollout,
  DEFAULT_HEALTHY_DEADLINE_MS, DEFAULT_MIN_HEALTHY_TIME_MS, DEFAULT_PROGRESS_DEADLINE_MS
} from '../../../managers/rollout/record.js'

function minimal (over: Record<string, unknown> = {}): Record<string, unknown> {
  return { id: 'r1', component: 'web', from: '1.0.0', to: '2.0.0', regions: ['eu'], maxParallel: { count: 2 }, createdAt: 5, control: { state: 'running', at: 5 }, ...over }
}

function refused (input: unknown, match: RegExp): void {
  assert.throws(() => parseRollout(input), (e: unknown) => {
    assert.ok(e instanceof InvalidRolloutError)
    assert.equal(e.status, 422)
    assert.match(e.message, match)
    return true
  })
}

describe('rollout record', () => {
  it('fills the defaults of Nomad\'s update block, auto-revert on', () => {
    const r = parseRollout(minimal())
    assert.equal(r.canary, 0)
    assert.equal(r.minHealthyTimeMs, DEFAULT_MIN_HEALTHY_TIME_MS)
    assert.equal(r.minHealthyTimeMs, 10_000)
    assert.equal(r.healthyDeadlineMs, DEFAULT_HEALTHY_DEADLINE_MS)
    assert.equal(r.healthyDeadlineMs, 300_000)
    assert.equal(r.progressDeadlineMs, DEFAULT_PROGRESS_DEADLINE_MS)
    assert.equal(r.progressDeadlineMs, 600_000)
    assert.equal(r.maxUnavailable, undefined, 'absent: the wave size')
    assert.equal(r.autoRevert, true)
    assert.equal(r.control.promoted, false)
    assert.equal(r.lastStable, undefined)
  })

  it('keeps a full record as written, regions in the order given', () => {
    const full = minimal({
      lastStable: '1.0.0',
      regions: ['us', 'eu'],
      canary: 1,
      maxParallel: { percent: 25 },
      minHealthyTimeMs: 2000,
      healthyDeadlineMs: 60_000,
      progressDeadlineMs: 120_000,
      maxUnavailable: 2,
      autoRevert: false,
      control: { state: 'paused', at: 9, resumedAt: 7, promoted: true }
    })
    assert.deepEqual(parseRollout(full), full)
  })

  it('drops fields it does not know, at every depth (wire rule 1)', () => {
    const r = parseRollout(minimal({ later: 1, maxParallel: { count: 2, x: 1 }, control: { state: 'running', at: 5, y: 2 } }))
    assert.equal('later' in r, false)
    assert.deepEqual(r.maxParallel, { count: 2 })
    assert.deepEqual(r.control, { state: 'running', at: 5, promoted: false })
  })

  it('refuses a bad field with a named 422 error that says which', () => {
    refused(minimal({ id: '-x' }), /^invalid rollout: id: /)
    refused(minimal({ id: 'a'.repeat(65) }), /id: /)
    refused(minimal({ component: 'Web!' }), /component: /)
    refused(minimal({ to: '2.0' }), /to: version must be a semver/)
    refused(minimal({ from: 'v1.0.0' }), /from: version must be a semver/)
    refused(minimal({ lastStable: 'latest' }), /lastStable: /)
    refused(minimal({ regions: [] }), /regions: /)
    refused(minimal({ regions: ['EU'] }), /regions\.0: invalid region/)
    refused(minimal({ regions: ['eu', 'us', 'eu'] }), /regions: a region is listed twice/)
    refused(minimal({ regions: Array.from({ length: MAX_REGIONS + 1 }, (_, i) => `r${i}`) }), /regions: /)
    refused(minimal({ canary: -1 }), /canary: /)
    refused(minimal({ canary: 1.5 }), /canary: /)
    refused(minimal({ canary: MAX_REGION_NODES + 1 }), /canary: /)
    refused(minimal({ maxParallel: {} }), /maxParallel: give exactly one of count or percent/)
    refused(minimal({ maxParallel: { count: 2, percent: 25 } }), /maxParallel: give exactly one/)
    refused(minimal({ maxParallel: { count: 0 } }), /maxParallel\.count: /)
    refused(minimal({ maxParallel: { percent: 101 } }), /maxParallel\.percent: /)
    refused(minimal({ maxParallel: 2 }), /maxParallel: /)
    refused(minimal({ maxUnavailable: 0 }), /maxUnavailable: /)
    refused(minimal({ minHealthyTimeMs: -1 }), /minHealthyTimeMs: /)
    refused(minimal({ progressDeadlineMs: 24 * 3600_000 + 1 }), /progressDeadlineMs: /)
    refused(minimal({ autoRevert: 'yes' }), /autoRevert: /)
    refused(minimal({ control: { state: 'done', at: 1 } }), /control\.state: /)
    refused(minimal({ control: undefined }), /control: /)
    refused(minimal({ createdAt: -1 }), /createdAt: /)
    refused(minimal({ from: undefined }), /from: /)
    refused(minimal({ from: '2.0.0' }), /to: the deployment already runs 2\.0\.0/)
    refused(null, /^invalid rollout: /)
  })

  it('refuses durations a gate could never meet (min-healthy-time < healthy deadline <= progress deadline)', () => {
    refused(minimal({ minHealthyTimeMs: 300_000 }), /minHealthyTimeMs: must be less than healthyDeadlineMs/)
    refused(minimal({ healthyDeadlineMs: 700_000 }), /healthyDeadlineMs: must not exceed progressDeadlineMs/)
    assert.equal(parseRollout(minimal({ minHealthyTimeMs: 0, healthyDeadlineMs: 1, progressDeadlineMs: 1 })).healthyDeadlineMs, 1)
  })

  it('checkRolloutEntry: the value is a rollout stored under its own id', () => {
    assert.doesNotThrow(() => checkRolloutEntry('r1', minimal()))
    assert.throws(() => checkRolloutEntry('r2', minimal()), (e: unknown) => e instanceof InvalidRolloutError && /id: "r1" stored under key "r2"/.test(e.message))
    assert.throws(() => checkRolloutEntry('r1', minimal({ to: 'x' })), InvalidRolloutError)
  })

  it('keeps an optional trace context (tc), bounded like every reserved tc', () => {
    const tc = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    assert.equal(parseRollout(minimal({ tc })).tc, tc)
    assert.equal(parseRollout(minimal()).tc, undefined)
    // An unparsable one is kept (a tracer then starts a new trace), a huge one refused.
    assert.equal(parseRollout(minimal({ tc: 'not a traceparent' })).tc, 'not a traceparent')
    refused(minimal({ tc: 'x'.repeat(257) }), /tc/)
    refused(minimal({ tc: 7 }), /tc/)
  })
})
