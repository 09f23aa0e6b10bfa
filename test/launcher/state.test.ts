/** launcher/state.ts: the boot counter's transitions, scripted and as properties over generated event sequences. */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { attemptFailed, badBuild, confirm, EMPTY_STATE, MAX_BAD_BUILDS, planBoot, requestTry, type Build, type LauncherState } from '../../launcher/state.js'

const OPTS = { maxAttempts: 2, baseVersion: '0.1.0', now: 1_000 }
const b = (version: string): Build => ({ version, dir: `/data/components/mycel/${version}` })

describe('launcher/state', () => {
  it('no state: the base install, no trial', () => {
    const p = planBoot(EMPTY_STATE, OPTS)
    assert.equal(p.boot, undefined)
    assert.equal(p.trial, false)
    assert.equal(p.state, EMPTY_STATE)
  })

  it('a trying build is started on trial with its attempt counted first; ready → good', () => {
    const s0 = requestTry(EMPTY_STATE, b('0.2.0'))
    const p = planBoot(s0, OPTS)
    assert.deepEqual(p.boot, b('0.2.0'))
    assert.equal(p.trial, true)
    assert.equal(p.state.trying?.attempts, 1)
    const s1 = confirm(p.state, b('0.2.0'))
    assert.deepEqual(s1, { good: b('0.2.0'), bad: [] })
    // The good build is then started without a trial.
    assert.deepEqual(planBoot(s1, OPTS), { state: s1, boot: b('0.2.0'), trial: false })
  })

  it('after maxAttempts failed starts the build is bad, with the last reason, and the good build starts again', () => {
    let s: LauncherState = requestTry({ good: b('0.2.0'), bad: [] }, b('0.3.0'))
    for (let i = 1; i <= 2; i++) {
      const p = planBoot(s, OPTS)
      assert.equal(p.trial, true)
      s = attemptFailed(p.state, b('0.3.0'), `exited with code ${i}`)
    }
    const p = planBoot(s, OPTS)
    assert.equal(p.trial, false)
    assert.deepEqual(p.boot, b('0.2.0'))
    assert.deepEqual(p.markedBad, { ...b('0.3.0'), at: 1_000, attempts: 2, reason: 'exited with code 2', returnedTo: '0.2.0' })
    assert.equal(p.state.trying, undefined)
    assert.equal(badBuild(p.state, '0.3.0')?.returnedTo, '0.2.0')
    // Without a good build the launcher returns to the base install.
    const q = planBoot({ trying: { ...b('0.3.0'), attempts: 2 }, bad: [] }, OPTS)
    assert.equal(q.boot, undefined)
    assert.equal(q.markedBad?.returnedTo, '0.1.0')
    assert.equal(q.markedBad?.reason, 'did not become ready')
  })

  it('a confirmation or failure of a build that is no longer on trial changes nothing', () => {
    const s = requestTry(EMPTY_STATE, b('0.3.0'))
    assert.equal(confirm(s, b('0.2.0')), s)
    assert.equal(attemptFailed(s, b('0.2.0'), 'x'), s)
    assert.equal(confirm(s, { version: '0.3.0', dir: '/elsewhere' }), s)
  })

  it('confirming a build once marked bad takes it off the bad list', () => {
    const s: LauncherState = { trying: { ...b('0.3.0'), attempts: 1 }, bad: [{ ...b('0.3.0'), at: 1, attempts: 2, reason: 'x', returnedTo: '0.1.0' }] }
    assert.deepEqual(confirm(s, b('0.3.0')), { good: b('0.3.0'), bad: [] })
  })

  it('asking to try the good build again is no trial: its failed starts never put the good build on the bad list', () => {
    // The property's counterexample (fast-check seed 1649904124), kept as a fixed case.
    let s = requestTry(EMPTY_STATE, b('0.4.0'))
    let p = planBoot(s, { ...OPTS, maxAttempts: 1 })
    s = confirm(p.state, p.boot!)
    s = requestTry(s, b('0.4.0'))
    assert.equal(s.trying, undefined)
    p = planBoot(s, { ...OPTS, maxAttempts: 1 })
    assert.equal(p.trial, false)
    assert.deepEqual(p.boot, b('0.4.0'))
    assert.equal(badBuild(planBoot(p.state, { ...OPTS, maxAttempts: 1 }).state, '0.4.0'), undefined)
  })

  // Events an agent and its launcher produce, in any order the loop allows or not.
  type Event = { kind: 'request', version: string } | { kind: 'boot' } | { kind: 'fail' } | { kind: 'ready' }
  const eventArb: fc.Arbitrary<Event> = fc.oneof(
    fc.record({ kind: fc.constant('request' as const), version: fc.constantFrom('0.2.0', '0.3.0', '0.4.0') }),
    fc.constant({ kind: 'boot' as const }),
    fc.constant({ kind: 'fail' as const }),
    fc.constant({ kind: 'ready' as const })
  )

  it('property: a build is started on trial at most maxAttempts times per request, the good build is always a confirmed one, and the bad list stays bounded', () => {
    fc.assert(fc.property(fc.array(eventArb, { maxLength: 80 }), fc.integer({ min: 1, max: 4 }), (events, maxAttempts) => {
      let s: LauncherState = EMPTY_STATE
      let booted: Build | undefined
      let trial = false
      const confirmed = new Set<string>()
      const trialStarts = new Map<string, number>()
      for (const e of events) {
        if (e.kind === 'request') {
          // The agent never asks for a build the launcher gave up on (host/core-update.ts checks first).
          if (badBuild(s, e.version) !== undefined) continue
          s = requestTry(s, b(e.version))
          trialStarts.set(e.version, 0)
        } else if (e.kind === 'boot') {
          const p = planBoot(s, { ...OPTS, maxAttempts })
          s = p.state
          booted = p.boot
          trial = p.trial
          if (p.trial) {
            const n = (trialStarts.get(p.boot!.version) ?? 0) + 1
            trialStarts.set(p.boot!.version, n)
            assert.ok(n <= maxAttempts, `${p.boot!.version} started ${n} times on trial`)
            assert.equal(s.trying?.attempts, n, 'the attempt is counted in the state persisted before the start')
          } else {
            assert.equal(s.trying, undefined, 'a trying build always goes first')
            assert.deepEqual(p.boot, s.good)
          }
          if (p.markedBad !== undefined) assert.equal(p.markedBad.attempts, maxAttempts)
        } else if (e.kind === 'fail' && booted !== undefined && trial) {
          s = attemptFailed(s, booted, 'exited')
        } else if (e.kind === 'ready' && booted !== undefined && trial) {
          s = confirm(s, booted)
          if (s.good !== undefined) confirmed.add(s.good.version)
          trial = false
        }
        if (s.good !== undefined) assert.ok(confirmed.has(s.good.version), 'good only through a confirmation')
        assert.ok(s.bad.length <= MAX_BAD_BUILDS)
        assert.equal(new Set(s.bad.map(x => x.version)).size, s.bad.length, 'one bad entry per version')
        if (s.good !== undefined) assert.equal(badBuild(s, s.good.version), undefined, 'the good build is never on the bad list')
      }
    }))
  })
})
