/**
 * Rule files (managers/monitoring/rule-file.ts): what promtool accepts and we
 * evaluate parses; everything else is refused with the line and the reason,
 * and templates expand exactly as Prometheus expands them (checked by
 * promtool itself: `alert_rule_test` with our expansions as the expected
 * annotations).
 */
import { strict as assert } from 'node:assert'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { readFileSync } from 'node:fs'
import { InvalidRuleFileError, MAX_RULE_FILE_BYTES, parseRuleFile } from '../../../managers/monitoring/rule-file.js'
import { parseInhibitFile } from '../../../managers/monitoring/inhibit-file.js'
import { expandTemplate, parseTemplate, InvalidTemplateError } from '../../../managers/monitoring/template.js'

const PROMTOOL = process.env.PROMTOOL ?? 'promtool'

function promtool (files: Record<string, string>, args: (dir: string) => string[]): { status: number | null, output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'mycel-rules-'))
  try {
    for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text)
    const r = spawnSync(PROMTOOL, args(dir), { encoding: 'utf8', cwd: dir })
    if (r.error !== undefined) throw new Error(`cannot run ${PROMTOOL} (${r.error.message}): install Debian's 'prometheus' package (apt-get install prometheus), or set PROMTOOL`)
    return { status: r.status, output: `${r.stdout}${r.stderr}` }
  } finally { rmSync(dir, { recursive: true, force: true }) }
}

const GOOD = `# the mycel example
groups:
  - name: members
    interval: 30s
    rules:
      - alert: MemberDown
        expr: mycel_member_up == 0
        for: 30s
        keep_firing_for: 1m
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.peer }} is down"
  - name: nodes
    limit: 50
    rules:
      - alert: DiskAlmostFull
        expr: mycel_node_disk_free_ratio < 0.1 and on(peer) mycel_member_up == 1
        for: 1h30m
        annotations:
          description: 'only {{ $value | humanizePercentage }} free on {{ $labels.peer }}'
      - alert: LoadHigh
        expr: avg_over_time(mycel_node_load1[5m]) / on(peer) mycel_node_cpus > 2
`

const refused = (text: string, pattern: RegExp): void => {
  assert.throws(() => parseRuleFile(text), (err: unknown) => {
    assert.ok(err instanceof InvalidRuleFileError, String(err))
    assert.match(err.message, pattern)
    return true
  })
}

describe('rule files', () => {
  it('parses what promtool accepts: groups, durations in ms, labels, annotations, limit', () => {
    const groups = parseRuleFile(GOOD)
    assert.deepEqual(groups.map(g => [g.name, g.intervalMs, g.limit, g.rules.map(r => r.alert)]), [
      ['members', 30_000, 0, ['MemberDown']],
      ['nodes', undefined, 50, ['DiskAlmostFull', 'LoadHigh']]
    ])
    const down = groups[0].rules[0]
    assert.equal(down.forMs, 30_000)
    assert.equal(down.keepFiringForMs, 60_000)
    assert.deepEqual(down.labels, { severity: 'page' })
    assert.equal(groups[1].rules[0].forMs, 90 * 60_000)
    const r = promtool({ 'rules.yml': GOOD }, () => ['check', 'rules', 'rules.yml'])
    assert.equal(r.status, 0, r.output)
  })

  it('refuses with the line and the reason: syntax, unknown fields, durations, names, expressions, templates, sizes', () => {
    refused('groups:\n  - name: a\n    rules: [\n', /line \d+:/)
    refused('', /empty/)
    refused('- a\n- b\n', /not a map/)
    refused('groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: up\n        severity: page\n', /line 4: groups\.0\.rules\.0: field "severity" not allowed here/)
    refused('groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: up\n        for: 5 minutes\n', /line 6: groups\.0\.rules\.0\.for: not a duration/)
    refused('groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: up\n        labels: { 1bad: x }\n', /invalid label name/)
    refused('groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: up\n  - name: b\n    rules:\n      - alert: A\n        expr: up\n', /line 8: group "b", rule 1 \(alert A\): duplicate alert name "A" \(also in group "a"\)/)
    refused('groups:\n  - name: a\n    rules: []\n  - name: a\n    rules: []\n', /duplicate group name/)
    refused('groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: histogram_quantile(0.9, x)\n', /line 5: group "a", rule 1 \(alert A\): expr at line 1, column 1: .*histogram_quantile/)
    refused('groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: sum(x[5m])\n', /expr at line 1, column \d+: .*range vector/)
    refused('groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: up ==\n', /expr at line 1, column \d+/)
    refused('groups:\n  - name: a\n    rules:\n      - record: job:up\n        expr: up\n', /recording rules are not evaluated by mycel/)
    refused('groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: up\n        annotations: { s: "{{ range $x }}" }\n', /annotations\.s: unsupported template action/)
    refused('groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: up\n        labels: { alertname: B }\n', /alertname/)
    refused('groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: up\n        labels: { __name__: B }\n', /invalid label name "__name__"/)
    refused(`groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: up\n        annotations: { ${'a'.repeat(129)}: x }\n`, /invalid annotation name/)
    const labels = Array.from({ length: 17 }, (_, i) => `l${i}: v`).join(', ')
    refused(`groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: up\n        labels: { ${labels} }\n`, /more than 16 labels/)
    refused(`groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: up\n        annotations: { s: "${'x'.repeat(MAX_RULE_FILE_BYTES)}" }\n`, /exceeds/)
    refused('groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: up\n      - alert: A\n        expr: up\n', /duplicate alert name/)
  })

  it('the shipped files (deploy/mycel) are accepted here and by promtool', () => {
    const rules = readFileSync('deploy/mycel/alert-rules.yml', 'utf8')
    const groups = parseRuleFile(rules)
    assert.ok(groups.flatMap(g => g.rules).some(r => r.alert === 'MemberDown'))
    const r = promtool({ 'rules.yml': rules }, () => ['check', 'rules', 'rules.yml'])
    assert.equal(r.status, 0, r.output)
    assert.ok(parseInhibitFile(readFileSync('deploy/mycel/inhibit-rules.yml', 'utf8')).length > 0)
  })

  it('a YAML bomb is refused, not expanded', () => {
    const bomb = 'a: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n'
    assert.throws(() => parseRuleFile(bomb), InvalidRuleFileError)
  })

  it('never throws anything but InvalidRuleFileError on arbitrary text', () => {
    fc.assert(fc.property(fc.string({ maxLength: 300 }), (text) => {
      try { parseRuleFile(text) } catch (err) { return err instanceof InvalidRuleFileError }
      return true
    }), { numRuns: 500 })
  })
})

