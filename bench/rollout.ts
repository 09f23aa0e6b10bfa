/**
 * Rollouts (issue 14): one component rolled across 20 agent processes on
 * this machine (`lan` profile) with `--max-parallel 25%` and
 * `--min-healthy-time 2s`. Results: bench/results/rollout.json.
 *
 *   npm run bench -- rollout
 *   MYCEL_BENCH_ROLLOUT_AGENTS=8 MYCEL_BENCH_ROLLOUT_IDLE_MS=20000 node dist/bench/rollout.js
 *
 * - install anchor: a plain deploy of 1.0.0 to every agent; per node, the
 *   deploy until its component host reports it `running` (the report's
 *   `since`), so fetch, unpack and start, as a wave's node does. With it,
 *   the component hosts' install attempts by result: a fetch that found no
 *   provider yet is retried after a backoff, which is most of a slow install.
 * - rollout 1.0.0 → 2.0.0: total time (the record's creation until the last
 *   wave's gate passed, from the record) against its lower bound
 *   `waves × (install + min-healthy-time)`, with install the median of the
 *   nodes' own installs in the rollout (their wave's start until `since` of
 *   `running` on 2.0.0), and against the stricter per-wave sum (each wave's
 *   slowest install + min healthy time). The ratio is what the gate's
 *   machinery adds: health check interval, health report delay, update
 *   manager rounds, replicated-config propagation.
 * - rollout 2.0.0 → 3.0.0, whose health check fails: the failed gate (the
 *   record's `failure.at`) until every touched node runs 2.0.0 again, from
 *   the nodes' `since` (and, polled, with health passing).
 * - the agents' idle CPU (all agents, per agent) over a window before the
 *   first rollout and after the second one closed, and the update manager's
 *   rounds in each window and during the rollout (read from the holder's
 *   `GET /v1/roles`, the round's `at`, polled every second, every 250 ms
 *   during the rollout): rounds come every `activeIntervalMs` (1 s, lan) only
 *   while a rollout runs, and the idle period (30 s) otherwise.
 */
import '../daemon/polyfill.js'
import { execFile } from 'node:child_process'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { AgentProcess, CLI, waitFor } from '../harness/agent-process.js'
import { median, round, writeResult } from './lib/stats.js'
import { procSample } from './lib/proc-stat.js'

const AGENTS = Number(process.env.MYCEL_BENCH_ROLLOUT_AGENTS ?? 20)
/** Window of each idle CPU and round measurement: two idle round periods (30 s, lan) at least. */
const IDLE_MS = Number(process.env.MYCEL_BENCH_ROLLOUT_IDLE_MS ?? 65_000)
const TIMEOUT_MS = Number(process.env.MYCEL_BENCH_ROLLOUT_TIMEOUT_MS ?? 600_000)
const MIN_HEALTHY_MS = 2_000
const KNOBS = ['--max-parallel', '25%', '--min-healthy-time', `${MIN_HEALTHY_MS / 1000}s`]
const NAME = 'bench-web'
const run = promisify(execFile)
const out = (s: string): void => { process.stdout.write(s + '\n') }
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

interface Local { name: string, version: string, state: string, health: string, since: number, pid?: number }
interface RegionView { waves: Array<{ nodes: string[], assigned: string[], state: string, startedAt?: number, passedAt?: number }> }
interface View { id: string, state: string, createdAt: number, regions: RegionView[], failure?: { at: number, reason: string } }

async function local (a: AgentProcess): Promise<Local | undefined> {
  const r = await a.get<{ components: Local[] }>('/v1/components/local')
  return r.components.find(c => c.name === NAME)
}

/**
 * Install attempts of every agent's component host by result (`ok`, or the error name: a release or a
 * provider not found yet is retried after a backoff of 2 s doubling, lan), summed over the agents.
 */
async function installAttempts (agents: AgentProcess[]): Promise<Record<string, number>> {
  const total: Record<string, number> = {}
  for (const a of agents) {
    const text = await (await fetch(`http://${a.api}/metrics`)).text()
    for (const m of text.matchAll(/^mycel_component_installs_total\{result="([^"]*)"\} (\S+)$/gm)) total[m[1] as string] = (total[m[1] as string] ?? 0) + Number(m[2])
  }
  return total
}

/** `after - before`, per result. */
function delta (after: Record<string, number>, before: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]).filter(([, v]) => v !== 0))
}

