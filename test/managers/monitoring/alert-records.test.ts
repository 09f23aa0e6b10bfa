/**
 * The region's alert records (managers/monitoring/alert-records.ts):
 * `planAlertWrites` writes transitions only, claims a lower term's records,
 * writes nothing once a higher term wrote, deletes what the state no longer
 * has and leaves other regions alone; whatever it writes passes the
 * receivers' check and reads back (`loadAlertStates`) as the same
 * lifecycle, NaN and ±Inf values included (property). Rule files that
 * `parseRuleFile` accepts pass the record check unchanged (property).
 */
import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import { stringify } from 'yaml'
import type { Alert, RuleAlertState } from '../../../managers/monitoring/alert-lifecycle.js'
import { loadAlertStates, planAlertWrites, type RuleStates } from '../../../managers/monitoring/alert-records.js'
import { fingerprint } from '../../../managers/monitoring/matchers.js'
import { alertKey, checkMonitoringEntry } from '../../../managers/monitoring/records.js'
import { parseTextRecord, RULES_KEY } from '../../../managers/monitoring/rules-record.js'
import { parseRuleFile } from '../../../managers/monitoring/rule-file.js'

type Entries = Array<[string, { value: unknown }]>

function states (...rules: Array<[group: string, rule: string, alerts: Alert[]]>): RuleStates {
  return { byRule: new Map(rules.map(([group, rule, alerts]) => [`${group}/${rule}`, { group, rule, state: { alerts } satisfies RuleAlertState }])) }
}

const firing = (peer: string, extra: Partial<Alert> = {}): Alert => ({ labels: { alertname: 'MemberDown', peer }, annotations: {}, state: 'firing', value: 0, activeAt: 1000, firedAt: 2000, ...extra })

/** Apply a plan to `entries` as config would. */
function apply (entries: Entries, plan: ReturnType<typeof planAlertWrites>): Entries {
  const m = new Map(entries)
  for (const [k, v] of plan.writes) { checkMonitoringEntry(k, v); m.set(k, { value: JSON.parse(JSON.stringify(v)) }) }
  for (const k of plan.deletes) m.delete(k)
  return [...m]
}

