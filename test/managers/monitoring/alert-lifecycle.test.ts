import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import {
  dueForSending, EMPTY_RULE_STATE, MAX_ALERTS_TOTAL, evaluate, fromRecord, MAX_ALERTS_PER_RULE, RESOLVED_RETENTION_MS, ruleAlertStateSchema, toRecord,
  type Alert, type EvalResult, type RuleAlertState
} from '../../../managers/monitoring/alert-lifecycle.js'
import type { AlertRule } from '../../../managers/monitoring/types.js'

function rule (forMs: number, keepFiringForMs = 0): AlertRule {
  return { alert: 'HighLoad', expr: 'mycel_node_load1 > 4', forMs, keepFiringForMs, labels: { severity: 'warning' }, annotations: {} }
}

const ok = (...peers: string[]): EvalResult => ({ ok: true, samples: peers.map(p => ({ labels: { peer: p, severity: 'warning' }, annotations: { summary: `load on ${p}` }, value: 5 })) })
const failed: EvalResult = { ok: false, error: 'query timed out' }

/** Run (time, result) steps from `state`; the states after each step. */
function run (r: AlertRule, steps: Array<[number, EvalResult]>, state: RuleAlertState = EMPTY_RULE_STATE): RuleAlertState[] {
  const out: RuleAlertState[] = []
  for (const [t, res] of steps) {
    state = evaluate(state, r, res, t).state
    out.push(state)
  }
  return out
}

const view = (s: RuleAlertState): Array<[string, string]> => s.alerts.map(a => [a.labels.peer as string, a.state])

