/**
 * Membership at scale, simulated (issue 18): N nodes each running the
 * daemon's own SWIM code (harness/membership-sim) on virtual time, at the
 * lan profile's tunables. For each N: join, per-node steady-state messages
 * and bytes per second (mean, p99), then a kill and the detection times
 * (first suspicion, dead at the first node, dead at every survivor) with the
 * false positives. What is real and what is simulated: docs/performance.md,
 * "Membership at 1,000 and 10,000 members (simulation)".
 *
 *   npm run bench -- membership-sim
 *   MYCEL_SIM_SIZES=100,1000 MYCEL_SIM_KILLS=3 MYCEL_SIM_KILL=crash MYCEL_SIM_LOSS=0.01 npm run bench -- membership-sim
 *
 * Each size runs in its own child process (its heap sized for it), one
 * after another. A size whose state cannot fit this machine's memory is
 * not started: every node holds every member's record, so the cluster's
 * state grows with N², and the result says so with the estimate.
 */
import '../daemon/polyfill.js'
import { spawnSync } from 'node:child_process'
import { freemem, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import { writeResult } from './lib/stats.js'
import { BenchUsageError, envChoice, envNumber, envNumberList, readBenchConfig } from './lib/env.js'
import { runScenario, type ScenarioResult } from '../harness/membership-sim/scenario.js'
import { membershipConfig } from '../protocols/membership/constants.js'

const { SIZES, SEED, KILLS, KILL_HOW, LOSS, STEADY_MS } = readBenchConfig('membership-sim', () => {
  const env = process.env
  const loss = envNumber(env, 'MYCEL_SIM_LOSS', 0, { min: 0 })
  if (loss >= 1) throw new BenchUsageError(`MYCEL_SIM_LOSS must be below 1, got ${loss}`)
  return {
    SIZES: envNumberList(env, 'MYCEL_SIM_SIZES', [100, 1000, 10000], { min: 2, integer: true }),
    SEED: envNumber(env, 'MYCEL_SIM_SEED', 1, { min: 0, integer: true }),
    KILLS: envNumber(env, 'MYCEL_SIM_KILLS', 1, { min: 0, integer: true }),
    KILL_HOW: envChoice(env, 'MYCEL_SIM_KILL', 'silent', ['silent', 'crash'] as const),
    LOSS: loss,
    STEADY_MS: envNumber(env, 'MYCEL_SIM_STEADY_MS', 60_000, { min: 0 })
  }
})
/**
 * Heap one member record costs while a cluster forms, bytes: 300 nodes
 * held ~350 MB after their join (~3.9 KB per record, queues and the
 * frames records are views into included). Used only to size each run's
 * heap and to refuse sizes that cannot fit before spending an hour on them.
 */
const BYTES_PER_RECORD = 4_000
/** Heap beyond the tables: queues, frames in flight, the simulator, V8. */
const BASE_HEAP_BYTES = 512 * 1024 * 1024
/**
 * The lan profile caps a cluster at maxMembers = 4,096 (a guard against
 * floods of fake identities); 10,000 members need it raised, which is the
 * one tunable the simulation changes.
 */
const MAX_MEMBERS = 16_384

interface SizeOutcome { n: number, result?: ScenarioResult, skipped?: string, failed?: string }

async function child (n: number): Promise<void> {
  const result = await runScenario({
    n,
    seed: SEED,
    config: membershipConfig('lan', { maxMembers: MAX_MEMBERS }),
    loss: LOSS,
    kills: KILLS,
    killHow: KILL_HOW,
    steadyMs: STEADY_MS,
    progress: line => { process.stderr.write(`${line}\n`) }
  })
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`)
}

function runSize (n: number): SizeOutcome {
  const need = BASE_HEAP_BYTES + BYTES_PER_RECORD * n * n
  // Leave a quarter of the free memory to the rest of the machine (others share it).
  const budget = Math.min(freemem() * 0.75, totalmem() * 0.6)
  if (need > budget) {
    return { n, skipped: `needs about ${gb(need)} GB of heap (${n} nodes × ${n} member records × ~${BYTES_PER_RECORD} B), this machine can give ${gb(budget)} GB` }
  }
  const heapMb = Math.ceil(need * 1.5 / 1024 / 1024)
  const r = spawnSync(process.execPath, [`--max-old-space-size=${heapMb}`, fileURLToPath(import.meta.url), '--size', String(n)], {
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
    env: process.env
  })
  const line = r.stdout.toString().split('\n').find(l => l.startsWith('RESULT '))
  if (r.status !== 0 || line === undefined) return { n, failed: `exit ${r.status ?? r.signal}` }
  return { n, result: JSON.parse(line.slice('RESULT '.length)) as ScenarioResult }
}

function gb (bytes: number): string { return (bytes / 1024 ** 3).toFixed(1) }

function table (outcomes: SizeOutcome[]): string {
  const rows = ['N | msgs/s per node mean (p99) | bytes/s per node mean (p99) | first suspicion s | dead at first s | dead at all s | dissemination (probe intervals) | false susp./deaths | wall s']
  for (const o of outcomes) {
    const r = o.result
    if (r === undefined) { rows.push(`${o.n} | ${o.skipped ?? o.failed ?? ''}`); continue }
    const s = r.steady
    const d = r.detection
    rows.push([
      r.n,
      `${s.sentMsgsPerSec.mean} (${s.sentMsgsPerSec.p99})`,
      `${s.sentBytesPerSec.mean} (${s.sentBytesPerSec.p99})`,
      (d.firstSuspicionMs.max / 1000).toFixed(1),
      (d.deadAtFirstMs.max / 1000).toFixed(1),
      (d.deadAtAllMs.max / 1000).toFixed(1),
      d.disseminationProbeIntervals,
      `${s.falseSuspicions + d.falseSuspicions}/${s.falseDeaths + d.falseDeaths}`,
      Math.round(r.wallMs.total / 1000)
    ].join(' | '))
  }
  return rows.join('\n')
}

async function main (): Promise<void> {
  const sizeArg = process.argv.indexOf('--size')
  if (sizeArg !== -1) { await child(Number(process.argv[sizeArg + 1])); return }
  const outcomes: SizeOutcome[] = []
  for (const n of SIZES) {
    process.stdout.write(`membership-sim N=${n}\n`)
    const o = runSize(n)
    if (o.skipped !== undefined) process.stdout.write(`  skipped: ${o.skipped}\n`)
    if (o.failed !== undefined) process.stdout.write(`  failed: ${o.failed}\n`)
    outcomes.push(o)
  }
  process.stdout.write(`\n${table(outcomes)}\n`)
  const path = await writeResult('membership-sim', {
    profile: 'lan',
    overrides: { maxMembers: MAX_MEMBERS },
    seed: SEED,
    kills: KILLS,
    killHow: KILL_HOW,
    loss: LOSS,
    steadyMs: STEADY_MS,
    sizes: outcomes
  })
  process.stdout.write(`wrote ${path}\n`)
  if (outcomes.some(o => o.failed !== undefined)) process.exitCode = 1
}

await main()
