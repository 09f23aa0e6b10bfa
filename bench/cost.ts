/**
 * What an agent costs against Serf (issue 18), measured in one run on one
 * machine and printed as ratios: idle CPU and RSS per agent at N converged
 * agents, join time (last start → every agent sees all N alive) at each
 * join size, and failure detection (SIGKILL → dead at every survivor).
 * Results: bench/results/cost.json; the table is Markdown, for
 * docs/performance.md.
 *
 *   npm run bench -- cost
 *   MYCEL_BENCH_COST_N=5 MYCEL_BENCH_COST_JOIN_SIZES=5 MYCEL_BENCH_COST_SETTLE_SECONDS=5 \
 *     MYCEL_BENCH_COST_IDLE_SECONDS=5 MYCEL_BENCH_COST_KILLS=1 npm run bench -- cost   (a quick run)
 *
 * Environment (a bad value exits 2 before anything starts):
 *   MYCEL_BENCH_COST_N               agents for idle CPU, RSS and detection (20)
 *   MYCEL_BENCH_COST_JOIN_SIZES      join sizes, comma separated (20,50); a size equal to N reuses N's join
 *   MYCEL_BENCH_COST_SETTLE_SECONDS  wait after all see all alive before the idle window (60)
 *   MYCEL_BENCH_COST_IDLE_SECONDS    idle CPU window (30)
 *   MYCEL_BENCH_COST_KILLS           SIGKILLs, one after another, distinct victims; the median is reported (3)
 *   MYCEL_BENCH_COST_VALIDATORS      validators of the mycel agents' genesis (4); 0 runs without a genesis
 *   MYCEL_BENCH_COST_JOIN_TIMEOUT_SECONDS  give up on a join after this (180)
 *
 * What runs. mycel agents as a user runs `mycel agent`: `lan` profile, log
 * level info, every role, started through harness/node-command.ts with the
 * node flags of the bin's `#!` line; with a genesis (agents 0…V−1 are its
 * validators, agent 0 also the bootstrap peer and admin), since critical
 * config, the admission policy and the security monitor run only with one.
 * Serf is Debian's `serf agent` with its LAN defaults. Both start through
 * one bootstrap peer, 8 at a time after it; an agent counts as started once
 * it answers (mycel: agent.json names it; Serf: its RPC answers). The bare
 * Node floor is `node -e 'setInterval(() => {}, 1000)'` with the same node
 * flags, measured over mycel's idle window.
 *
 * One system after the other, never side by side: mycel's join keeps both
 * cores busy for a minute, which would slow Serf's join and detection (they
 * are wall-clock measures), and while one set is measured idle nothing else
 * of the run is on the machine. CPU time and RSS are per process, so the
 * machine's other load (other engineers) affects them little; the 1-minute
 * load average before and after each phase is in the result, as the
 * timings are not immune to it. Nothing polls the agents during the settle
 * and idle windows (an API call costs the agent CPU). Victims of the kills
 * are the last agents started: never the bootstrap peer or a validator.
 *
 * Every process is killed and every temp dir removed at the end, on a
 * failure and on Ctrl-C (SIGINT/SIGTERM).
 */
import '../daemon/polyfill.js'
import { spawn, type ChildProcess } from 'node:child_process'
import { loadavg } from 'node:os'
import { CLI } from '../harness/agent-process.js'
import { scriptNode } from '../harness/node-command.js'
import { sleep } from '../lib/clock.js'
import { median, round, writeResult } from './lib/stats.js'
import { cpuPercent, procSample } from './lib/proc-stat.js'
import { BenchUsageError, envNumber, envNumberList, readBenchConfig } from './lib/env.js'
import { mycelCluster, serfCluster, type Cluster } from './lib/clusters.js'
import { serfAvailable } from './lib/serf.js'
import { allOf, atMost, atMostTimesAnchor, formatRatioTable, type Cell, type RatioRow } from './lib/ratio-table.js'

