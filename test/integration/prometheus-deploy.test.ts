/**
 * mycel for users who run Prometheus and Grafana, checked against one real
 * agent (with a genesis, so consensus metrics register too, and token auth,
 * as the shipped mycel.yaml runs it) and Debian's promtool:
 * - its /metrics passes `promtool check metrics`, every metric family linted
 *   (also those without a sample yet);
 * - deploy/prometheus passes `promtool check config`, `check rules` and its
 *   rule unit tests, and every metric its rules read exists in /metrics;
 * - deploy/grafana/mycel.json is an importable dashboard whose every query
 *   parses and reads metrics that exist.
 * PromQL is parsed with @prometheus-io/lezer-promql, Prometheus's own grammar.
 */
import { strict as assert } from 'node:assert'
import { spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parser } from '@prometheus-io/lezer-promql'
import { parse as parseYaml } from 'yaml'
import { AgentProcess } from '../../harness/agent-process.js'
import { createIdentity } from '../../daemon/identity.js'
import { createGenesis, genesisToJson } from '../../protocols/bft/genesis.js'
import { writeFileDurable } from '../../lib/durable-file.js'
import { LIBP2P_METRIC_RENAMES } from '../../daemon/libp2p-metric-names.js'
import { DROPPED_PROCESS_METRICS } from '../../daemon/process-metrics.js'

const PROMETHEUS_DIR = resolve('deploy/prometheus')
const RULE_FILES = ['mycel-recording.rules.yml', 'mycel-alerts.rules.yml']
const DASHBOARD = resolve('deploy/grafana/mycel.json')
/** Series Prometheus itself makes: scrape health and alert state. */
const PROMETHEUS_SERIES = new Set(['up', 'ALERTS', 'ALERTS_FOR_STATE'])

function promtool (args: string[], input?: string): { status: number | null, output: string } {
  const r = spawnSync('promtool', args, { input, encoding: 'utf8', cwd: PROMETHEUS_DIR, timeout: 60_000 })
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    throw new Error('promtool not found: install Debian\'s package `prometheus` (apt-get install prometheus), which provides /usr/bin/promtool')
  }
  if (r.error !== undefined) throw r.error
  return { status: r.status, output: `${r.stdout}${r.stderr}` }
}

/** Metric families of an exposition: name → type, from the `# TYPE` lines. */
function families (text: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const line of text.split('\n')) {
    const [hash, kw, name, type] = line.split(' ')
    if (hash === '#' && kw === 'TYPE') out.set(name, type)
  }
  return out
}

/** Series names an exposition can hold: each family, with _bucket/_sum/_count for histograms and summaries. */
function seriesNames (text: string): Set<string> {
  const out = new Set<string>()
  for (const [name, type] of families(text)) {
    out.add(name)
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) out.add(name + s)
    if (type === 'summary') for (const s of ['_sum', '_count']) out.add(name + s)
  }
  return out
}

/**
 * The exposition with a zero sample added to every family that has none:
 * promtool's parser drops empty families, so a metric that has not been
 * set yet (a labelled gauge, a histogram never observed) would escape the lint.
 */
function withEveryFamilySampled (text: string): string {
  const sampled = new Set(text.split('\n').filter(l => l !== '' && !l.startsWith('#')).map(l => /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(l)?.[0]))
  return text.split('\n').flatMap(line => {
    const [hash, kw, name, type] = line.split(' ')
    if (hash !== '#' || kw !== 'TYPE') return [line]
    if (type === 'histogram') return sampled.has(`${name}_count`) ? [line] : [line, `${name}_bucket{le="+Inf"} 0`, `${name}_sum 0`, `${name}_count 0`]
    if (type === 'summary') return sampled.has(`${name}_count`) ? [line] : [line, `${name}_sum 0`, `${name}_count 0`]
    return sampled.has(name) ? [line] : [line, `${name} 0`]
  }).join('\n')
}