describe('managers/monitoring/alert-records', () => {
  it('writes an alert on its transitions only: not when just its value or annotations change', () => {
    let entries: Entries = []
    const s1 = states(['g', 'MemberDown', [firing('p1', { state: 'pending', firedAt: undefined })]])
    const p1 = planAlertWrites(entries, 'eu', 3, s1)
    assert.deepEqual(p1.writes.map(([k]) => k), [alertKey('eu', fingerprint({ alertname: 'MemberDown', peer: 'p1' }))])
    entries = apply(entries, p1)
    const p2 = planAlertWrites(entries, 'eu', 3, states(['g', 'MemberDown', [firing('p1', { state: 'pending', firedAt: undefined, value: 7, annotations: { summary: 'now 7' } })]]))
    assert.deepEqual(p2, { writes: [], deletes: [], superseded: false })
    const p3 = planAlertWrites(entries, 'eu', 3, states(['g', 'MemberDown', [firing('p1')]]))
    assert.equal(p3.writes.length, 1)
    assert.equal(p3.writes[0][1].alert.s, 'firing')
  })

  it('claims a lower term\'s records, writes nothing once a higher term wrote, deletes what the state lost, leaves other regions alone', () => {
    let entries: Entries = []
    entries = apply(entries, planAlertWrites(entries, 'eu', 3, states(['g', 'MemberDown', [firing('p1'), firing('p2')]])))
    entries = apply(entries, planAlertWrites(entries, 'us', 9, states(['g', 'MemberDown', [firing('p9')]])))
    // Term 4 continues with the same alerts: it rewrites them under its term.
    const claim = planAlertWrites(entries, 'eu', 4, states(['g', 'MemberDown', [firing('p1'), firing('p2')]]))
    assert.equal(claim.writes.length, 2)
    assert.ok(claim.writes.every(([, v]) => v.term === 4))
    entries = apply(entries, claim)
    // The deposed term 3 writes nothing, whatever its state says.
    assert.deepEqual(planAlertWrites(entries, 'eu', 3, states(['g', 'MemberDown', [firing('p3')]])), { writes: [], deletes: [], superseded: true })
    // p2 forgotten by term 4: deleted; us untouched.
    const drop = planAlertWrites(entries, 'eu', 4, states(['g', 'MemberDown', [firing('p1')]]))
    assert.deepEqual(drop, { writes: [], deletes: [alertKey('eu', fingerprint({ alertname: 'MemberDown', peer: 'p2' }))], superseded: false })
    // A lower term's late write (a deposed holder that had not seen term 4 yet) is corrected by the next round.
    const late = apply(entries, { writes: [[alertKey('eu', fingerprint({ alertname: 'MemberDown', peer: 'p1' })), { v: 1, term: 3, group: 'g', rule: 'MemberDown', alert: { l: { alertname: 'MemberDown', peer: 'p1' }, a: {}, s: 'resolved', v: '0', at: 1000, fired: 2000, resolved: 3000 } }]], deletes: [], superseded: false })
    const fix = planAlertWrites(late, 'eu', 4, states(['g', 'MemberDown', [firing('p1'), firing('p2')]]))
    assert.deepEqual(fix.writes.map(([, v]) => [v.term, v.alert.s]), [[4, 'firing']])
  })

  it('what it writes passes the receivers\' check and reads back as the same lifecycle, NaN and ±Inf values included (property)', () => {
    const value = fc.oneof(fc.double(), fc.constantFrom(Number.NaN, Infinity, -Infinity, -0, 1e308, 5e-324))
    const time = fc.integer({ min: 0, max: 4e12 })
    const alertArb: fc.Arbitrary<Alert> = fc.record({
      peer: fc.string({ minLength: 1, maxLength: 40 }),
      extra: fc.dictionary(fc.stringMatching(/^[a-z_][a-z0-9_]{0,20}$/), fc.string({ minLength: 1, maxLength: 60 }), { maxKeys: 5 }),
      annotations: fc.dictionary(fc.stringMatching(/^[a-z_][a-z0-9_]{0,20}$/), fc.string({ maxLength: 200 }), { maxKeys: 4 }),
      state: fc.constantFrom('pending', 'firing', 'resolved') as fc.Arbitrary<Alert['state']>,
      value,
      at: time,
      fired: time,
      resolved: time,
      keep: fc.option(time, { nil: undefined })
    }).map(r => ({
      labels: { ...r.extra, alertname: 'R', peer: r.peer },
      annotations: { ...r.annotations },
      state: r.state,
      value: r.value,
      activeAt: r.at,
      ...(r.state !== 'pending' ? { firedAt: r.fired } : {}),
      ...(r.state === 'resolved' ? { resolvedAt: r.resolved } : {}),
      ...(r.state === 'firing' && r.keep !== undefined ? { keepFiringSince: r.keep } : {})
    }))
    fc.assert(fc.property(fc.uniqueArray(alertArb, { maxLength: 8, selector: a => fingerprint(a.labels) }), fc.string({ minLength: 1, maxLength: 128 }), (alerts, group) => {
      const s = states([group, 'R', alerts])
      const entries = apply([], planAlertWrites([], 'eu', 1, s))
      const back = loadAlertStates(entries, 'eu')
      const got = [...back.byRule.values()].flatMap(r => r.state.alerts)
      const norm = (a: Alert): unknown => ({ ...a, value: Object.is(a.value, -0) ? 0 : a.value })
      assert.deepEqual(got.map(norm), [...alerts].sort((x, y) => fingerprint(x.labels) < fingerprint(y.labels) ? -1 : 1).map(norm))
      assert.deepEqual([...back.byRule.values()].map(r => r.group), alerts.length > 0 ? [group] : [])
      // Read back, nothing is left to write.
      assert.deepEqual(planAlertWrites(entries, 'eu', 1, back).writes, [])
    }), { numRuns: 200 })
  })

  it('any rule file parseRuleFile accepts passes the record check as stored, and parses back the same (property)', () => {
    const name = fc.string({ minLength: 1, maxLength: 128 })
    const labelName = fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,30}$/)
    const rule = fc.record({
      alert: fc.string({ minLength: 1, maxLength: 130 }),
      expr: fc.constantFrom('mycel_member_up == 0', 'sum by (region) (mycel_node_load1) > 4', 'absent(mycel_member_up)', 'rate(mycel_component_restarts_total[5m]) > 0', 'up ==', 'foo(bar)'),
      for: fc.option(fc.constantFrom('30s', '1m', '1h30m', '0s', 'soon'), { nil: undefined }),
      labels: fc.option(fc.dictionary(labelName, fc.string({ maxLength: 40 }), { maxKeys: 3 }), { nil: undefined }),
      annotations: fc.option(fc.dictionary(labelName, fc.oneof(fc.string({ maxLength: 40 }), fc.constant('{{ $labels.peer }} at {{ $value | humanize }}')), { maxKeys: 3 }), { nil: undefined })
    }, { requiredKeys: ['alert', 'expr'] })
    const file = fc.record({ groups: fc.array(fc.record({ name, interval: fc.option(fc.constantFrom('10s', '1m'), { nil: undefined }), rules: fc.array(rule, { maxLength: 3 }) }, { requiredKeys: ['name', 'rules'] }), { maxLength: 3 }) })
    let accepted = 0
    fc.assert(fc.property(file, (f) => {
      const text = stringify(f)
      let parsed
      try { parsed = parseRuleFile(text) } catch { return }
      accepted++
      const record = { v: 1, text, setAt: 1 }
      checkMonitoringEntry(RULES_KEY, record)
      assert.deepEqual(parseTextRecord('rule file', JSON.parse(JSON.stringify(record)), parseRuleFile).parsed, parsed)
    }), { numRuns: 150 })
    assert.ok(accepted > 10, `only ${accepted} files accepted: the generator tests little`)
  })
})
