/**
 * Critical-config commit benchmark (issue 4): latency p50/p99 of sequential
 * proposals and throughput (sequential and with concurrent clients) with 4
 * and 7 validator processes on loopback, side by side in the same run with a
 * 3-member etcd cluster (Debian `etcd-server`) doing sequential puts through
 * its HTTP/JSON gateway. Both are measured as a client sees them: HTTP
 * request in, durable commit out (mycel: WAL + block fsync on a quorum;
 * etcd: raft log fsync on a quorum). Results: bench/results/bft-commit.json.
 *
 *   npm run bench -- bft-commit
 *   MYCEL_BENCH_BFT_SIZES=4 MYCEL_BENCH_BFT_OPS=100 npm run bench -- bft-commit
 */
import '../daemon/polyfill.js'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { AgentProcess, freePort, waitFor } from '../harness/agent-process.js'
import { percentile, round, writeResult } from './lib/stats.js'
import { procSample } from './lib/proc-stat.js'
import { sleep } from '../lib/clock.js'
import { writeBenchGenesis } from './lib/genesis.js'

const SIZES = (process.env.MYCEL_BENCH_BFT_SIZES ?? '4,7').split(',').map(Number)
const OPS = Number(process.env.MYCEL_BENCH_BFT_OPS ?? 200)
const WARMUP = 10
const CONCURRENCY = Number(process.env.MYCEL_BENCH_BFT_CONCURRENCY ?? 16)
const CONCURRENT_SECONDS = Number(process.env.MYCEL_BENCH_BFT_SECONDS ?? 10)
/** Idle CPU is sampled over this long before the load starts, ms. */
const IDLE_SAMPLE_MS = 5_000
const PROFILE = (process.env.MYCEL_BENCH_PROFILE ?? 'lan') as 'lan'
/** Extra node flags for the validators, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` (space-separated). */
const NODE_ARGS = (process.env.MYCEL_BENCH_NODE_ARGS ?? '').split(' ').filter(a => a !== '')

interface Series {
  p50Ms: number, p99Ms: number, meanMs: number, sequentialOpsPerSec: number, concurrentOpsPerSec: number, concurrency: number, ops: number
  /** CPU time of all server processes per sequential commit, ms (what 2 shared cores must fit). */
  cpuMsPerOp: number
  /** CPU time of all server processes per second with no load, ms/s (mycel only). */
  idleCpuMsPerSec?: number
}

function summarise (lat: number[], concurrentOps: number, seconds: number, cpuMs: number): Series {
  const mean = lat.reduce((a, b) => a + b, 0) / lat.length
  return {
    p50Ms: round(percentile(lat, 50)),
    p99Ms: round(percentile(lat, 99)),
    meanMs: round(mean),
    sequentialOpsPerSec: round(1000 / mean, 1),
    concurrentOpsPerSec: round(concurrentOps / seconds, 1),
    concurrency: CONCURRENCY,
    ops: lat.length,
    cpuMsPerOp: round(cpuMs / lat.length, 2)
  }
}

/**
 * Sequential then concurrent load against `op`; latency in ms from the
 * client's side. `pids`: the server processes whose CPU time the sequential
 * phase is charged (/proc ticks, 10 ms resolution, fine over 100+ ops).
 */
async function drive (op: (i: number) => Promise<void>, pids: () => number[]): Promise<Series> {
  for (let i = 0; i < WARMUP; i++) await op(-1 - i)
  const cpu = (): number => pids().reduce((sum, pid) => sum + procSample(pid).cpuSeconds * 1000, 0)
  const cpu0 = cpu()
  const lat: number[] = []
  for (let i = 0; i < OPS; i++) {
    const t0 = performance.now()
    await op(i)
    lat.push(performance.now() - t0)
  }
  const cpuMs = cpu() - cpu0
  let done = 0
  const deadline = Date.now() + CONCURRENT_SECONDS * 1000
  let n = OPS
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (Date.now() < deadline) {
      await op(n++)
      done++
    }
  }))
  return summarise(lat, done, CONCURRENT_SECONDS, cpuMs)
}

async function mycelRun (n: number): Promise<Series> {
  const root = await mkdtemp(join(tmpdir(), 'mycel-bench-bft-'))
  const agents: AgentProcess[] = []
  try {
    const { file: genesisFile, validatorDirs: dirs } = await writeBenchGenesis(root, n, (i) => join(root, `v${i}`))
    const extraArgs = ['--genesis', genesisFile]
    // One at a time, each pushed as soon as it runs, so a failed start still cleans up the others.
    for (const d of dirs) {
      agents.push(await AgentProcess.start({ dataDir: d, extraArgs, profile: PROFILE, logLevel: 'info', nodeArgs: NODE_ARGS, bootstrap: agents.length > 0 ? [agents[0].addr] : [] }))
    }
    // Ready when every validator has heard from every other one.
    await waitFor(async () => {
      const r = await agents[0].request('POST', '/v1/critical', { key: 'bench/ready', value: String(Date.now()), timeoutMs: 5_000 })
      return r.status === 200
    }, 120_000, 'first commit', 500)
    const entry = agents[0]
    // What the validators burn with no commits at all (membership, gossip, timers), to read CPU per commit against.
    const idle0 = agents.reduce((sum, a) => sum + procSample(a.agentPid).cpuSeconds, 0)
    await sleep(IDLE_SAMPLE_MS)
    const idleCpuMsPerSec = round((agents.reduce((sum, a) => sum + procSample(a.agentPid).cpuSeconds, 0) - idle0) * 1000 / (IDLE_SAMPLE_MS / 1000), 1)
    const series = await drive(async (i) => {
      const r = await entry.request('POST', '/v1/critical', { key: `bench/k${i % 16}`, value: `v${i}`, timeoutMs: 30_000 })
      if (r.status !== 200) throw new Error(`propose failed: ${r.status} ${JSON.stringify(r.json)}`)
    }, () => agents.map(a => a.agentPid))
    const status = await entry.get('/v1/bft/status')
    process.stdout.write(`mycel n=${n}: p50 ${series.p50Ms} ms, p99 ${series.p99Ms} ms, sequential ${series.sequentialOpsPerSec}/s, CPU ${series.cpuMsPerOp} ms/commit (idle ${idleCpuMsPerSec} ms/s), ` +
      `${CONCURRENCY} clients ${series.concurrentOpsPerSec}/s (height ${status.committedHeight})\n`)
    return { ...series, idleCpuMsPerSec }
  } finally {
    // A profiled agent writes its profile only on a clean exit.
    if (NODE_ARGS.length > 0) for (const a of agents) await a.stop().catch(() => {})
    for (const a of agents) await a.cleanup().catch(() => {})
    await rm(root, { recursive: true, force: true })
  }
}

