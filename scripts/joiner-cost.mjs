// What one joiner costs itself (docs/performance.md, fourteenth pass): N agents formed as in paced-formation.mjs
// (GAP ms apart), 30 s of rest, then J joiners one after another, each through one of the first three agents and
// given 40 s: the joiner's CPU when ready and 2, 5, 10, 20 and 40 s after its start, the old agents' CPU over those
// 40 s, and the connections the joiner holds at the end. usage: node scripts/joiner-cost.mjs <cli.js> [N] [J] [gapMs]
// npm run build first (it starts agents with harness/agent-process.ts from this checkout's dist/).
import { procSample } from '../dist/bench/lib/proc-stat.js'
import { AgentProcess, formPaced, sleep, waitAllAlive } from './lib/formation.mjs'
const [cli, N = '50', J = '4', GAP = '1500'] = process.argv.slice(2)
const n = Number(N)
const cpu = a => { try { return procSample(a.agentPid).cpuSeconds } catch { return 0 } }
const agents = []
try {
  const o = await formPaced(cli, n, Number(GAP), agents)
  await waitAllAlive(agents, n)
  await sleep(30_000)
  for (let j = 0; j < Number(J); j++) {
    const old0 = agents.reduce((s, a) => s + cpu(a), 0)
    const t0 = Date.now()
    const a = await AgentProcess.start({ ...o, bootstrap: [agents[j % 3].addr] })
    const marks = [`ready ${cpu(a).toFixed(2)} s`]
    for (const s of [2, 5, 10, 20, 40]) { await sleep(Math.max(0, t0 + s * 1000 - Date.now())); marks.push(`${s} s: ${cpu(a).toFixed(2)}`) }
    const old = agents.reduce((s, x) => s + cpu(x), 0) - old0
    const conns = (await (await fetch(`http://${a.api}/metrics`)).text()).split('\n').filter(l => l.startsWith('libp2p_connection_manager_connections{')).map(l => l.replace(/^.*="([a-z ]+)"\} /, '$1 ')).join(', ')
    console.log(`joiner ${j + 1}: CPU ${marks.join(', ')}; old agents ${old.toFixed(2)} s over the 40 s; connections: ${conns}`)
    await a.stop(); await a.cleanup()
    await sleep(10_000)
  }
} finally {
  await Promise.all(agents.map(a => a.cleanup()))
}
