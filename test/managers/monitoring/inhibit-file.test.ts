/** Inhibit files (managers/monitoring/inhibit-file.ts): Alertmanager's inhibit_rules section, both matcher forms, clear refusals. */
import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import { InvalidInhibitFileError, parseInhibitFile } from '../../../managers/monitoring/inhibit-file.js'

const refused = (text: string, pattern: RegExp): void => {
  assert.throws(() => parseInhibitFile(text), (err: unknown) => err instanceof InvalidInhibitFileError && pattern.test(err.message), text)
}

describe('inhibit files', () => {
  it('reads source_matchers/target_matchers and the older match/match_re maps', () => {
    const rules = parseInhibitFile(`inhibit_rules:
  - source_matchers: ['alertname = RegionDown']
    target_matchers: ['severity =~ "warning|info"', 'team != ops']
    equal: [region]
  - source_match: { alertname: MemberDown }
    target_match_re: { alertname: 'Component.*' }
    equal: [peer]
`)
    assert.deepEqual(rules[0], {
      sourceMatchers: [{ name: 'alertname', type: '=', value: 'RegionDown' }],
      targetMatchers: [{ name: 'severity', type: '=~', value: 'warning|info' }, { name: 'team', type: '!=', value: 'ops' }],
      equal: ['region']
    })
    assert.deepEqual(rules[1], { sourceMatchers: [{ name: 'alertname', type: '=', value: 'MemberDown' }], targetMatchers: [{ name: 'alertname', type: '=~', value: 'Component.*' }], equal: ['peer'] })
  })

  it('refuses with the line: bad YAML, unknown fields, bad matchers, rules that would mute everything', () => {
    refused('inhibit_rules: [\n', /line \d+/)
    refused('rules: []\n', /inhibit_rules: .*expected array/)
    refused('inhibit_rules:\n  - source_matchers: [a=1]\n    target_matchers: [b=2]\n    equals: [x]\n', /line 2: inhibit_rules\.0: field "equals" not allowed/)
    refused('inhibit_rules:\n  - source_matchers: [a=1]\n    target_matchers: ["b=~("]\n', /line 3: inhibit rule 1: target_matchers: bad matcher/)
    refused('inhibit_rules:\n  - target_matchers: [b=2]\n', /no source matchers/)
    refused('inhibit_rules:\n  - source_matchers: [a=1]\n', /no target matchers/)
    refused('inhibit_rules:\n  - source_match: { 1x: a }\n    target_matchers: [b=2]\n', /invalid label name/)
    refused('- a\n', /not a map/)
  })

  it('never throws anything but InvalidInhibitFileError on arbitrary text', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), (text) => {
      try { parseInhibitFile(text) } catch (err) { return err instanceof InvalidInhibitFileError }
      return true
    }), { numRuns: 500 })
  })
})