const up = (c: Local | undefined, version: string): boolean => c?.version === version && c.state === 'running' && c.health === 'passing'

async function cli (...args: string[]): Promise<string> {
  return (await run(process.execPath, [CLI, ...args], { timeout: 120_000 })).stdout
}

/** The agent holding the update manager role now (the one whose rounds are counted). */
async function updateHolder (agents: AgentProcess[]): Promise<AgentProcess> {
  return await waitFor(async () => {
    for (const a of agents) {
      const v = await a.get<{ local: Array<{ role: string, acting: boolean }> }>('/v1/roles')
      if (v.local.some(l => l.role === 'update' && l.acting)) return a
    }
    return undefined
  }, 120_000, 'an update manager', 500)
}

/** Watches the holder's rollout rounds: every distinct `at` of its last round, until stopped. */
function watchRounds (holder: AgentProcess, intervalMs: number): { stop: () => Promise<number[]> } {
  const ats = new Set<number>()
  let stopped = false
  const loop = (async () => {
    while (!stopped) {
      try {
        const v = await holder.get<{ local: Array<{ role: string, detail?: { rollouts?: { at: number } } }> }>('/v1/roles')
        const at = v.local.find(l => l.role === 'update')?.detail?.rollouts?.at
        if (at !== undefined) ats.add(at)
      } catch { /* one missed poll */ }
      await sleep(intervalMs)
    }
  })()
  return { stop: async () => { stopped = true; await loop; return [...ats].sort((a, b) => a - b) } }
}

/** Rounds that started inside [from, to] and the gaps between them, ms. */
function rounds (ats: number[], from: number, to: number): { count: number, gapsMs: number[], medianGapMs: number | null } {
  const inside = ats.filter(t => t >= from && t <= to)
  const gapsMs = inside.slice(1).map((t, i) => t - (inside[i] as number))
  return { count: inside.length, gapsMs: gapsMs.length > 20 ? [] : gapsMs, medianGapMs: gapsMs.length > 0 ? median(gapsMs) : null }
}

/** All agents' CPU over `ms`, with the holder's rounds in that window. */
async function idleWindow (agents: AgentProcess[], holder: AgentProcess, ms: number): Promise<Record<string, unknown>> {
  const watch = watchRounds(holder, 1000)
  const c0 = agents.map(a => procSample(a.child!.pid!).cpuSeconds)
  const from = Date.now()
  await sleep(ms)
  const cpu = agents.map((a, i) => procSample(a.child!.pid!).cpuSeconds - (c0[i] as number))
  const to = Date.now()
  const ats = await watch.stop()
  return {
    windowSeconds: round((to - from) / 1000, 1),
    cpuPercentPerAgentMedian: round(100 * median(cpu) / ((to - from) / 1000), 2),
    cpuPercentPerAgentMax: round(100 * Math.max(...cpu) / ((to - from) / 1000), 2),
    cpuPercentHolder: round(100 * (cpu[agents.indexOf(holder)] as number) / ((to - from) / 1000), 2),
    updateRounds: rounds(ats, from, to)
  }
}

/** Starts a rollout with the bench's knobs on `a`; polls its record until it closes. */
async function rollout (a: AgentProcess, version: string, holder: AgentProcess): Promise<{ view: View, startedAt: number, closedAt: number, rounds: ReturnType<typeof rounds> }> {
  const watch = watchRounds(holder, 250)
  const startedAt = Date.now()
  const id = (await cli('rollout', 'start', `${NAME}@${version}`, ...KNOBS, '--api', a.api)).trim()
  const view = await waitFor(async () => {
    const v = await a.get<View>(`/v1/rollouts/${encodeURIComponent(id)}`)
    return v.state === 'running' ? undefined : v
  }, TIMEOUT_MS, `rollout ${id} closed`, 250)
  const closedAt = Date.now()
  const ats = await watch.stop()
  return { view, startedAt, closedAt, rounds: rounds(ats, startedAt, closedAt) }
}

/** Until every agent runs `version` with health passing; returns each one's entry. */
async function allUp (agents: AgentProcess[], version: string): Promise<Local[]> {
  return await Promise.all(agents.map(async a => await waitFor(async () => { const c = await local(a); return up(c, version) ? c : undefined }, TIMEOUT_MS, `${NAME}@${version} on ${a.peerId}`, 100)))
}

