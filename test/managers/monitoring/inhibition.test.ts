import { strict as assert } from 'node:assert'
import { inhibitedBy, MEMBER_DOWN_ALERT } from '../../../managers/monitoring/inhibition.js'
import { fingerprint, parseMatchers } from '../../../managers/monitoring/matchers.js'
import type { InhibitRule, Labels } from '../../../managers/monitoring/types.js'

function rule (source: string, target: string, equal: string[]): InhibitRule {
  return { sourceMatchers: parseMatchers(source), targetMatchers: parseMatchers(target), equal }
}

describe('managers/monitoring/inhibition', () => {
  const critWarn = rule('severity=critical', 'severity=warning', ['peer'])
  const crit = { alertname: 'DiskFull', severity: 'critical', peer: 'p1' }

  it('follows Alertmanager: target matches, a firing source matches with equal labels', () => {
    const table: Array<[string, readonly InhibitRule[], Labels[], Labels, Labels | undefined]> = [
      ['muted by a critical on the same peer', [critWarn], [crit], { alertname: 'Load', severity: 'warning', peer: 'p1' }, crit],
      ['another peer: not muted', [critWarn], [crit], { alertname: 'Load', severity: 'warning', peer: 'p2' }, undefined],
      ['not a target', [critWarn], [crit], { alertname: 'Load', severity: 'info', peer: 'p1' }, undefined],
      ['no source firing', [critWarn], [], { alertname: 'Load', severity: 'warning', peer: 'p1' }, undefined],
      ['equal label missing on both sides counts as equal', [critWarn], [{ alertname: 'X', severity: 'critical' }], { alertname: 'Y', severity: 'warning' }, { alertname: 'X', severity: 'critical' }],
      ['equal label missing on one side: not equal', [critWarn], [{ alertname: 'X', severity: 'critical' }], { alertname: 'Y', severity: 'warning', peer: 'p1' }, undefined],
      ['no equal labels: any source', [rule('alertname=Outage', 'severity=~".+"', [])], [{ alertname: 'Outage' }], { alertname: 'Z', severity: 'page' }, { alertname: 'Outage' }],
      ['second rule applies', [rule('a=never', 'severity=warning', []), critWarn], [crit], { severity: 'warning', peer: 'p1' }, crit]
    ]
    for (const [name, rules, firing, alert, want] of table) {
      assert.equal(inhibitedBy(rules, firing, alert), want === undefined ? undefined : fingerprint(want), name)
    }
  })

  it('an alert never inhibits itself, nor do two alerts matching both sides mute each other', () => {
    const both = rule('alertname=Flap', 'alertname=Flap', ['peer'])
    const a = { alertname: 'Flap', peer: 'p1', n: '1' }
    const b = { alertname: 'Flap', peer: 'p1', n: '2' }
    assert.equal(inhibitedBy([both], [a], a), undefined)
    assert.equal(inhibitedBy([both], [a, b], a), undefined)
    // A source that matches only the source side still mutes a two-sided alert.
    const wide = rule('alertname=~"Flap|Root"', 'alertname=Flap', [])
    assert.equal(inhibitedBy([wide], [a, { alertname: 'Root' }], a), fingerprint({ alertname: 'Root' }))
  })

  it('built-in topology rule: a firing MemberDown of a dead peer mutes that peer\'s other alerts', () => {
    const down = { alertname: MEMBER_DOWN_ALERT, peer: 'p1', region: 'r' }
    const disk = { alertname: 'DiskFull', peer: 'p1' }
    const dead = new Set(['p1'])
    const isDead = (p: string): boolean => dead.has(p)
    assert.equal(inhibitedBy([], [down, disk], disk, { isDead }), fingerprint(down))
    assert.equal(inhibitedBy([], [down, disk], { alertname: 'DiskFull', peer: 'p2' }, { isDead: () => true }), undefined, 'another peer')
    assert.equal(inhibitedBy([], [down, disk], disk, { isDead: () => false }), undefined, 'suspect or alive: not muted')
    assert.equal(inhibitedBy([], [down, disk], disk), undefined, 'without membership: not muted')
    assert.equal(inhibitedBy([], [disk], disk, { isDead }), undefined, 'MemberDown not firing')
    assert.equal(inhibitedBy([], [down], down, { isDead }), undefined, 'MemberDown itself is never muted')
    assert.equal(inhibitedBy([], [down], { alertname: 'DiskFull' }, { isDead }), undefined, 'no peer label')
  })
})
