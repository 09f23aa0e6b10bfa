/**
 * Component distribution on loopback (issue 13): one archive of 100 MB from a
 * publisher to 10 receivers, side by side with the same bytes downloaded by 10
 * clients from one plain HTTP server. Results:
 * bench/results/component-distribution.json.
 *
 *   npm run bench -- component-distribution
 *   MYCEL_BENCH_DIST_MB=20 MYCEL_BENCH_DIST_RECEIVERS=4 node dist/bench/component-distribution.js
 *
 * - single: one server process (node:http, the file streamed from disk) and
 *   10 client processes (fetch(), sha256 of every byte, checked), started
 *   together; wall time from "go" until the last client holds a matching copy.
 * - swarm: 11 agent processes (`lan` profile, every one trusting the bench's
 *   publisher key), the component published on the first (before the clock),
 *   then deployed as a system component (`PUT /v1/deployments/NAME`); wall time
 *   until every receiver's `GET /v1/components/local` says installing, starting
 *   or running (its node holds the whole verified archive).
 *
 * For both: aggregate throughput (receivers × size / wall) and CPU seconds per
 * MB moved, the CPU of every process involved (server and clients; all
 * agents) from /proc/<pid>/stat before and after. On loopback the link is not
 * the limit, so this measures what the transfer costs, not what the swarm
 * saves; the testground case `component-distribution` measures that. The
 * agents' idle CPU (measured over 10 s before the deploy) is reported too, and
 * the swarm's CPU per MB without it.
 */
import '../daemon/polyfill.js'
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'
import { AgentProcess, CLI, freePort, waitFor } from '../harness/agent-process.js'
import { median, round, writeResult } from './lib/stats.js'
import { procSample } from './lib/proc-stat.js'

const SIZE_MB = Number(process.env.MYCEL_BENCH_DIST_MB ?? 100)
const RECEIVERS = Number(process.env.MYCEL_BENCH_DIST_RECEIVERS ?? 10)
const TIMEOUT_MS = Number(process.env.MYCEL_BENCH_DIST_TIMEOUT_MS ?? 600_000)
/** Window over which the agents' idle CPU is measured before the deploy. */
const IDLE_MS = Number(process.env.MYCEL_BENCH_DIST_IDLE_MS ?? 10_000)
/** MB as 10^6 bytes, as the throughput is reported. */
const MB = 1e6
const NAME = 'bench-payload'
const VERSION = '1.0.0'
const run = promisify(execFile)
const out = (s: string): void => { process.stdout.write(s + '\n') }

/** A component directory with `size` random bytes; returns the payload's path and sha256. */
async function makeComponent (dir: string, size: number): Promise<{ payload: string, sha256: string }> {
  await writeFile(join(dir, 'mycel.component.yaml'), `name: ${NAME}\nversion: "${VERSION}"\nentry: ["/bin/sh", "-c", "exec sleep 3600"]\n`)
  const payload = join(dir, 'payload.bin')
  const hash = createHash('sha256')
  const ws = createWriteStream(payload)
  for (let left = size; left > 0; left -= 1 << 20) {
    const b = randomBytes(Math.min(1 << 20, left))
    hash.update(b)
    if (!ws.write(b)) await new Promise<void>(resolve => ws.once('drain', () => { resolve() }))
  }
  await new Promise<void>((resolve, reject) => ws.end((err?: Error | null) => { if (err != null) reject(err); else resolve() }))
  return { payload, sha256: hash.digest('hex') }
}

/** The HTTP server: streams the file to every GET. */
const SERVER = `
const http = require('http'), fs = require('fs'), { pipeline } = require('stream')
const [file, port] = process.argv.slice(1)
const size = fs.statSync(file).size
http.createServer((req, res) => {
  res.writeHead(200, { 'content-length': size })
  pipeline(fs.createReadStream(file), res, () => {})
}).listen(Number(port), '127.0.0.1', () => console.log('ready'))`

/** A client: waits for "go" on stdin, downloads, hashes, prints {bytes, sha256, cpuSeconds}. */
const CLIENT = `
const crypto = require('crypto'), readline = require('readline')
const url = process.argv[1]
console.log('ready')
readline.createInterface({ input: process.stdin }).once('line', async () => {
  const c0 = process.cpuUsage()
  const res = await fetch(url)
  const h = crypto.createHash('sha256')
  let bytes = 0
  for await (const chunk of res.body) { h.update(chunk); bytes += chunk.length }
  const c = process.cpuUsage(c0)
  console.log(JSON.stringify({ bytes, sha256: h.digest('hex'), cpuSeconds: (c.user + c.system) / 1e6 }))
  process.exit(0)
})`

