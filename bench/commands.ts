/**
 * Commands benchmark (issue 17): fan-out latency of `ping` — from the
 * originator signing the request to the last of all N answers, as the
 * originator measures it (POST /v1/commands `durationMs`) — with N real
 * agent processes on loopback, for each N in MYCEL_BENCH_SIZES (4 and 20),
 * p50/p99 over RUNS commands after WARMUP. Originators rotate over the
 * agents. Results: bench/results/commands.json.
 *
 *   npm run bench -- commands   (MYCEL_BENCH_SIZES=4,20 MYCEL_BENCH_RUNS=30 MYCEL_BENCH_PROFILE=lan)
 */
import '../daemon/polyfill.js'
import { AgentProcess, waitFor } from '../harness/agent-process.js'
import { median, percentile, round, writeResult } from './lib/stats.js'

const SIZES = (process.env.MYCEL_BENCH_SIZES ?? '4,20').split(',').map(Number)
const RUNS = Number(process.env.MYCEL_BENCH_RUNS ?? 30)
const WARMUP = Number(process.env.MYCEL_BENCH_WARMUP ?? 5)
/** Agents started at once: a loaded 2-core machine does not start 8 in time. */
const BATCH = Number(process.env.MYCEL_BENCH_BATCH ?? 4)
const PROFILE = (process.env.MYCEL_BENCH_PROFILE ?? 'lan') as 'lan' | 'test'

interface Reply { expected: string[], missing: string[], results: unknown[], durationMs: number }

async function ping (a: AgentProcess): Promise<Reply> {
  const r = await a.request('POST', '/v1/commands', { name: 'ping', timeoutMs: 10_000 })
  if (r.status !== 200) throw new Error(`POST /v1/commands: ${r.status} ${JSON.stringify(r.json)}`)
  return r.json as Reply
}

async function measure (n: number): Promise<Record<string, unknown>> {
  const boot = await AgentProcess.start({ profile: PROFILE, logLevel: 'warn' })
  const agents = [boot]
  try {
    for (let i = 1; i < n; i += BATCH) {
      const batch = await Promise.allSettled(Array.from({ length: Math.min(BATCH, n - i) }, async () => await AgentProcess.start({ profile: PROFILE, logLevel: 'warn', bootstrap: [boot.addr] })))
      for (const r of batch) if (r.status === 'fulfilled') agents.push(r.value)
      const failed = batch.find(r => r.status === 'rejected')
      if (failed !== undefined) throw (failed as PromiseRejectedResult).reason
      process.stdout.write(`N=${n}: ${agents.length} agents started\n`)
    }
    for (const a of agents) await waitFor(async () => (await a.members()).filter(m => m.state === 'alive').length === n, 180_000, `${n} members everywhere`, 250)
    // Warm: every originator once fully answered (mesh formed, connections to it open).
    for (const a of agents.slice(0, Math.max(WARMUP, 1))) await waitFor(async () => (await ping(a)).results.length === n, 60_000, 'a full answer', 250)
    const lat: number[] = []
    let partial = 0
    for (let k = 0; k < RUNS; k++) {
      const r = await ping(agents[k % agents.length])
      if (r.missing.length > 0) partial++
      else lat.push(r.durationMs)
    }
    const out = { agents: n, runs: RUNS, complete: lat.length, partial, p50Ms: median(lat), p99Ms: percentile(lat, 99), minMs: Math.min(...lat), maxMs: Math.max(...lat) }
    process.stdout.write(`N=${n}: ping fan-out p50 ${out.p50Ms} ms, p99 ${out.p99Ms} ms over ${lat.length} complete runs (${partial} partial)\n`)
    return out
  } finally {
    await Promise.all(agents.map(async a => { await a.cleanup() }))
  }
}

async function main (): Promise<void> {
  const sizes: Array<Record<string, unknown>> = []
  for (const n of SIZES) sizes.push(await measure(n))
  const path = await writeResult('commands', { profile: PROFILE, command: 'ping', sizes: sizes.map(s => ({ ...s, p50Ms: round(s.p50Ms as number, 1), p99Ms: round(s.p99Ms as number, 1) })) })
  process.stdout.write(`wrote ${path}\n`)
}

main().then(() => process.exit(0), (err) => { process.stderr.write(`${(err as Error).stack ?? String(err)}\n`); process.exit(1) })