interface Etcd { children: ChildProcess[], clientPorts: number[], dir: string }

async function startEtcd (): Promise<Etcd> {
  const dir = await mkdtemp(join(tmpdir(), 'mycel-bench-etcd-'))
  const clientPorts = [await freePort(), await freePort(), await freePort()]
  const peerPorts = [await freePort(), await freePort(), await freePort()]
  const cluster = peerPorts.map((p, i) => `e${i}=http://127.0.0.1:${p}`).join(',')
  const children = clientPorts.map((cp, i) => spawn('etcd', [
    '--name', `e${i}`, '--data-dir', join(dir, `e${i}`),
    '--listen-client-urls', `http://127.0.0.1:${cp}`, '--advertise-client-urls', `http://127.0.0.1:${cp}`,
    '--listen-peer-urls', `http://127.0.0.1:${peerPorts[i]}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPorts[i]}`,
    '--initial-cluster', cluster, '--initial-cluster-state', 'new', '--initial-cluster-token', 'mycel-bench',
    '--log-level', 'error'
  ], { stdio: 'ignore' }))
  const e = { children, clientPorts, dir }
  await waitFor(async () => {
    const res = await fetch(`http://127.0.0.1:${clientPorts[0]}/health`, { signal: AbortSignal.timeout(2000) })
    return res.ok && ((await res.json()) as { health?: string }).health === 'true'
  }, 60_000, 'etcd cluster health', 250)
  return e
}

async function stopEtcd (e: Etcd): Promise<void> {
  for (const c of e.children) c.kill('SIGKILL')
  await sleep(200)
  await rm(e.dir, { recursive: true, force: true })
}

async function etcdRun (): Promise<Series> {
  const e = await startEtcd()
  try {
    const url = `http://127.0.0.1:${e.clientPorts[0]}/v3/kv/put`
    const b64 = (s: string): string => Buffer.from(s).toString('base64')
    const series = await drive(async (i) => {
      const res = await fetch(url, { method: 'POST', body: JSON.stringify({ key: b64(`bench/k${i % 16}`), value: b64(`v${i}`) }), signal: AbortSignal.timeout(30_000) })
      if (!res.ok) throw new Error(`etcd put failed: ${res.status}`)
      await res.arrayBuffer()
    }, () => e.children.map(c => c.pid ?? 0).filter(pid => pid > 0))
    process.stdout.write(`etcd 3 members: p50 ${series.p50Ms} ms, p99 ${series.p99Ms} ms, sequential ${series.sequentialOpsPerSec}/s, CPU ${series.cpuMsPerOp} ms/commit, ` +
      `${CONCURRENCY} clients ${series.concurrentOpsPerSec}/s\n`)
    return series
  } finally {
    await stopEtcd(e)
  }
}

async function etcdAvailable (): Promise<boolean> {
  return await new Promise(resolve => {
    const c = spawn('etcd', ['--version'], { stdio: 'ignore' })
    c.once('error', () => resolve(false))
    c.once('exit', code => resolve(code === 0))
  })
}

// The machine is shared: record how busy it was, the numbers mean little without it.
const loadBefore = loadavg()[0]
const haveEtcd = await etcdAvailable()
if (!haveEtcd) process.stdout.write('etcd not installed (apt-get install -y etcd-server etcd-client): mycel numbers only\n')
const etcd = haveEtcd ? await etcdRun() : undefined
const mycel: Record<string, Series> = {}
for (const n of SIZES) mycel[`validators_${n}`] = await mycelRun(n)
const ratios: Record<string, unknown> = {}
if (etcd !== undefined) {
  for (const [k, s] of Object.entries(mycel)) {
    ratios[k] = { p50: round(s.p50Ms / etcd.p50Ms, 2), p99: round(s.p99Ms / etcd.p99Ms, 2), concurrentThroughput: round(s.concurrentOpsPerSec / etcd.concurrentOpsPerSec, 2) }
    process.stdout.write(`ratio mycel(${k}) / etcd: p50 ×${round(s.p50Ms / etcd.p50Ms, 2)}, p99 ×${round(s.p99Ms / etcd.p99Ms, 2)}, ` +
      `throughput ×${round(s.concurrentOpsPerSec / etcd.concurrentOpsPerSec, 2)} (target p50 ≤ ×1.5)\n`)
  }
}
const load = { before: round(loadBefore, 1), after: round(loadavg()[0], 1) }
process.stdout.write(`1-minute load average: ${load.before} before, ${load.after} after (2 cores)\n`)
const path = await writeResult('bft-commit', { profile: PROFILE, ops: OPS, concurrency: CONCURRENCY, loadAverage1m: load, etcd: etcd ?? null, mycel, ratios })
process.stdout.write(`wrote ${path}\n`)
process.exit(0)