/** Spawns `node -e script args…` and resolves once it printed its first line ("ready"). */
async function child (script: string, args: string[]): Promise<{ proc: ChildProcess, lines: AsyncIterator<string> }> {
  const proc = spawn(process.execPath, ['-e', script, ...args], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]()
  const first = await lines.next()
  if (first.done === true || first.value !== 'ready') throw new Error(`child did not start: ${String(first.value)}`)
  return { proc, lines }
}

async function single (payload: string, sha256: string, size: number): Promise<Record<string, unknown>> {
  const port = await freePort()
  const server = await child(SERVER, [payload, String(port)])
  const clients: Array<Awaited<ReturnType<typeof child>>> = []
  try {
    for (let i = 0; i < RECEIVERS; i++) clients.push(await child(CLIENT, [`http://127.0.0.1:${port}/payload`]))
    const serverCpu0 = procSample(server.proc.pid!).cpuSeconds
    const t0 = performance.now()
    for (const c of clients) c.proc.stdin!.write('go\n')
    const done = await Promise.all(clients.map(async c => {
      const r = await c.lines.next()
      const t = performance.now() - t0
      const j = JSON.parse(String(r.value)) as { bytes: number, sha256: string, cpuSeconds: number }
      if (j.bytes !== size || j.sha256 !== sha256) throw new Error(`a client got ${j.bytes} bytes with sha256 ${j.sha256}`)
      return { ms: t, cpuSeconds: j.cpuSeconds }
    }))
    const wallS = Math.max(...done.map(d => d.ms)) / 1000
    const serverCpu = procSample(server.proc.pid!).cpuSeconds - serverCpu0
    const cpu = serverCpu + done.reduce((s, d) => s + d.cpuSeconds, 0)
    const moved = RECEIVERS * size / MB
    return {
      wallSeconds: round(wallS),
      perReceiverSecondsMedian: round(median(done.map(d => d.ms / 1000))),
      throughputMBps: round(moved / wallS, 1),
      cpuSeconds: round(cpu),
      serverCpuSeconds: round(serverCpu),
      cpuMsPerMB: round(1000 * cpu / moved, 2)
    }
  } finally {
    for (const c of [server, ...clients]) c.proc.kill('SIGKILL')
  }
}

async function localState (a: AgentProcess): Promise<string | undefined> {
  const r = await a.request('GET', '/v1/components/local')
  if (r.status === 404) throw new Error(`GET /v1/components/local: 404 (no component host in this build?) ${JSON.stringify(r.json)}`)
  const list = (r.json as { components?: Array<{ name: string, state: string, reason?: string }> }).components ?? []
  // `failed` is not final (the host retries after a pause); the timeout decides.
  return list.find(x => x.name === NAME)?.state
}

async function counter (a: AgentProcess, metric: string): Promise<number> {
  const text = await (await fetch(`http://${a.api}/metrics`)).text()
  let total = 0
  for (const line of text.split('\n')) if (line.startsWith(`${metric} `) || line.startsWith(`${metric}{`)) total += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0
  return total
}

