// Idle CPU per agent (docs/performance.md): N agents (lan profile, loopback) from one CLI build; after all see N alive and a settle
// time, CPU seconds (utime+stime from /proc) over a window. usage: node scripts/idle-cpu.mjs <cli.js> [N] [settleS] [windowS]
// Agents start through harness/agent-process.ts (with the node flags of <cli.js>'s #! line) and are sampled by
// bench/lib/proc-stat.ts, both from this checkout's dist/ (npm run build first).
import { AgentProcess } from '../dist/harness/agent-process.js'
import { procSample } from '../dist/bench/lib/proc-stat.js'
import { readFileSync } from 'node:fs'
const [cli, N = '5', SETTLE = '60', WINDOW = '120'] = process.argv.slice(2)
const n = Number(N)
const sleep = ms => new Promise(r => setTimeout(r, ms))
const cpu = a => procSample(a.agentPid).cpuSeconds
const agents = []
const start = async (boot) => { const a = await AgentProcess.start({ cli, profile: 'lan', logLevel: 'warn', bootstrap: boot ? [boot] : [] }); agents.push(a); return a }
try {
  const first = await start()
  for (let i = 1; i < n; i++) await start(first.addr)
  const alive = async a => { try { return (await a.members()).filter(m => m.state === 'alive').length } catch { return 0 } }
  const t0 = Date.now()
  while ((await Promise.all(agents.map(alive))).some(c => c < n)) { if (Date.now() - t0 > 180_000) throw new Error('no convergence'); await sleep(500) }
  await sleep(Number(SETTLE) * 1000)
  const before = agents.map(cpu)
  await sleep(Number(WINDOW) * 1000)
  const pct = agents.map((a, i) => 100 * (cpu(a) - before[i]) / Number(WINDOW))
  const sorted = [...pct].sort((x, y) => x - y)
  console.log(JSON.stringify({ cli, n, settleS: Number(SETTLE), windowS: Number(WINDOW), cpuPercentPerAgent: pct.map(x => Math.round(x * 100) / 100), median: Math.round(sorted[Math.floor(n / 2)] * 100) / 100, load: readFileSync('/proc/loadavg', 'utf8').trim() }))
} finally {
  await Promise.all(agents.map(async a => { await a.cleanup() }))
}