describe('managers/monitoring/alert-lifecycle', () => {
  it('pending until for has elapsed, then firing with firedAt; for 0 fires at once', () => {
    const states = run(rule(30), [[0, ok('p1')], [15, ok('p1')], [30, ok('p1')], [45, ok('p1')]])
    assert.deepEqual(states.map(view), [[['p1', 'pending']], [['p1', 'pending']], [['p1', 'firing']], [['p1', 'firing']]])
    const a = states[3]?.alerts[0] as Alert
    assert.equal(a.activeAt, 0)
    assert.equal(a.firedAt, 30)
    assert.deepEqual(a.labels, { peer: 'p1', severity: 'warning', alertname: 'HighLoad' })
    const [now] = run(rule(0), [[7, ok('p2')]])
    assert.deepEqual(now?.alerts.map(x => [x.state, x.activeAt, x.firedAt]), [['firing', 7, 7]])
  })

  it('a pending alert that goes away is forgotten; a firing one resolves, is kept 15 min, then dropped', () => {
    const r = rule(10)
    const s = run(r, [[0, ok('p1', 'p2')], [5, ok('p1')], [10, ok('p1')], [20, ok()], [20 + RESOLVED_RETENTION_MS, ok()], [21 + RESOLVED_RETENTION_MS, ok()]])
    assert.deepEqual(s.map(view), [
      [['p1', 'pending'], ['p2', 'pending']].sort(),
      [['p1', 'pending']],
      [['p1', 'firing']],
      [['p1', 'resolved']],
      [['p1', 'resolved']],
      []
    ].map(v => v.sort()))
    assert.equal(s[3]?.alerts[0]?.resolvedAt, 20)
  })

  it('keep_firing_for holds a firing alert through a gap; a return resets the countdown', () => {
    const s = run(rule(0, 30), [[0, ok('p1')], [10, ok()], [35, ok()], [40, ok()], [50, ok('p1')], [60, ok()], [89, ok()], [90, ok()]])
    assert.deepEqual(s.map(x => x.alerts[0]?.state), ['firing', 'firing', 'firing', 'resolved', 'firing', 'firing', 'firing', 'resolved'])
    assert.equal(s[2]?.alerts[0]?.keepFiringSince, 10)
    assert.equal(s[3]?.alerts[0]?.resolvedAt, 40)
    // Active again after resolving: a new alert, with a new activeAt and firedAt.
    assert.deepEqual([s[4]?.alerts[0]?.activeAt, s[4]?.alerts[0]?.firedAt], [50, 50])
    assert.equal(s[7]?.alerts[0]?.resolvedAt, 90)
  })

  it('a failed evaluation, duplicate label sets or too many alerts leave the state as is', () => {
    const r = rule(10)
    const [s0] = run(r, [[0, ok('p1')]]) as [RuleAlertState]
    const f = evaluate(s0, r, failed, 100)
    assert.equal(f.state, s0)
    assert.equal(f.error, 'query timed out')
    const dup = evaluate(s0, r, { ok: true, samples: [{ labels: { peer: 'x', alertname: 'up' }, annotations: {}, value: 1 }, { labels: { peer: 'x' }, annotations: {}, value: 1 }] }, 100)
    assert.equal(dup.state, s0, 'alertname is the rule\'s on both: one label set')
    assert.match(dup.error ?? '', /same labelset/)
    const many = evaluate(s0, r, ok('a', 'b', 'c'), 100, { maxAlerts: 2 })
    assert.equal(many.state, s0)
    assert.match(many.error ?? '', /limit of 2/)
    const huge = evaluate(s0, r, { ok: true, samples: [{ labels: { peer: 'x'.repeat(2000) }, annotations: {}, value: 1 }] }, 100)
    assert.equal(huge.state, s0)
    assert.equal(MAX_ALERTS_PER_RULE >= 1000, true)
  })

  it('drops empty labels, cuts long annotations and keeps NaN/Inf values through the record', () => {
    const { state } = evaluate(EMPTY_RULE_STATE, rule(0), { ok: true, samples: [{ labels: { peer: 'p', empty: '' }, annotations: { d: 'x'.repeat(5000) }, value: NaN }] }, 1)
    const a = state.alerts[0] as Alert
    assert.deepEqual(a.labels, { peer: 'p', alertname: 'HighLoad' })
    assert.equal(a.annotations.d?.length, 4096)
    assert.ok(Number.isNaN(fromRecord(JSON.parse(JSON.stringify(toRecord(state)))).alerts[0]?.value))
    const inf = evaluate(EMPTY_RULE_STATE, rule(0), { ok: true, samples: [{ labels: { peer: 'p' }, annotations: {}, value: -Infinity }] }, 1).state
    assert.equal(fromRecord(JSON.parse(JSON.stringify(toRecord(inf)))).alerts[0]?.value, -Infinity)
  })

  it('sends as Prometheus does: firing every resend delay with endsAt = now + 4 × max(delay, interval), the resolve once it happens', () => {
    const r = rule(0)
    const opts = { resendDelayMs: 60_000, intervalMs: 15_000 }
    let state = evaluate(EMPTY_RULE_STATE, r, ok('p1'), 0).state
    let sent = dueForSending(state, 0, opts)
    assert.deepEqual(sent.alerts.map(a => [a.status, a.startsAt, a.endsAt]), [['firing', 0, 240_000]])
    state = sent.state
    assert.equal(dueForSending(state, 60_000, opts).alerts.length, 0, 'not before the resend delay has passed')
    sent = dueForSending(state, 60_001, opts)
    assert.deepEqual(sent.alerts.map(a => a.endsAt), [300_001])
    state = evaluate(sent.state, r, ok(), 75_000).state
    sent = dueForSending(state, 75_000, opts)
    assert.deepEqual(sent.alerts.map(a => [a.status, a.startsAt, a.endsAt]), [['resolved', 0, 75_000]], 'resolved since last sent: at once')
    assert.equal(dueForSending(sent.state, 80_000, opts).alerts.length, 0)
    assert.equal(dueForSending(sent.state, 140_000, opts).alerts.length, 1, 'a resolve is re-sent while kept, like Prometheus')
    const pending = evaluate(EMPTY_RULE_STATE, rule(10_000), ok('p1'), 0).state
    assert.equal(dueForSending(pending, 0, opts).alerts.length, 0, 'pending alerts are never sent')
  })

  it('a new holder continues from the record: no re-fire, pending keeps activeAt, a resolve not yet sent is sent', () => {
    const r = rule(30)
    const opts = { intervalMs: 10 }
    let old = run(r, [[0, ok('p1', 'p2')], [20, ok('p1', 'p2')], [30, ok('p1', 'p2')]]).at(-1) as RuleAlertState
    old = dueForSending(old, 30, opts).state
    old = evaluate(old, r, ok('p2', 'p3'), 40).state // p1 resolves: the old holder dies before sending it
    const record = JSON.parse(JSON.stringify(toRecord(old)))
    assert.ok(ruleAlertStateSchema.safeParse(record).success)
    const next = evaluate(fromRecord(record), r, ok('p2', 'p3'), 50).state
    const byPeer = new Map(next.alerts.map(a => [a.labels.peer, a]))
    assert.deepEqual([byPeer.get('p2')?.state, byPeer.get('p2')?.firedAt], ['firing', 30], 'still firing since 30')
    assert.deepEqual([byPeer.get('p3')?.state, byPeer.get('p3')?.activeAt], ['pending', 40])
    const due = dueForSending(next, 50, opts).alerts
    assert.deepEqual(due.map(a => [a.labels.peer, a.status]), [['p1', 'resolved']], 'the resolve goes out; p2 was sent at 30 and is not due')
  })

  it('the record is bounded: too many active alerts, long labels and unknown fields are refused', () => {
    const alert = { l: { alertname: 'A' }, a: {}, s: 'firing', v: '1', at: 0 }
    assert.ok(ruleAlertStateSchema.safeParse({ v: 1, alerts: [alert] }).success)
    assert.ok(!ruleAlertStateSchema.safeParse({ v: 1, alerts: Array.from({ length: MAX_ALERTS_PER_RULE + 1 }, () => alert) }).success)
    assert.ok(!ruleAlertStateSchema.safeParse({ v: 1, alerts: [{ ...alert, l: { a: 'x'.repeat(1025) } }] }).success)
    assert.ok(!ruleAlertStateSchema.safeParse({ v: 1, alerts: [{ ...alert, x: 1 }] }).success)
    assert.ok(!ruleAlertStateSchema.safeParse({ v: 1, alerts: [{ ...alert, v: 'abc' }] }).success)
  })

  describe('properties over generated evaluation sequences', () => {
    const PEERS = ['a', 'b', 'c']
    const MIN = 60_000
    const stepArb = fc.record({
      dt: fc.oneof(fc.integer({ min: 1, max: 20_000 }), fc.constant(16 * MIN)),
      result: fc.option(fc.subarray(PEERS), { freq: 5 })
    })
    const stepsArb = fc.array(stepArb, { minLength: 1, maxLength: 40 })
    const toSteps = (gen: Array<{ dt: number, result: string[] | null }>): Array<[number, EvalResult]> => {
      let t = 1_000_000
      return gen.map(g => { t += g.dt; return [t, g.result === null ? failed : ok(...g.result)] })
    }

    it('without keep_firing_for: firing iff continuously active for >= for, pending iff active for less, resolved only after firing', () => {
      fc.assert(fc.property(stepsArb, fc.constantFrom(0, 10_000, 25_000), (gen, forMs) => {
        const steps = toSteps(gen)
        const states = run(rule(forMs), steps)
        const seen: Array<[number, Set<string>]> = []
        steps.forEach(([t, res], i) => {
          if (res.ok) seen.push([t, new Set(res.samples.map(s => s.labels.peer as string))])
          const state = new Map((states[i] as RuleAlertState).alerts.map(a => [a.labels.peer, a]))
          for (const p of PEERS) {
            const want = expected(seen, p, forMs)
            assert.equal(state.get(p)?.state, want, `${p} at step ${i}`)
          }
        })
      }), { numRuns: 300 })
    })

    it('with keep_firing_for: an absent alert stays firing exactly while its gap is shorter than keep_firing_for', () => {
      const keep = 15_000
      fc.assert(fc.property(stepsArb, fc.constantFrom(0, 10_000), (gen, forMs) => {
        const steps = toSteps(gen)
        const states = run(rule(forMs, keep), steps)
        let prev: RuleAlertState = EMPTY_RULE_STATE
        steps.forEach(([t, res], i) => {
          const cur = states[i] as RuleAlertState
          if (res.ok) {
            const present = new Set(res.samples.map(s => s.labels.peer as string))
            for (const a of cur.alerts) {
              const p = a.labels.peer as string
              const before = prev.alerts.find(b => b.labels.peer === p)
              if (!present.has(p) && before?.state === 'firing') {
                const since = before.keepFiringSince ?? t
                assert.equal(a.state, t - since < keep ? 'firing' : 'resolved', `${p} at step ${i}`)
              }
              if (a.state === 'firing' && before?.state === 'firing') assert.equal(a.firedAt, before.firedAt, 'no re-fire')
            }
          }
          prev = cur
        })
      }), { numRuns: 300 })
    })

    it('serialise → deserialise at any step gives the same future (states and sends)', () => {
      fc.assert(fc.property(stepsArb, fc.nat(), fc.constantFrom(0, 10_000), fc.constantFrom(0, 15_000), (gen, at, forMs, keep) => {
        const steps = toSteps(gen)
        const r = rule(forMs, keep)
        const k = at % steps.length
        let a: RuleAlertState = EMPTY_RULE_STATE
        let b: RuleAlertState = EMPTY_RULE_STATE
        steps.forEach(([t, res], i) => {
          a = evaluate(a, r, res, t).state
          b = evaluate(b, r, res, t).state
          const sa = dueForSending(a, t, { intervalMs: 10_000 })
          const sb = dueForSending(b, t, { intervalMs: 10_000 })
          assert.deepEqual(sb.alerts, sa.alerts)
          a = sa.state
          b = sb.state
          if (i === k) b = fromRecord(JSON.parse(JSON.stringify(toRecord(b))))
          assert.deepEqual(b, a)
        })
      }), { numRuns: 300 })
    })
  })
})

/**
 * The state the spec gives peer `p` after the successful evaluations `seen`
 * (failed ones are not there: they change nothing), without keep_firing_for.
 */
function expected (seen: Array<[number, Set<string>]>, p: string, forMs: number): string | undefined {
  const last = seen.length - 1
  if (last < 0) return undefined
  // The latest run of consecutive evaluations that saw p, and whether it is still on.
  let end = last
  while (end >= 0 && !(seen[end]?.[1].has(p) ?? false)) end--
  if (end < 0) return undefined
  let start = end
  while (start > 0 && (seen[start - 1]?.[1].has(p) ?? false)) start--
  const runStart = seen[start]?.[0] as number
  const firedDuringRun = (seen[end]?.[0] as number) - runStart >= forMs
  if (end === last) return firedDuringRun ? 'firing' : 'pending'
  if (!firedDuringRun) return undefined
  const resolvedAt = seen[end + 1]?.[0] as number
  // Dropped once an evaluation finds it resolved for more than the retention.
  const droppedBy = seen.slice(end + 1).some(([t]) => t - resolvedAt > RESOLVED_RETENTION_MS)
  return droppedBy ? undefined : 'resolved'
}