/** Metric names a PromQL expression selects; throws with the position of a syntax error. */
function metricNames (expr: string): Set<string> {
  const names = new Set<string>()
  const tree = parser.parse(expr)
  tree.iterate({
    enter: (node) => {
      if (node.type.isError) throw new Error(`PromQL syntax error at ${node.from} in ${JSON.stringify(expr)}`)
      if (node.name === 'VectorSelector') {
        const id = node.node.getChild('Identifier')
        if (id !== null) names.add(expr.slice(id.from, id.to))
        for (const m of node.node.getChild('LabelMatchers')?.getChildren('UnquotedLabelMatcher') ?? []) {
          const label = m.getChild('LabelName')
          const value = m.getChild('StringLiteral')
          if (label !== null && value !== null && expr.slice(label.from, label.to) === '__name__') names.add(JSON.parse(expr.slice(value.from, value.to)) as string)
        }
      }
    }
  })
  return names
}

interface RuleFile { groups: Array<{ name: string, rules: Array<{ record?: string, alert?: string, expr: string }> }> }

async function rules (): Promise<Array<{ record?: string, alert?: string, expr: string }>> {
  const files = await Promise.all(RULE_FILES.map(async f => parseYaml(await readFile(join(PROMETHEUS_DIR, f), 'utf8')) as RuleFile))
  return files.flatMap(f => f.groups.flatMap(g => g.rules))
}

/** A Grafana query with its template variables replaced by values PromQL accepts. */
function grafanaToPromql (expr: string): string {
  return expr.replace(/\$__(rate_interval|interval|range)\b/g, '5m').replace(/\$\{?[a-zA-Z_]\w*\}?/g, 'x')
}

