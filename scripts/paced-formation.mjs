// Forming a network slowly, then its cost at rest (docs/performance.md, fourteenth pass): N agents (lan profile,
// loopback), each started GAP ms after the one before wrote agent.json and bootstrapping through one of the first
// three; every 10 starts the CPU spent so far; then the time until every agent sees all N alive, a settle of SETTLE
// seconds and two windows of WIN seconds with the CPU per agent at rest.
// usage: node scripts/paced-formation.mjs <cli.js> [N] [gapMs] [settleS] [winS]
// npm run build first (it starts agents with harness/agent-process.ts from this checkout's dist/).
import { procSample } from '../dist/bench/lib/proc-stat.js'
import { formPaced, sleep, waitAllAlive } from './lib/formation.mjs'
const [cli, N = '100', GAP = '1500', SETTLE = '60', WIN = '60'] = process.argv.slice(2)
const n = Number(N)
const cpu = a => { try { return procSample(a.agentPid).cpuSeconds } catch { return 0 } }
const total = agents => agents.reduce((s, a) => s + cpu(a), 0)
const t0 = Date.now()
const agents = []
try {
  await formPaced(cli, n, Number(GAP), agents, count => {
    if (count % 10 === 0) console.log(`${count} started at ${((Date.now() - t0) / 1000).toFixed(0)} s, CPU so far ${total(agents).toFixed(1)} s`)
  })
  const last = Date.now()
  await waitAllAlive(agents, n)
  const spent = total(agents)
  console.log(`all ${n} alive ${((Date.now() - last) / 1000).toFixed(1)} s after the last start; CPU ${spent.toFixed(1)} s (${(spent / n).toFixed(2)} s an agent)`)
  await sleep(Number(SETTLE) * 1000)
  for (let w = 0; w < 2; w++) {
    const c0 = agents.map(cpu); const tw = Date.now()
    await sleep(Number(WIN) * 1000)
    const dt = (Date.now() - tw) / 1000
    const per = agents.map((a, i) => (cpu(a) - c0[i]) / dt * 100).sort((x, y) => x - y)
    const mean = per.reduce((s, x) => s + x, 0) / per.length
    console.log(`window ${w + 1}: at rest ${mean.toFixed(2)} % a core per agent (median ${per[per.length >> 1].toFixed(2)} %, max ${per[per.length - 1].toFixed(2)} %), ${(mean * n / 100).toFixed(2)} cores in all`)
  }
} finally {
  await Promise.all(agents.map(a => a.cleanup()))
}
