/**
 * Our evaluator against Prometheus itself: every expression of the table is
 * evaluated over the fixture's series by our evaluator, the results are
 * written as the expected samples of a `promtool test rules` file over the
 * same series, and promtool (Debian's `prometheus` package) passes the file
 * only if Prometheus's engine computes the same samples, bit for bit.
 *
 * Eval times sit between the 1-minute scrapes: Prometheus 2.42 (Debian's)
 * reads ranges and the lookback closed at the start, Prometheus 3 (our
 * model) open; with no sample on a boundary both agree. Results containing
 * NaN cannot be compared by promtool (NaN ≠ NaN) and are tested apart.
 */
import { strict as assert } from 'node:assert'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseExpr } from '../../../managers/monitoring/promql/parse.js'
import { evaluate } from '../../../managers/monitoring/promql/evaluate.js'
import { fixtureStore, inputSeries, seriesName } from './promql-fixture.js'

const PROMTOOL = process.env.PROMTOOL ?? 'promtool'

/** [expression, eval times in minutes (each + 30 s)]. */
const TABLE: ReadonlyArray<[string, number[]]> = [
  ['mycel_member_up', [10, 20, 25]],
  ['mycel_member_up == 0', [3, 7, 20]],
  ['mycel_member_up{region="r1"}', [19, 20]],
  ['mycel_member_up{region!="r1"}', [10]],
  ['mycel_member_up{peer=~"p[12]"}', [10, 21]],
  ['mycel_member_up{peer!~"p1|p3"}', [10]],
  ['{__name__=~"mycel_node_.*", peer="p1"}', [10]],
  ['{__name__=~"mycel_member_.+"} unless mycel_member_up{peer="p1"}', [10]],
  ['mycel_node_load1 > 1', [4, 9]],
  ['mycel_node_load1 > bool 1', [4]],
  ['2 < mycel_node_load1', [4, 12]],
  ['1 < bool mycel_node_load1', [4]],
  ['mycel_node_load1 * 2 + 1', [6]],
  ['-mycel_node_load1', [6]],
  ['mycel_node_load1 / 0', [6]],
  ['-mycel_node_load1 / 0', [6]],
  ['mycel_node_load1 % 0.75', [3]],
  ['mycel_node_load1 ^ 2', [5]],
  ['2 ^ 10 - 1', [1]],
  ['7 % 3 * 2', [1]],
  ['1 > bool 2', [1]],
  ['time()', [10]],
  ['time() - 60', [10]],
  ['vector(3)', [10]],
  ['vector(time())', [2]],
  ['scalar(mycel_member_up{peer="p1"})', [10]],
  ['scalar(mycel_member_up{peer="p1"}) * mycel_node_load1', [10]],
  ['mycel_node_load1 - mycel_node_disk_free_ratio', [10]],
  ['mycel_node_load1 > mycel_node_disk_free_ratio', [10]],
  ['mycel_node_load1 >= bool on(peer) mycel_node_disk_free_ratio', [10]],
  ['mycel_node_load1 + ignoring(region) mycel_node_disk_free_ratio', [10]],
  ['mycel_node_load1 + on(peer, region) mycel_node_disk_free_ratio', [10]],
  ['mycel_node_load1 and mycel_node_disk_free_ratio', [10]],
  ['mycel_node_load1 and on(region) mycel_member_up{peer="p1"}', [10]],
  ['mycel_node_load1 or mycel_node_disk_free_ratio', [10, 22]],
  ['mycel_node_disk_free_ratio or on(region) mycel_node_load1', [10]],
  ['mycel_node_load1 unless mycel_node_disk_free_ratio', [10]],
  ['mycel_node_load1 unless ignoring(peer) mycel_member_up{region="r2"}', [10]],
  ['sum(mycel_node_load1)', [10, 25]],
  ['sum by (region) (mycel_node_load1)', [10, 25]],
  ['sum(mycel_node_load1) by (region, __name__)', [10]],
  ['sum without (peer) (mycel_node_load1)', [10]],
  ['avg by (region) (mycel_node_load1)', [10]],
  ['min(mycel_node_load1)', [1, 10]],
  ['max without (peer) (mycel_node_load1)', [10]],
  ['count by (region) (mycel_member_up == 1)', [3, 10, 22]],
  ['count(mycel_member_up) - sum(mycel_member_up)', [3, 21]],
  ['stdvar(mycel_node_load1)', [10]],
  ['stddev by (region) (mycel_node_load1)', [10]],
  ['group by (region) (mycel_node_load1)', [10]],
  ['absent(mycel_member_up{peer="p1"})', [10]],
  ['absent(mycel_member_up{peer="p9", region="r1", job=~"x"})', [10]],
  ['absent(nonexistent{job="a", job="b", instance="i"})', [10]],
  ['absent(mycel_member_up{peer="p2"})', [19, 20]],
  ['absent(sum(nonexistent))', [10]],
  ['absent_over_time(mycel_member_up{peer="p2"}[5m])', [22, 26]],
  ['rate(http_requests_total[5m])', [4, 10, 14, 30]],
  ['rate(http_requests_total[10m])', [15, 30]],
  ['increase(http_requests_total[5m])', [7, 10, 13]],
  ['increase(http_requests_total{job="db"}[15m])', [12]],
  ['sum by (job) (rate(http_requests_total[5m]))', [14, 30]],
  ['delta(temperature[5m])', [10, 16, 19]],
  ['rate(temperature[3m])', [10, 19]],
  ['avg_over_time(mycel_node_load1[5m])', [10, 22]],
  ['min_over_time(mycel_node_load1[10m])', [10]],
  ['max_over_time(temperature[5m])', [10, 18]],
  ['sum_over_time(mycel_node_load1[7m])', [10]],
  ['count_over_time(temperature[5m])', [16, 19]],
  ['last_over_time(temperature[5m])', [16, 19]],
  ['abs(temperature)', [12]],
  ['clamp_min(temperature, 0)', [12]],
  ['clamp_max(temperature, 3)', [12]],
  ['clamp(temperature, -2, 2)', [10]],
  ['ceil(mycel_node_load1)', [10]],
  ['floor(mycel_node_load1 * 3)', [10]],
  ['sqrt(mycel_node_load1)', [10]],
  ['temperature', [15, 16, 18]],
  ['(mycel_member_up == 0) and on(peer) (mycel_node_load1 > 0.5)', [3, 11]],
  ['sum by (region) (mycel_member_up) / count by (region) (mycel_member_up) < 1', [3, 7]]
]