describe('Prometheus and Grafana: metric names, deploy/prometheus, deploy/grafana', function () {
  this.timeout(180_000)
  let dir: string
  let agent: AgentProcess
  let exposition: string

  before(async () => {
    promtool(['--version'])
    dir = await mkdtemp(join(tmpdir(), 'mycel-prom-'))
    const id = (await createIdentity(dir)).peerId
    const genesis = join(dir, 'genesis.json')
    await writeFileDurable(genesis, genesisToJson(createGenesis({ networkId: 'prom', validators: [id], admins: [id] })), 0o644)
    agent = await AgentProcess.start({ dataDir: dir, apiAuth: 'token', extraArgs: ['--genesis', genesis] })
    // One commit, so the consensus histograms have samples as well.
    const put = await agent.request('POST', '/v1/critical', { key: 'acl/prom', value: `["${id}"]`, timeoutMs: 30_000 })
    assert.equal(put.status, 200, JSON.stringify(put.json))
    // Scrapers need no token, even with apiAuth token.
    const res = await fetch(`http://${agent.api}/metrics`, { signal: AbortSignal.timeout(10_000) })
    assert.equal(res.status, 200)
    exposition = await res.text()
  })

  after(async () => {
    await agent?.cleanup()
    await rm(dir, { recursive: true, force: true })
  })

  it('/metrics passes promtool check metrics, every family linted', () => {
    // The lint sees what it must: a gauge named like a counter, with no sample, is reported.
    const planted = promtool(['check', 'metrics'], withEveryFamilySampled('# HELP mycel_planted_total x\n# TYPE mycel_planted_total gauge\n'))
    assert.match(planted.output, /mycel_planted_total non-counter metrics should not have "_total" suffix/)
    const r = promtool(['check', 'metrics'], withEveryFamilySampled(exposition))
    assert.equal(r.output, '', 'promtool check metrics found problems')
    assert.equal(r.status, 0)
  })

  it('exports libp2p\'s renamed metrics under their new names only, and the renamed mycel ones', () => {
    const names = families(exposition)
    for (const [from, to] of LIBP2P_METRIC_RENAMES) {
      assert.ok(names.has(to.name), `${to.name} (was ${from}) in /metrics`)
      assert.ok(!names.has(from), `${from} not in /metrics`)
    }
    for (const dropped of DROPPED_PROCESS_METRICS) assert.ok(!names.has(dropped), `${dropped} not in /metrics`)
    assert.ok(names.has('mycel_process_nodejs_active_handles'))
    assert.ok(names.has('mycel_region_rss_bytes') && !names.has('mycel_region_rss_bytes_sum'))
  })

  it('deploy/prometheus: promtool check config, check rules and the rules\' unit tests pass', () => {
    const config = promtool(['check', 'config', '--lint=all', '--lint-fatal', 'prometheus.yml'])
    assert.equal(config.status, 0, config.output)
    const checked = promtool(['check', 'rules', '--lint=all', '--lint-fatal', ...RULE_FILES])
    assert.equal(checked.status, 0, checked.output)
    const tested = promtool(['test', 'rules', 'mycel-alerts.test.yml'])
    assert.equal(tested.status, 0, tested.output)
  })

  it('deploy/prometheus: every metric the rules read exists in a real agent\'s /metrics', async () => {
    const all = await rules()
    const recorded = new Set(all.flatMap(r => r.record !== undefined ? [r.record] : []))
    const exported = seriesNames(exposition)
    const used = new Set(all.flatMap(r => [...metricNames(r.expr)]))
    assert.ok(used.has('mycel_members') && used.has('mycel_config_propagation_lag_seconds_bucket'), 'names are found in the expressions')
    const missing = [...used].filter(n => !exported.has(n) && !recorded.has(n) && !PROMETHEUS_SERIES.has(n))
    assert.deepEqual(missing, [], 'metrics the rules read that no agent exports')
    assert.ok(all.filter(r => r.alert !== undefined).length >= 20)
  })

  it('deploy/grafana/mycel.json: an importable dashboard whose queries parse and read metrics that exist', async () => {
    const d = JSON.parse(await readFile(DASHBOARD, 'utf8')) as {
      __inputs: Array<{ name: string, type: string, pluginId: string }>
      uid: string
      title: string
      schemaVersion: number
      panels: Array<{ id: number, type: string, title: string, gridPos: { h: number, w: number, x: number, y: number }, datasource?: { type: string, uid: string }, targets?: Array<{ expr: string, refId: string, datasource: { uid: string } }> }>
      templating: { list: Array<{ name: string, query: { query: string } }> }
    }
    // What Grafana's import needs: a data source input it asks for, a uid and title, a current schema.
    assert.deepEqual(d.__inputs.map(i => [i.name, i.type, i.pluginId]), [['DS_PROMETHEUS', 'datasource', 'prometheus']])
    assert.ok(d.uid.length > 0 && d.uid.length <= 40 && d.title.length > 0)
    assert.ok(d.schemaVersion >= 36 && d.schemaVersion <= 41, `schemaVersion ${d.schemaVersion}`)
    assert.equal(new Set(d.panels.map(p => p.id)).size, d.panels.length, 'panel ids are unique')
    const exported = seriesNames(exposition)
    const used = new Set<string>()
    for (const p of d.panels) {
      assert.ok(p.gridPos.w > 0 && p.gridPos.x + p.gridPos.w <= 24, `${p.title}: gridPos`)
      if (p.type === 'row') continue
      assert.equal(p.datasource?.uid, '${DS_PROMETHEUS}', `${p.title}: data source`)
      assert.ok((p.targets ?? []).length > 0, `${p.title}: queries`)
      for (const t of p.targets ?? []) {
        assert.equal(t.datasource.uid, '${DS_PROMETHEUS}', `${p.title} ${t.refId}: data source`)
        for (const n of metricNames(grafanaToPromql(t.expr))) used.add(n)
      }
    }
    // Template variables: label_values(SELECTOR, LABEL), the selector is PromQL.
    for (const v of d.templating.list) {
      const call = /^label_values\((.+),\s*\w+\)$/.exec(v.query.query)
      assert.ok(call !== null, `variable ${v.name}: ${v.query.query}`)
      for (const n of metricNames(grafanaToPromql(call[1]))) used.add(n)
    }
    // The panels: members by state, probe latency, suspicions, config propagation lag, BFT height and
    // commit latency, roles and terms, components and rollouts, alerts.
    for (const n of ['mycel_members', 'mycel_probe_duration_seconds_bucket', 'mycel_suspicions_total', 'mycel_config_propagation_lag_seconds_bucket',
      'mycel_bft_height', 'mycel_bft_commit_latency_seconds_bucket', 'mycel_election_is_holder', 'mycel_election_current_term',
      'mycel_component_state', 'mycel_rollouts', 'ALERTS']) assert.ok(used.has(n), `a panel shows ${n}`)
    const missing = [...used].filter(n => !exported.has(n) && !PROMETHEUS_SERIES.has(n))
    assert.deepEqual(missing, [], 'metrics the dashboard reads that no agent exports')
  })
})