/** Agents started at once after the bootstrap peer (bench/lib/batches.ts). */
const START_BATCH = 8
/** Pause between two kills, ms: the previous death's gossip has died down before the next victim goes. */
const KILL_GAP_MS = 5_000
/** Give up on a detection after this, ms (Serf's own takes ~10 s at N=20). */
const DETECTION_TIMEOUT_MS = 60_000

function readConfig (env: NodeJS.ProcessEnv): { n: number, joinSizes: number[], settleSeconds: number, idleSeconds: number, kills: number, validators: number, joinTimeoutMs: number } {
  const n = envNumber(env, 'MYCEL_BENCH_COST_N', 20, { min: 2, integer: true })
  const validators = envNumber(env, 'MYCEL_BENCH_COST_VALIDATORS', 4, { min: 0, integer: true })
  const joinSizes = envNumberList(env, 'MYCEL_BENCH_COST_JOIN_SIZES', [20, 50], { min: Math.max(2, validators), integer: true })
  const kills = envNumber(env, 'MYCEL_BENCH_COST_KILLS', 3, { min: 1, integer: true })
  // Victims are neither the bootstrap peer nor a validator.
  if (n - Math.max(1, validators) < kills) {
    throw new BenchUsageError(`MYCEL_BENCH_COST_KILLS=${kills} needs that many agents besides the bootstrap peer and the validators; MYCEL_BENCH_COST_N=${n} with ${validators} validators leaves ${n - Math.max(1, validators)}`)
  }
  return {
    n,
    joinSizes,
    settleSeconds: envNumber(env, 'MYCEL_BENCH_COST_SETTLE_SECONDS', 60, { min: 0 }),
    idleSeconds: envNumber(env, 'MYCEL_BENCH_COST_IDLE_SECONDS', 30, { min: 1 }),
    kills,
    validators,
    joinTimeoutMs: 1000 * envNumber(env, 'MYCEL_BENCH_COST_JOIN_TIMEOUT_SECONDS', 180, { min: 1 })
  }
}

const cfg = readBenchConfig('cost', () => readConfig(process.env))

// Everything running, for the Ctrl-C path (the normal path stops each in `finally`).
const open = new Set<Cluster>()
let floor: ChildProcess | undefined
let interrupted = false
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) return
    interrupted = true
    process.stderr.write(`bench cost: ${signal}, stopping every agent\n`)
    floor?.kill('SIGKILL')
    void Promise.allSettled([...open].map(async c => { await c.stop() })).then(() => process.exit(130))
  })
}

const load1 = (): number => round(loadavg()[0], 2)
const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length
const firstLine = (err: unknown): string => (err as Error).message.split('\n')[0]
const say = (line: string): void => { process.stdout.write(line + '\n') }

interface Idle { cpuPercentOfCore: { mean: number, median: number, max: number, perAgent: number[] }, rssMB: { median: number, max: number, perAgent: number[] } }

/** CPU (% of a core) over `seconds` and RSS (MB) at its end of every pid, all sampled together. */
async function sampleWindow (pids: number[], seconds: number): Promise<{ cpu: number[], rssMB: number[] }> {
  const before = pids.map(procSample)
  await sleep(seconds * 1000)
  const after = pids.map(procSample)
  return { cpu: after.map((a, i) => cpuPercent(before[i], a, seconds)), rssMB: after.map(a => a.rssBytes / 1e6) }
}

function summarise (cpu: number[], rssMB: number[]): Idle {
  return {
    cpuPercentOfCore: { mean: round(mean(cpu), 3), median: round(median(cpu), 3), max: round(Math.max(...cpu), 3), perAgent: cpu.map(c => round(c, 2)) },
    rssMB: { median: round(median(rssMB), 1), max: round(Math.max(...rssMB), 1), perAgent: rssMB.map(r => round(r, 1)) }
  }
}

interface Run {
  system: string
  n: number
  join?: { sinceLastStartSeconds: number, sinceFirstSpawnSeconds: number }
  idle?: Idle
  floor?: { cpuPercentOfCore: number, rssMB: number }
  detection?: { kills: number, medianSeconds: number, allSeconds: number[], falsePositiveObservations?: number }
  error?: string
  loadAverage1m: { before: number, after?: number }
}