async function main (work: string, pids: Set<number>, agents: AgentProcess[]): Promise<Record<string, unknown>> {
  const key = join(work, 'publisher.key')
  const publisherId = (JSON.parse(await cli('publisher', 'keygen', '--out', key, '--json')) as { publisherId: string }).publisherId
  const opts = { profile: 'lan' as const, logLevel: 'warn', extraArgs: ['--publisher', publisherId] }
  agents.push(await AgentProcess.start(opts))
  // A few at a time: twenty Node processes starting at once on 2 cores measure the scheduler.
  while (agents.length < AGENTS) {
    agents.push(...await Promise.all(Array.from({ length: Math.min(4, AGENTS - agents.length) }, async () =>
      await AgentProcess.start({ ...opts, bootstrap: [agents[0]!.addr] }))))
  }
  const t0 = Date.now()
  await waitFor(async () => (await Promise.all(agents.map(async a => (await a.members()).filter(m => m.state === 'alive').length))).every(c => c === AGENTS),
    300_000, `${AGENTS} agents alive`, 500)
  out(`${AGENTS} agents alive everywhere ${round((Date.now() - t0) / 1000, 1)} s after the last start`)
  const publisher = agents[0]!

  const app = join(work, 'app')
  await mkdir(app)
  await writeFile(join(app, 'run.sh'), 'exec sleep 3600\n')
  for (const [version, check] of [['1.0.0', 'exit 0'], ['2.0.0', 'exit 0'], ['3.0.0', 'exit 1']] as const) {
    await writeFile(join(app, 'check.sh'), `${check}\n`)
    // Three failed checks in a row fail it: with one, a single check timing out on this loaded machine
    // failed a good version's gate (and rolled it back). 3.0.0's check fails every time.
    await writeFile(join(app, 'mycel.component.yaml'), [`name: ${NAME}`, `version: "${version}"`, 'entry: ["/bin/sh", "run.sh"]',
      'health:', '  exec: ["/bin/sh", "check.sh"]', '  interval: 1s', '  timeout: 1s', '  failureThreshold: 3', ''].join('\n'))
    await cli('component', 'publish', app, '--key', key, '--api', publisher.api, '--json')
  }

  // The install anchor: a plain deploy of 1.0.0.
  const i0 = await installAttempts(agents)
  const d0 = Date.now()
  const r = await publisher.request('PUT', `/v1/deployments/${NAME}`, { version: '1.0.0' })
  if (r.status !== 200) throw new Error(`deploy: HTTP ${r.status} ${JSON.stringify(r.json)}`)
  const v1 = await allUp(agents, '1.0.0')
  const deployAllMs = Date.now() - d0
  for (const c of v1) if (c.pid !== undefined) pids.add(c.pid)
  const deployInstall = v1.map(c => c.since - d0)
  const i1 = await installAttempts(agents)
  out(`deploy of 1.0.0: every agent running and passing after ${deployAllMs} ms; install (deploy → running) median ${median(deployInstall)} ms`)

  const holder = await updateHolder(agents)
  const idleBefore = await idleWindow(agents, holder, IDLE_MS)
  out(`idle before: ${JSON.stringify(idleBefore)}`)

  // 1.0.0 → 2.0.0 in waves of 25 %.
  const i2 = await installAttempts(agents)
  const good = await rollout(publisher, '2.0.0', holder)
  if (good.view.state !== 'succeeded') throw new Error(`rollout to 2.0.0 ended ${good.view.state}: ${JSON.stringify(good.view.failure)}`)
  const v2 = await allUp(agents, '2.0.0')
  for (const c of v2) if (c.pid !== undefined) pids.add(c.pid)
  const since = new Map(agents.map((a, i) => [a.peerId, (v2[i] as Local).since]))
  const waves = good.view.regions.flatMap(rg => rg.waves)
  const perWave = waves.map(w => {
    const installs = w.nodes.map(n => (since.get(n) as number) - (w.startedAt as number))
    return { nodes: w.nodes.length, installMaxMs: Math.max(...installs), installs, gateMs: (w.passedAt as number) - (w.startedAt as number) }
  })
  const installs = perWave.flatMap(w => w.installs)
  const lastPassed = Math.max(...waves.map(w => w.passedAt as number))
  const totalMs = lastPassed - good.view.createdAt
  const installMedian = median(installs)
  const lowerBoundMs = waves.length * (installMedian + MIN_HEALTHY_MS)
  const perWaveBoundMs = perWave.reduce((s, w) => s + w.installMaxMs + MIN_HEALTHY_MS, 0)
  const v2Result = {
    waves: waves.length,
    waveSizes: perWave.map(w => w.nodes),
    totalSeconds: round(totalMs / 1000, 2),
    observedSeconds: round((good.closedAt - good.startedAt) / 1000, 2),
    installMedianMs: installMedian,
    installMaxMs: Math.max(...installs),
    lowerBoundSeconds: round(lowerBoundMs / 1000, 2),
    ratioToLowerBound: round(totalMs / lowerBoundMs, 2),
    perWaveBoundSeconds: round(perWaveBoundMs / 1000, 2),
    ratioToPerWaveBound: round(totalMs / perWaveBoundMs, 2),
    waveGateSeconds: perWave.map(w => round(w.gateMs / 1000, 2)),
    waveInstallMaxMs: perWave.map(w => w.installMaxMs),
    installAttempts: delta(await installAttempts(agents), i2),
    updateRounds: good.rounds
  }
  out(`rollout 1.0.0 → 2.0.0: ${JSON.stringify(v2Result)}`)

  // 2.0.0 → 3.0.0, whose health check fails: rolled back.
  const bad = await rollout(publisher, '3.0.0', holder)
  if (bad.view.state !== 'rolled-back' || bad.view.failure === undefined) throw new Error(`rollout to 3.0.0 ended ${bad.view.state}, expected rolled-back`)
  const failedAt = bad.view.failure.at
  const touched = new Set(bad.view.regions.flatMap(rg => rg.waves.flatMap(w => w.assigned)))
  const back = await allUp(agents.filter(a => touched.has(a.peerId)), '2.0.0')
  const backObservedMs = Date.now() - failedAt
  for (const c of back) if (c.pid !== undefined) pids.add(c.pid)
  const v3Result = {
    touched: touched.size,
    gateReason: bad.view.failure.reason,
    gateFailedAfterSeconds: round((failedAt - bad.view.createdAt) / 1000, 2),
    backOnStableMs: Math.max(...back.map(c => c.since)) - failedAt,
    backOnStablePassingObservedMs: backObservedMs,
    updateRounds: bad.rounds
  }
  out(`rollout 2.0.0 → 3.0.0: ${JSON.stringify(v3Result)}`)
  await allUp(agents, '2.0.0')

  const idleAfter = await idleWindow(agents, holder, IDLE_MS)
  out(`idle after: ${JSON.stringify(idleAfter)}`)
  await publisher.request('DELETE', `/v1/deployments/${NAME}`)
  await Promise.all(agents.map(async a => { await waitFor(async () => ['stopped', undefined].includes((await local(a))?.state), 60_000, 'undeployed', 250).catch(() => {}) }))
  return {
    agents: AGENTS,
    profile: 'lan',
    knobs: KNOBS.join(' '),
    deploy: { allRunningPassingMs: deployAllMs, installMedianMs: median(deployInstall), installMaxMs: Math.max(...deployInstall), installAttempts: delta(i1, i0) },
    rollout: v2Result,
    failedRollout: v3Result,
    idleBefore,
    idleAfter
  }
}

const work = await mkdtemp(join(tmpdir(), 'mycel-bench-rollout-'))
const pids = new Set<number>()
const agents: AgentProcess[] = []
try {
  out(`rollout of a component to ${AGENTS} agents (lan), ${KNOBS.join(' ')}`)
  const result = await main(work, pids, agents)
  const path = await writeResult('rollout', result)
  out(`wrote ${path}`)
} finally {
  // What runs now, not only what the bench saw: a failed rollout leaves nodes on versions started since.
  await Promise.all(agents.map(async a => { try { const c = await local(a); if (c?.pid !== undefined) pids.add(c.pid) } catch {} }))
  await Promise.all(agents.map(async a => { await a.cleanup() }))
  // Components outlive their agent: a failed run must not leave them running.
  for (const pid of pids) try { process.kill(-pid, 'SIGKILL') } catch {}
  await rm(work, { recursive: true, force: true })
}
