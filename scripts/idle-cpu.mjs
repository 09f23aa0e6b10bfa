// Idle CPU per agent (docs/performance.md): N agents (lan profile, loopback) from one CLI build; after all see N alive and a settle
// time, CPU seconds (utime+stime from /proc) over a window. usage: node scripts/idle-cpu.mjs <cli.js> [N] [settleS] [windowS]
// Agents start with the node flags of <cli.js>'s #! line (harness/node-command.ts) and are sampled by bench/lib/proc-stat.ts,
// both from this checkout's dist/ (npm run build first).
import { spawn } from 'node:child_process'
import { nodeCommand } from '../dist/harness/node-command.js'
import { procSample } from '../dist/bench/lib/proc-stat.js'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createServer } from 'node:net'
const [cli, N = '5', SETTLE = '60', WINDOW = '120'] = process.argv.slice(2)
const n = Number(N)
const sleep = ms => new Promise(r => setTimeout(r, ms))
const freePort = () => new Promise(res => { const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => res(p)) }) })
const cpu = pid => procSample(pid).cpuSeconds
const agents = []
async function start (boot) {
  const dir = mkdtempSync(join(tmpdir(), 'mycel-idle-')); const port = await freePort()
  const cmd = nodeCommand(cli, ['agent', '--data-dir', dir, '--listen', `/ip4/127.0.0.1/tcp/${port}`, '--api', '127.0.0.1:0', '--profile', 'lan', '--log-level', 'warn', ...(boot ? ['--bootstrap', boot] : [])])
  const child = spawn(cmd.command, cmd.args, { stdio: ['ignore', 'ignore', 'ignore'], env: { ...process.env, ...cmd.env } })
  let info
  while (!info) { await sleep(100); try { const j = JSON.parse(readFileSync(join(dir, 'agent.json'), 'utf8')); if (j.pid === child.pid) info = j } catch {} }
  const a = { child, dir, api: info.api, addr: (x => x.includes('/p2p/') ? x : `${x}/p2p/${info.peerId}`)(info.addrs.find(x => x.includes(`/tcp/${port}`)) ?? info.addrs[0]) }
  agents.push(a); return a
}
try {
  const first = await start()
  for (let i = 1; i < n; i++) await start(first.addr)
  const alive = async a => { try { const r = await (await fetch(`http://${a.api}/v1/members`)).json(); const ms = r.members ?? r; return ms.filter(m => m.state === 'alive').length } catch { return 0 } }
  const t0 = Date.now()
  while ((await Promise.all(agents.map(alive))).some(c => c < n)) { if (Date.now() - t0 > 180_000) throw new Error('no convergence'); await sleep(500) }
  await sleep(Number(SETTLE) * 1000)
  const before = agents.map(a => cpu(a.child.pid))
  await sleep(Number(WINDOW) * 1000)
  const pct = agents.map((a, i) => 100 * (cpu(a.child.pid) - before[i]) / Number(WINDOW))
  const sorted = [...pct].sort((x, y) => x - y)
  console.log(JSON.stringify({ cli, n, settleS: Number(SETTLE), windowS: Number(WINDOW), cpuPercentPerAgent: pct.map(x => Math.round(x * 100) / 100), median: Math.round(sorted[Math.floor(n / 2)] * 100) / 100, load: readFileSync('/proc/loadavg', 'utf8').trim() }))
} finally {
  for (const a of agents) a.child.kill('SIGKILL')
  await sleep(300)
  for (const a of agents) rmSync(a.dir, { recursive: true, force: true })
}
