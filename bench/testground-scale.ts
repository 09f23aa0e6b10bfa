/**
 * testground scale benchmark: the mycel plan's `join` and `failure-detection` compositions at 10, 50
 * and 100 instances, each instance in its own network namespace, through the local runner.
 * Writes bench/results/testground-scale.json: per run the outcome, convergence / detection times and
 * per-instance RSS (summaries over instances), plus each run's full result file path.
 *
 *   node dist/bench/testground-scale.js [--sizes 10,50,100] [--cases join,failure-detection]
 *
 * Needs root, iproute2 and nftables (namespaces); exits 0 with a note otherwise. Runs one composition
 * at a time so runs never share the machine.
 */
import '../daemon/polyfill.js'
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { DEFAULT_MYCEL_CLI, REPO_ROOT, runComposition } from '../testground/runner/run.js'
import type { RunResult } from '../testground/runner/outcome.js'

function arg (name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : def
}

const sizes = arg('sizes', process.env.TG_SCALE_SIZES ?? '10,50,100').split(',').map(Number)
const cases = arg('cases', 'join,failure-detection').split(',')
const MB = 1024 * 1024

function pick (r: RunResult, names: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const n of names) if (r.metrics.all[n] !== undefined) out[n] = r.metrics.all[n]
  return out
}

async function main (): Promise<void> {
  if (process.getuid?.() !== 0 || spawnSync('nft', ['--version']).status !== 0) {
    process.stdout.write('testground-scale: needs root and nftables for network namespaces; skipped\n')
    return
  }
  const outputsRoot = join(REPO_ROOT, '.testground-runs')
  const runs: unknown[] = []
  for (const c of cases) {
    for (const n of sizes) {
      const composition = join(REPO_ROOT, `testground/plans/mycel/_compositions/${c}-${n}.toml`)
      process.stdout.write(`\n--- ${c} with ${n} instances ---\n`)
      const t0 = Date.now()
      const r = await runComposition({
        compositionPath: composition,
        netns: true,
        outputsRoot,
        // Starting 100 agents on 2 cores: a few at a time keeps start-up CPU from starving running ones.
        startConcurrency: n >= 50 ? 6 : 8,
        startSlotMs: 30_000,
        timeoutMs: 20 * 60_000,
        mycelCli: DEFAULT_MYCEL_CLI,
        keepTemp: false,
        snapshotDist: true,
        log: msg => { process.stdout.write(`${msg}\n`) }
      })
      runs.push({
        case: c,
        instances: n,
        outcome: r.outcome,
        outcomes: r.outcomes,
        wall_s: Math.round((Date.now() - t0) / 1000),
        metrics: pick(r, ['alive_seen', 'join_ms', 'converged_after_last_spawn_ms', 'agent_start_ms', 'detect_ms_max', 'detect_ms_mean', 'suspect_ms_min', 'false_dead', 'false_suspect', 'api_errors', 'poll_interval_ms']),
        rss_peak_mb: r.rss.peak_bytes === null ? null : Object.fromEntries(Object.entries(r.rss.peak_bytes).map(([k, v]) => [k, k === 'count' ? v : Math.round(v / MB)])),
        cpu_seconds_per_instance: r.cpu.seconds,
        cpu_seconds_total: r.cpu.total_seconds,
        failures: r.instances.filter(i => i.status !== 'success').map(i => `${i.hostname}: ${i.status}: ${i.error ?? ''}`).slice(0, 10),
        result_file: join(outputsRoot, r.plan, r.run_id, 'result.json')
      })
    }
  }
  await mkdir(join(REPO_ROOT, 'bench/results'), { recursive: true })
  const file = join(REPO_ROOT, 'bench/results/testground-scale.json')
  await writeFile(file, JSON.stringify({
    benchmark: 'testground-scale',
    date: new Date().toISOString(),
    machine: { cpus: (await import('node:os')).cpus().length, mem_gb: Math.round((await import('node:os')).totalmem() / 2 ** 30) },
    note: 'join_ms: own agent spawn → sees all N alive; converged_after_last_spawn_ms: last agent spawned → sees all N alive; detect_ms_*: victim SIGKILLed → survivor sees it dead (polling granularity poll_interval_ms); rss and cpu: plan process + mycel agent per instance; alive_seen (failed runs): members this agent saw alive when it gave up',
    runs
  }, null, 2) + '\n')
  process.stdout.write(`\nwrote ${file}\n`)
}

main().catch(err => { process.stderr.write(`${(err as Error).stack}\n`); process.exit(1) })
