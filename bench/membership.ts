/**
 * Membership benchmark (issue 2): join convergence at N = 10, 30, 50 agent
 * processes through one bootstrap peer; failure detection after SIGKILL
 * (median over repeats) with false positives counted; idle RSS/CPU per agent
 * and bytes per second per node. Serf runs the same join/kill scenario in the
 * same run for reference. Results: bench/results/membership.json.
 *
 *   npm run bench -- membership            (MYCEL_BENCH_SIZES=10,30 to limit)
 */
import '../daemon/polyfill.js'
import type { AgentOptions, AgentProcess } from '../harness/agent-process.js'
import { median, percentile, round, writeResult } from './lib/stats.js'
import { cpuPercent, procSample } from './lib/proc-stat.js'
import { sleep } from '../lib/clock.js'
import { serfAvailable, startSerfCluster, stopSerf, waitSerfAllAlive, waitSerfFailedEverywhere, type SerfAgent } from './lib/serf.js'
import { startMycelCluster, waitAllAlive, waitDeadEverywhere } from './lib/mycel-cluster.js'

const SIZES = (process.env.MYCEL_BENCH_SIZES ?? '10,30,50').split(',').map(Number)
const KILL_REPEATS = Number(process.env.MYCEL_BENCH_KILLS ?? 5)
const IDLE_SECONDS = Number(process.env.MYCEL_BENCH_IDLE_SECONDS ?? 20)
const PROFILE = (process.env.MYCEL_BENCH_PROFILE ?? 'lan') as 'lan'

/** Agents started at once after the bootstrap peer (bench/lib/batches.ts says why not all). */
const START_BATCH = 8

function agentOptions (): AgentOptions {
  return { profile: PROFILE, logLevel: 'warn' }
}

async function bytesSent (a: AgentProcess): Promise<number> {
  const res = await fetch(`http://${a.api}/metrics`)
  const text = await res.text()
  let total = 0
  for (const line of text.split('\n')) {
    if (line.startsWith('libp2p_data_transfer_bytes_total{') && line.includes('sent')) total += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return total
}

async function mycelRun (n: number): Promise<Record<string, unknown>> {
  const agents: AgentProcess[] = []
  try {
    const { firstSpawn, lastStarted } = await startMycelCluster(n, agents, START_BATCH, agentOptions)
    await waitAllAlive(agents, n, 120_000)
    const converged = Date.now()
    const join = { sinceLastStartSeconds: round((converged - lastStarted) / 1000), sinceFirstSpawnSeconds: round((converged - firstSpawn) / 1000) }
    process.stdout.write(`mycel N=${n}: join ${join.sinceLastStartSeconds}s after last start\n`)

    // Idle cost: let it settle, then measure CPU and traffic over a window.
    await sleep(3000)
    const before = agents.map(a => procSample(a.child!.pid!))
    const bytesBefore = await Promise.all(agents.map(bytesSent))
    await sleep(IDLE_SECONDS * 1000)
    const after = agents.map(a => procSample(a.child!.pid!))
    const bytesAfter = await Promise.all(agents.map(bytesSent))
    const cpuPct = after.map((s, i) => cpuPercent(before[i], s, IDLE_SECONDS))
    const bps = bytesAfter.map((b, i) => (b - bytesBefore[i]) / IDLE_SECONDS)
    const idle = {
      windowSeconds: IDLE_SECONDS,
      rssMB: { median: round(median(after.map(s => s.rssBytes / 1e6)), 1), max: round(Math.max(...after.map(s => s.rssBytes / 1e6)), 1) },
      cpuPercentOfCore: { median: round(median(cpuPct), 2), max: round(Math.max(...cpuPct), 2) },
      bytesSentPerSecondPerNode: { median: round(median(bps), 0), max: round(Math.max(...bps), 0) }
    }
    process.stdout.write(`mycel N=${n}: idle ${JSON.stringify(idle)}\n`)

    // Failure detection: SIGKILL one non-bootstrap agent, time until every
    // survivor lists it dead; restart it (same identity) before the next round.
    const detections: number[] = []
    const rejoins: number[] = []
    let falsePositives = 0
    for (let r = 0; r < KILL_REPEATS; r++) {
      const victim = agents[1 + ((r * 7) % (n - 1))]
      const survivors = agents.filter(a => a !== victim)
      const t0 = Date.now()
      await victim.kill('SIGKILL')
      falsePositives += (await waitDeadEverywhere(victim, survivors, 60_000)).falsePositiveObservations
      detections.push((Date.now() - t0) / 1000)
      const t1 = Date.now()
      await victim.spawn()
      await waitAllAlive(agents, n, 60_000)
      rejoins.push((Date.now() - t1) / 1000)
    }
    const detection = {
      repeats: KILL_REPEATS,
      medianSeconds: round(median(detections)),
      p90Seconds: round(percentile(detections, 90)),
      all: detections.map(d => round(d)),
      falsePositiveObservations: falsePositives,
      restartRejoinMedianSeconds: round(median(rejoins))
    }
    process.stdout.write(`mycel N=${n}: detection ${JSON.stringify(detection)}\n`)
    return { n, join, idle, detection }
  } finally {
    await Promise.all(agents.map(async a => { await a.cleanup() }))
  }
}

async function serfRun (n: number): Promise<Record<string, unknown>> {
  const agents: SerfAgent[] = []
  try {
    // One at a time, as before: Serf starts in milliseconds.
    const { lastStarted } = await startSerfCluster(n, agents, 1)
    await waitSerfAllAlive(agents, n, 120_000)
    const join = round((Date.now() - lastStarted) / 1000)
    const victim = agents[n - 1]
    const survivors = agents.slice(0, n - 1)
    const t0 = Date.now()
    victim.child.kill('SIGKILL')
    await waitSerfFailedEverywhere(victim, survivors, 120_000)
    const detect = round((Date.now() - t0) / 1000)
    process.stdout.write(`serf N=${n}: join ${join}s, detection ${detect}s\n`)
    return { n, joinSinceLastStartSeconds: join, detectionSeconds: detect }
  } finally {
    stopSerf(agents)
  }
}

const results: Record<string, unknown[]> = { mycel: [], serf: [] }
const haveSerf = await serfAvailable()
// A size that fails (e.g. does not converge in time) is recorded as such
// and the run goes on: a partial result is still a result.
for (const n of SIZES) {
  results.mycel.push(await mycelRun(n).catch((err: Error) => ({ n, error: err.message.split('\n')[0] })))
  if (haveSerf) results.serf.push(await serfRun(n).catch((err: Error) => ({ n, error: err.message.split('\n')[0] })))
}
if (!haveSerf) process.stdout.write('serf not installed (apt-get install serf): no reference numbers\n')
const path = await writeResult('membership', { profile: PROFILE, ...results })
process.stdout.write(`wrote ${path}\n`)