async function swarm (dir: string, key: string, size: number): Promise<Record<string, unknown>> {
  const { stdout } = await run(process.execPath, [CLI, 'publisher', 'keygen', '--out', key, '--json'])
  const publisherId = (JSON.parse(stdout) as { publisherId: string }).publisherId
  const opts = { profile: 'lan' as const, logLevel: 'warn', extraArgs: ['--publisher', publisherId] }
  const agents: AgentProcess[] = [await AgentProcess.start(opts)]
  try {
    // A few at a time: eleven Node processes starting at once on 2 cores measure the scheduler.
    for (let i = 0; i < RECEIVERS; i += 4) {
      agents.push(...await Promise.all(Array.from({ length: Math.min(4, RECEIVERS - i) }, async () =>
        await AgentProcess.start({ ...opts, bootstrap: [agents[0].addr] }))))
    }
    const n = agents.length
    await waitFor(async () => (await Promise.all(agents.map(async a => (await a.members()).filter(m => m.state === 'alive').length))).every(c => c === n),
      180_000, `${n} agents alive`, 250)
    const [publisher, ...receivers] = agents
    const p0 = performance.now()
    await run(process.execPath, [CLI, 'component', 'publish', dir, '--key', key, '--api', publisher.api, '--json'], { timeout: TIMEOUT_MS })
    const publishSeconds = (performance.now() - p0) / 1000
    // Before the clock: an agent without the component host (404) fails here, not after the timeout.
    await localState(publisher)
    // What the agents cost doing nothing (membership, DHT, health), so the transfer's own share can be told apart.
    const idle0 = agents.map(a => procSample(a.child!.pid!).cpuSeconds)
    await new Promise(resolve => setTimeout(resolve, IDLE_MS))
    const cpu0 = agents.map(a => procSample(a.child!.pid!).cpuSeconds)
    const idleCpuPerSecond = cpu0.reduce((s, c, i) => s + c - idle0[i], 0) / (IDLE_MS / 1000)
    const t0 = performance.now()
    const r = await publisher.request('PUT', `/v1/deployments/${NAME}`, { version: VERSION })
    if (r.status !== 200) throw new Error(`deploy: HTTP ${r.status} ${JSON.stringify(r.json)}`)
    const held = await Promise.all(receivers.map(async a => {
      await waitFor(async () => ['installing', 'starting', 'running'].includes((await localState(a)) ?? ''), TIMEOUT_MS, `${NAME} held by ${a.peerId}`, 100)
      return performance.now() - t0
    }))
    const wallS = Math.max(...held) / 1000
    const cpu = agents.reduce((s, a, i) => s + procSample(a.child!.pid!).cpuSeconds - cpu0[i], 0)
    const moved = RECEIVERS * size / MB
    const served = await Promise.all(agents.map(async a => await counter(a, 'mycel_artifact_bytes_served_total')))
    await publisher.request('DELETE', `/v1/deployments/${NAME}`)
    // Components outlive their agent: wait until each node stopped its instance.
    await Promise.all(agents.map(async a => { await waitFor(async () => ['stopped', undefined].includes(await localState(a)), 60_000, 'undeployed', 200).catch(() => {}) }))
    return {
      agents: n,
      publishSeconds: round(publishSeconds),
      wallSeconds: round(wallS),
      perReceiverSecondsMedian: round(median(held.map(h => h / 1000))),
      throughputMBps: round(moved / wallS, 1),
      cpuSeconds: round(cpu),
      cpuMsPerMB: round(1000 * cpu / moved, 2),
      idleCpuSecondsPerSecond: round(idleCpuPerSecond),
      cpuMsPerMBLessIdle: round(1000 * Math.max(0, cpu - idleCpuPerSecond * wallS) / moved, 2),
      publisherServedMB: round(served[0] / MB, 1),
      receiversServedMB: round(served.slice(1).reduce((s, b) => s + b, 0) / MB, 1)
    }
  } finally {
    await Promise.all(agents.map(async a => { await a.cleanup() }))
  }
}

const work = await mkdtemp(join(tmpdir(), 'mycel-bench-dist-'))
try {
  const size = Math.round(SIZE_MB * MB)
  const dir = join(work, 'component')
  await mkdir(dir)
  const { payload, sha256 } = await makeComponent(dir, size)
  out(`component distribution on loopback: ${SIZE_MB} MB to ${RECEIVERS} receivers`)
  const s = await single(payload, sha256, size)
  out(`single source (HTTP): ${JSON.stringify(s)}`)
  const w = await swarm(dir, join(work, 'publisher.key'), size).catch((err: Error) => ({ error: err.message.split('\n')[0] }))
  out(`swarm (mycel deploy): ${JSON.stringify(w)}`)
  const ratios = 'error' in w
    ? undefined
    : {
        wallSwarmOverSingle: round((w.wallSeconds as number) / (s.wallSeconds as number), 2),
        cpuPerMBSwarmOverSingle: round((w.cpuMsPerMB as number) / (s.cpuMsPerMB as number), 2)
      }
  if (ratios !== undefined) out(`ratios: ${JSON.stringify(ratios)}`)
  const path = await writeResult('component-distribution', { sizeMB: SIZE_MB, receivers: RECEIVERS, single: s, swarm: w, ratios })
  out(`wrote ${path}`)
} finally {
  await rm(work, { recursive: true, force: true })
}