interface Case { expr: string, eval_time: string, exp_samples: Array<{ labels: string, value: number }> }

function cases (): Case[] {
  const store = fixtureStore()
  const out: Case[] = []
  for (const [text, minutes] of TABLE) {
    const expr = parseExpr(text)
    for (const m of minutes) {
      const at = m * 60_000 + 30_000
      const v = evaluate(expr, at, store)
      const samples = v.type === 'scalar' ? [{ labels: {}, value: v.value }] : v.samples
      for (const s of samples) assert.ok(!Number.isNaN(s.value), `${text} at ${m}m30s gives NaN, which promtool cannot compare: test it apart`)
      out.push({ expr: text, eval_time: `${m}m30s`, exp_samples: samples.map(s => ({ labels: Object.keys(s.labels).length === 0 ? '{}' : seriesName(s.labels), value: s.value })) })
    }
  }
  return out
}

/** Runs promtool on a test file of `cases`; returns its exit status and output. */
function promtool (tests: Case[]): { status: number | null, output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'mycel-promql-'))
  try {
    const file = join(dir, 'promql.test.yml')
    // JSON is YAML, but for ±Inf: YAML spells them .inf and -.inf.
    const json = JSON.stringify({ evaluation_interval: '1m', tests: [{ interval: '1m', input_series: inputSeries(), promql_expr_test: tests }] },
      (_, v) => v === Infinity ? '\u0000inf' : v === -Infinity ? '\u0000-inf' : v, 1)
    writeFileSync(file, json.replaceAll('"\\u0000inf"', '.inf').replaceAll('"\\u0000-inf"', '-.inf'))
    const r = spawnSync(PROMTOOL, ['test', 'rules', file], { encoding: 'utf8' })
    if (r.error !== undefined) {
      throw new Error(`cannot run ${PROMTOOL} (${r.error.message}): install Debian's 'prometheus' package (apt-get install prometheus), or set PROMTOOL`)
    }
    return { status: r.status, output: r.stdout + r.stderr }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

describe('PromQL evaluator against Prometheus (promtool test rules)', function () {
  this.timeout(120_000)

  it(`agrees with Prometheus on ${TABLE.length} expressions`, () => {
    const all = cases()
    assert.ok(all.length > 100)
    const r = promtool(all)
    assert.equal(r.status, 0, r.output)
  })

  it('the comparison can fail: promtool refuses a result we changed', () => {
    const changed = cases().filter(c => c.expr === 'rate(http_requests_total[5m])')
    changed[0].exp_samples[0].value += 1e-9
    const r = promtool(changed)
    assert.notEqual(r.status, 0)
    assert.match(r.output, /rate\(http_requests_total\[5m\]\)/)
  })
})