/**
 * Start a cluster of `c.n`, time its join; with `full`, also the settle,
 * the idle window and the kills. A phase that fails is recorded as such
 * and the run goes on: a partial result is still a result.
 */
async function measure (c: Cluster, full: boolean): Promise<Run> {
  const run: Run = { system: c.system, n: c.n, loadAverage1m: { before: load1() } }
  open.add(c)
  try {
    const { firstSpawn, lastStarted } = await c.start()
    await c.waitAllAlive(cfg.joinTimeoutMs)
    const converged = Date.now()
    run.join = { sinceLastStartSeconds: round((converged - lastStarted) / 1000, 2), sinceFirstSpawnSeconds: round((converged - firstSpawn) / 1000, 2) }
    say(`${c.system} N=${c.n}: join ${run.join.sinceLastStartSeconds} s after the last start (${run.join.sinceFirstSpawnSeconds} s after the first spawn)`)
    if (!full) return run

    await sleep(cfg.settleSeconds * 1000)
    // The bare Node floor is sampled over mycel's window, after the agents.
    const pids = c.pids()
    const floorPid = c.system === 'mycel' ? floor?.pid : undefined
    const w = await sampleWindow([...pids, ...(floorPid !== undefined ? [floorPid] : [])], cfg.idleSeconds)
    const idle = summarise(w.cpu.slice(0, pids.length), w.rssMB.slice(0, pids.length))
    run.idle = idle
    const floorIdle = floorPid !== undefined ? { cpuPercentOfCore: round(w.cpu[pids.length], 3), rssMB: round(w.rssMB[pids.length], 1) } : undefined
    if (floorIdle !== undefined) run.floor = floorIdle
    say(`${c.system} N=${c.n}: idle CPU per agent mean ${idle.cpuPercentOfCore.mean} % (median ${idle.cpuPercentOfCore.median}, max ${idle.cpuPercentOfCore.max}); ` +
      `RSS median ${idle.rssMB.median} MB, max ${idle.rssMB.max} MB${floorIdle !== undefined ? `; bare Node ${floorIdle.rssMB} MB, ${floorIdle.cpuPercentOfCore} %` : ''}`)

    const seconds: number[] = []
    const alive = Array.from({ length: c.n }, (_, i) => i)
    for (let k = 0; k < cfg.kills; k++) {
      const victim = c.n - 1 - k
      alive.splice(alive.indexOf(victim), 1)
      if (k > 0) await sleep(KILL_GAP_MS)
      const t0 = Date.now()
      await c.kill(victim)
      await c.waitDead(victim, alive, DETECTION_TIMEOUT_MS)
      seconds.push(round((Date.now() - t0) / 1000, 2))
    }
    const fp = c.falsePositiveObservations()
    run.detection = { kills: cfg.kills, medianSeconds: median(seconds), allSeconds: seconds, ...(fp !== undefined ? { falsePositiveObservations: fp } : {}) }
    say(`${c.system} N=${c.n}: SIGKILL → dead at every survivor ${seconds.join(', ')} s (median ${run.detection.medianSeconds} s)`)
    return run
  } catch (err) {
    run.error = firstLine(err)
    say(`${c.system} N=${c.n}: failed: ${run.error}`)
    return run
  } finally {
    await c.stop()
    open.delete(c)
    run.loadAverage1m.after = load1()
  }
}

/** Bare Node with the bin's node flags: what any Node daemon costs before its first line of code. */
function startFloor (): ChildProcess {
  const { nodeArgs, env } = scriptNode(CLI)
  const child = spawn(process.execPath, [...nodeArgs, '-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore', env: { ...process.env, ...env } })
  process.once('exit', () => child.kill('SIGKILL'))
  return child
}

if (!await serfAvailable()) {
  process.stderr.write('bench cost: serf is not installed (apt-get install serf); this benchmark is a comparison with it\n')
  process.exit(1)
}
const mycelOpts = { profile: 'lan' as const, logLevel: 'info', validators: cfg.validators, batch: START_BATCH }
say(`N=${cfg.n}, joins ${cfg.joinSizes.join(', ')}, settle ${cfg.settleSeconds} s, idle window ${cfg.idleSeconds} s, ${cfg.kills} kills, ` +
  `${cfg.validators > 0 ? `genesis with ${cfg.validators} validators` : 'no genesis'}; load ${load1()}`)
