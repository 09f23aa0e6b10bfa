/**
 * The run's result: testground's outcome (success only when every instance of every group succeeded),
 * per-group ok/total, a journal of sdk events as seen on the sync service, per-instance details
 * (status, error, RSS) and the measurements the instances wrote.
 *
 * Measurements: an instance may write `results.json` into TEST_OUTPUTS_PATH holding
 * `{ "metrics": { "<name>": <number>, ... } }`; the runner summarises every metric over the instances
 * that reported it (count, min, p50, p95, max, mean), per group and overall.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { InstanceSummary } from './instance.js'
import type { PreparedRun } from './composition.js'

export interface GroupOutcome { ok: number, total: number }
export interface EventCounts { start: number, success: number, failure: number, crash: number, message: number }
export interface MetricSummary { count: number, min: number, p50: number, p95: number, max: number, mean: number }

export interface RunResult {
  run_id: string
  plan: string
  case: string
  runner: string
  mode: 'netns' | 'loopback'
  outcome: 'success' | 'failure' | 'canceled'
  outcomes: Record<string, GroupOutcome>
  journal: { events: Record<string, EventCounts>, network: { applied: number, refused: number } }
  started_at: string
  finished_at: string
  duration_ms: number
  params: Record<string, Record<string, string>>
  metrics: { all: Record<string, MetricSummary>, groups: Record<string, Record<string, MetricSummary>> }
  rss: { peak_bytes: MetricSummary | null, last_bytes: MetricSummary | null }
  /** CPU seconds per instance (plan + agent), and all instances together */
  cpu: { seconds: MetricSummary | null, total_seconds: number }
  instances: Array<InstanceSummary & { metrics?: Record<string, number> }>
  cleanup_problems: string[]
}

export function summarize (values: number[]): MetricSummary | null {
  if (values.length === 0) return null
  const v = [...values].sort((a, b) => a - b)
  const q = (p: number): number => v[Math.min(v.length - 1, Math.max(0, Math.ceil(p * v.length) - 1))]
  const round = (x: number): number => Math.round(x * 1000) / 1000
  return { count: v.length, min: round(v[0]), p50: round(q(0.5)), p95: round(q(0.95)), max: round(v[v.length - 1]), mean: round(v.reduce((a, b) => a + b, 0) / v.length) }
}

/** Reads `results.json` of an instance; anything malformed is ignored (and noted). */
export async function readInstanceMetrics (outputsDir: string): Promise<Record<string, number> | undefined> {
  let raw: string
  try {
    raw = await readFile(join(outputsDir, 'results.json'), 'utf8')
  } catch {
    return undefined
  }
  try {
    const doc = JSON.parse(raw) as { metrics?: Record<string, unknown> }
    const out: Record<string, number> = {}
    for (const [k, v] of Object.entries(doc.metrics ?? {})) if (typeof v === 'number' && Number.isFinite(v)) out[k] = v
    return out
  } catch {
    return undefined
  }
}

function summarizeMetrics (rows: Array<Record<string, number> | undefined>): Record<string, MetricSummary> {
  const byName = new Map<string, number[]>()
  for (const r of rows) {
    if (r === undefined) continue
    for (const [k, v] of Object.entries(r)) byName.set(k, [...(byName.get(k) ?? []), v])
  }
  const out: Record<string, MetricSummary> = {}
  for (const [k, vs] of [...byName].sort(([a], [b]) => a.localeCompare(b))) out[k] = summarize(vs) as MetricSummary
  return out
}

export function buildResult (args: {
  runId: string
  prepared: PreparedRun
  mode: 'netns' | 'loopback'
  canceled: boolean
  startedAt: number
  instances: Array<InstanceSummary & { metrics?: Record<string, number> }>
  events: Record<string, EventCounts>
  network: { applied: number, refused: number }
  cleanupProblems: string[]
}): RunResult {
  const outcomes: Record<string, GroupOutcome> = {}
  const groups: Record<string, Record<string, MetricSummary>> = {}
  const params: Record<string, Record<string, string>> = {}
  for (const g of args.prepared.groups) {
    const mine = args.instances.filter(i => i.group === g.id)
    outcomes[g.id] = { ok: mine.filter(i => i.status === 'success').length, total: g.instances }
    groups[g.id] = summarizeMetrics(mine.map(i => i.metrics))
    params[g.id] = g.params
  }
  const allOk = Object.values(outcomes).every(o => o.ok === o.total)
  const finished = Date.now()
  return {
    run_id: args.runId,
    plan: args.prepared.plan,
    case: args.prepared.case,
    runner: args.prepared.runner,
    mode: args.mode,
    outcome: args.canceled ? 'canceled' : allOk ? 'success' : 'failure',
    outcomes,
    journal: { events: args.events, network: args.network },
    started_at: new Date(args.startedAt).toISOString(),
    finished_at: new Date(finished).toISOString(),
    duration_ms: finished - args.startedAt,
    params,
    metrics: { all: summarizeMetrics(args.instances.map(i => i.metrics)), groups },
    rss: {
      peak_bytes: summarize(args.instances.map(i => i.peakRssBytes).filter(b => b > 0)),
      last_bytes: summarize(args.instances.map(i => i.lastRssBytes).filter(b => b > 0))
    },
    cpu: {
      seconds: summarize(args.instances.map(i => i.cpuSeconds).filter(c => c > 0)),
      total_seconds: Math.round(args.instances.reduce((a, i) => a + i.cpuSeconds, 0) * 10) / 10
    },
    instances: args.instances,
    cleanup_problems: args.cleanupProblems
  }
}

/** testground's line: `run finished with outcome = success (a:2/2 b:3/3)`; groups sorted as Go prints a map. */
export function outcomeLine (r: RunResult): string {
  const groups = Object.keys(r.outcomes).sort().map(g => `${g}:${r.outcomes[g].ok}/${r.outcomes[g].total}`).join(' ')
  return `run finished with outcome = ${r.outcome} (${groups})`
}
