// What a join costs the network (docs/performance.md, "What a join costs"): N agents (lan profile, loopback) from one CLI
// build; after a settle, a quiet window of W seconds, then J joiners started GAP ms apart (each through a different old
// agent) inside a window of the same length. Prints the old agents' CPU per join beyond the quiet window, the joiners' own
// CPU, and the per-join counts of what all agents did (metrics summed over every agent: connections, DHT requests,
// membership records, push-pulls). usage: node scripts/join-cost.mjs <cli.js> [N] [J] [gapMs] [settleS]
// npm run build first (it starts agents with harness/agent-process.ts and samples with this checkout's dist/).
import { AgentProcess } from '../dist/harness/agent-process.js'
import { procSample } from '../dist/bench/lib/proc-stat.js'
import { readFileSync } from 'node:fs'
const [cli, N = '20', J = '5', GAP = '6000', SETTLE = '120'] = process.argv.slice(2)
const n = Number(N); const joins = Number(J); const gap = Number(GAP)
const sleep = ms => new Promise(r => setTimeout(r, ms))
const cpu = a => procSample(a.agentPid).cpuSeconds
const agents = []
const start = async (boot) => { const a = await AgentProcess.start({ cli, profile: 'lan', logLevel: 'warn', bootstrap: boot ? [boot] : [] }); agents.push(a); return a }
// Counters summed over every agent (a joiner not yet started counts 0).
const COUNTERS = {
  connections: /^libp2p_connection_manager_dials_total\{.*"outbound"\}/,
  noiseHandshakes: /^libp2p_noise_xxhandshake_successes_total/,
  dhtRequestsSent: /^mycel_dht_outbound_rpc_requests_total/,
  membershipAliveRecords: /^mycel_membership_messages_total\{type="alive"/,
  pushPullsFull: /^mycel_membership_pushpull_total\{role="initiator",kind="full"/,
  gossipMessagesAccepted: /^mycel_gossip_messages_total\{.*result="accepted"/
}
async function counters () {
  const sum = Object.fromEntries(Object.keys(COUNTERS).map(k => [k, 0]))
  for (const a of agents) {
    let text = ''
    try { text = await (await fetch(`http://${a.api}/metrics`)).text() } catch { continue }
    for (const line of text.split('\n')) {
      for (const [k, re] of Object.entries(COUNTERS)) if (re.test(line)) sum[k] += Number(line.slice(line.lastIndexOf(' ') + 1))
    }
  }
  return sum
}
const round = (x, d = 2) => Math.round(x * 10 ** d) / 10 ** d
try {
  const first = await start()
  for (let i = 1; i < n; i++) await start(first.addr)
  await sleep(Number(SETTLE) * 1000)
  const old = [...agents]
  const windowS = joins * gap / 1000 + 10
  const c0 = old.map(cpu); const m0 = await counters()
  await sleep(windowS * 1000)
  const c1 = old.map(cpu); const m1 = await counters()
  const t0 = Date.now()
  for (let j = 0; j < joins; j++) {
    await start(old[j % old.length].addr)
    await sleep(Math.max(0, t0 + (j + 1) * gap - Date.now()))
  }
  await sleep(Math.max(0, t0 + windowS * 1000 - Date.now()))
  const c2 = old.map(cpu); const m2 = await counters()
  const quiet = c1.reduce((s, v, i) => s + v - c0[i], 0)
  const busy = c2.reduce((s, v, i) => s + v - c1[i], 0)
  const joinerCpu = agents.slice(n).map(cpu)
  const perJoin = Object.fromEntries(Object.keys(COUNTERS).map(k => [k, round(((m2[k] - m1[k]) - (m1[k] - m0[k])) / joins, 1)]))
  console.log(JSON.stringify({
    cli, n, joins, gapMs: gap, windowS,
    oldAgentsCpuPercent: { quiet: round(100 * quiet / windowS / n), duringJoins: round(100 * busy / windowS / n) },
    oldAgentsCpuSecondsPerJoin: round((busy - quiet) / joins),
    joinerCpuSeconds: { mean: round(joinerCpu.reduce((x, y) => x + y, 0) / joins), each: joinerCpu.map(x => round(x)) },
    perJoinBeyondQuiet: perJoin,
    load: readFileSync('/proc/loadavg', 'utf8').trim()
  }))
} finally {
  await Promise.all(agents.map(async a => { await a.cleanup() }))
}