const runs: Run[] = []
floor = startFloor()
try {
  runs.push(await measure(mycelCluster(cfg.n, mycelOpts), true))
} finally {
  floor.kill('SIGKILL')
}
if (!interrupted) runs.push(await measure(serfCluster(cfg.n, START_BATCH), true))
for (const size of cfg.joinSizes.filter(s => s !== cfg.n)) {
  if (!interrupted) runs.push(await measure(mycelCluster(size, mycelOpts), false))
  if (!interrupted) runs.push(await measure(serfCluster(size, START_BATCH), false))
}
// Interrupted: the signal handler stops what runs and exits; nothing more to print.
if (interrupted) await new Promise(() => {})

const at = (system: string, n: number): Run | undefined => runs.find(r => r.system === system && r.n === n)
const cell = (r: Run | undefined, pick: (r: Run) => number | undefined): Cell => {
  const v = r !== undefined ? pick(r) : undefined
  return v !== undefined ? v : r?.error !== undefined ? 'failed' : 'not run'
}
const m = at('mycel', cfg.n)
const s = at('serf', cfg.n)
const rows: RatioRow[] = [
  { measure: `idle CPU per agent, N=${cfg.n} (mean, % of a core)`, unit: '%', mycel: cell(m, r => r.idle?.cpuPercentOfCore.mean), anchor: cell(s, r => r.idle?.cpuPercentOfCore.mean), goal: atMostTimesAnchor(1, 'Serf') },
  { measure: `RSS per agent, N=${cfg.n} (median)`, unit: 'MB', digits: 0, mycel: cell(m, r => r.idle?.rssMB.median), anchor: cell(s, r => r.idle?.rssMB.median), goal: atMost(90, 'MB') },
  { measure: `RSS per agent, N=${cfg.n} (max)`, unit: 'MB', digits: 0, mycel: cell(m, r => r.idle?.rssMB.max), anchor: cell(s, r => r.idle?.rssMB.max) },
  { measure: 'RSS of bare Node (the floor, in mycel\'s column)', unit: 'MB', digits: 0, mycel: cell(m, r => r.floor?.rssMB), anchor: '—' },
  ...[...new Set(cfg.joinSizes)].sort((a, b) => a - b).map((n): RatioRow => ({
    measure: `join: ${n} agents via one bootstrap, last start → all see all alive`,
    unit: 's',
    digits: 1,
    mycel: cell(at('mycel', n), r => r.join?.sinceLastStartSeconds),
    anchor: cell(at('serf', n), r => r.join?.sinceLastStartSeconds),
    // The issue's goals: within 2× Serf's at 20, within 10 s at 50 and above.
    goal: n >= 50 ? atMost(10, 's') : atMostTimesAnchor(2, 'Serf')
  })),
  { measure: `detection: SIGKILL → dead at every survivor, N=${cfg.n} (median of ${cfg.kills})`, unit: 's', digits: 1, mycel: cell(m, r => r.detection?.medianSeconds), anchor: cell(s, r => r.detection?.medianSeconds), goal: allOf(atMostTimesAnchor(0.3, 'Serf'), atMost(2, 's')) }
]
const table = formatRatioTable(rows, 'serf')
process.stdout.write('\n' + table)
const loads = runs.map(r => `${r.system} ${r.n}: ${r.loadAverage1m.before}→${r.loadAverage1m.after ?? '?'}`).join(', ')
say(`1-minute load average per phase (2 cores): ${loads}`)
const path = await writeResult('cost', { config: { ...cfg, startBatch: START_BATCH, profile: mycelOpts.profile, logLevel: mycelOpts.logLevel, nodeArgs: scriptNode(CLI).nodeArgs }, runs, table: table.split('\n').filter(l => l !== '') })
say(`wrote ${path}`)
process.exit(runs.some(r => r.error !== undefined) ? 1 : 0)