describe('alert templates', () => {
  const TEMPLATES: Record<string, string> = {
    v: '{{ $value }}',
    h: '{{ $value | humanize }}',
    h2: '{{ humanize $value }}',
    p: '{{ humanizePercentage $value }}',
    d: '{{ $value | humanizeDuration }}',
    f: '{{ printf "%.2f" $value }}',
    g: '{{ printf "%.3g" $value }}',
    k: '{{ $value | humanize1024 }}',
    l: '{{ $labels.peer }} / {{ .Labels.peer }} / {{ index $labels "peer" }} / [{{ $labels.missing }}]',
    u: '{{ $labels.peer | toUpper }}',
    t: '  {{- $labels.peer -}}  !',
    c: 'a{{/* a comment */}}b'
  }
  // Not beyond int64 seconds: Go's humanizeDuration overflows there, and we do not copy that.
  const VALUES = [1234567.891, 0.000123, 0, 42, 0.5, -3.25, 86_400 * 3 + 61, 1e15, 999.99, 1024, 2.5e-7]

  it('expands as Prometheus does (promtool alert_rule_test with our expansions as the expected annotations)', () => {
    const parsed = Object.fromEntries(Object.entries(TEMPLATES).map(([k, t]) => [k, parseTemplate(t)]))
    const rules = `groups:\n  - name: t\n    rules:\n${VALUES.map((_, i) => `      - alert: A${i}\n        expr: x{i="${i}"}\n        annotations:\n${Object.entries(TEMPLATES).map(([k, t]) => `          ${k}: ${JSON.stringify(t)}`).join('\n')}\n`).join('')}`
    const tests = `rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n${VALUES.map((v, i) => `      - series: 'x{i="${i}",peer="node-ab"}'\n        values: '${v}'\n`).join('')}    alert_rule_test:\n${VALUES.map((v, i) => {
      const labels = { __name__: 'x', i: String(i), peer: 'node-ab' }
      const ann = Object.fromEntries(Object.entries(parsed).map(([k, t]) => [k, expandTemplate(t, labels, v)]))
      return `      - eval_time: 0m\n        alertname: A${i}\n        exp_alerts:\n          - exp_labels: { i: "${i}", peer: node-ab }\n            exp_annotations: ${JSON.stringify(ann)}\n`
    }).join('')}`
    const r = promtool({ 'rules.yml': rules, 'test.yml': tests }, () => ['test', 'rules', 'test.yml'])
    assert.equal(r.status, 0, r.output)
    // And the comparison can fail: one changed expansion is refused.
    const broken = tests.replace('"u":"NODE-AB"', '"u":"node-ab"')
    assert.notEqual(broken, tests)
    assert.notEqual(promtool({ 'rules.yml': rules, 'test.yml': broken }, () => ['test', 'rules', 'test.yml']).status, 0)
  })

  it('refuses actions outside the subset with the offset', () => {
    for (const [t, re] of [
      ['{{ range $labels }}x{{ end }}', /unsupported template action/],
      ['{{ $value | json }}', /unsupported template function 'json'/],
      ['{{ $labels.peer', /unclosed action/],
      ['{{ printf "%s %s" $value }}', /exactly one verb/],
      ['{{ query "up" }}', /unsupported/]
    ] as const) {
      assert.throws(() => parseTemplate(t), (err: unknown) => err instanceof InvalidTemplateError && re.test(err.message), t)
    }
  })
})
