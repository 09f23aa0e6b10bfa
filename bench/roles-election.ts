/**
 * Roles benchmark (issue 5), real agent processes on loopback:
 *  - time to first holders: cold start of REGIONS x PER_REGION agents (3 x 10)
 *    until every agent agrees on one active holder for all 15 (region, role);
 *  - failover after SIGKILL of a holder: kill -> successor acting (median of
 *    repeats; the victim is restarted and the cluster re-converges between);
 *  - DHT operations per second per node at steady state (election's own
 *    get/put counter), plus RSS per agent.
 * Results: bench/results/roles-election.json.
 *
 *   npm run bench -- roles-election   (MYCEL_BENCH_PER_REGION=10 MYCEL_BENCH_KILLS=5 MYCEL_BENCH_PROFILE=lan)
 */
import '../daemon/polyfill.js'
import { AgentProcess, waitFor } from '../harness/agent-process.js'
import { median, percentile, round, writeResult } from './lib/stats.js'
import { procSample } from './lib/proc-stat.js'
import { sleep } from '../lib/clock.js'
import { electionTunables } from '../protocols/election/constants.js'
import { ROLE_NAMES } from '../managers/registry.js'

const REGIONS = ['r1', 'r2', 'r3']
const ROLES = [...ROLE_NAMES]
const PER_REGION = Number(process.env.MYCEL_BENCH_PER_REGION ?? 10)
const KILLS = Number(process.env.MYCEL_BENCH_KILLS ?? 5)
const STEADY_SECONDS = Number(process.env.MYCEL_BENCH_STEADY_SECONDS ?? 30)
const PROFILE = (process.env.MYCEL_BENCH_PROFILE ?? 'lan') as 'lan' | 'test'
const POLL_MS = 250

interface Row { region: string, role: string, holder?: string, term?: number, status: string }
interface View { regions: Array<{ region: string, roles: Row[] }>, local: Array<{ role: string, acting: boolean, term?: number, since?: number, winner?: string }> }

async function views (agents: AgentProcess[]): Promise<Array<View | undefined>> {
  return await Promise.all(agents.map(async a => { try { return await a.get<View>('/v1/roles') } catch { return undefined } }))
}

/** Holder per (region, role) when every live agent agrees and exactly the holder acts; else undefined. */
async function agreed (agents: AgentProcess[]): Promise<Map<string, Row> | undefined> {
  const live = agents.filter(a => a.exitCode === null)
  const vs = await views(live)
  if (vs.some(v => v === undefined)) return undefined
  const out = new Map<string, Row>()
  for (const region of REGIONS) {
    for (const role of ROLES) {
      const rows = vs.map(v => v!.regions.flatMap(r => r.roles).find(r => r.region === region && r.role === role))
      const h = rows[0]?.holder
      if (h === undefined || rows.some(r => r?.holder !== h || r.status !== 'active')) return undefined
      // A holder that is not the winner in some view of its region hands over once that view is still.
      if (live.some((a, i) => a.opts.region === region && vs[i]!.local.find(l => l.role === role)?.winner !== h)) return undefined
      const actors = live.filter((a, i) => a.opts.region === region && vs[i]!.local.find(l => l.role === role)?.acting === true)
      if (actors.length !== 1 || actors[0].peerId !== h) return undefined
      out.set(`${region}/${role}`, rows[0]!)
    }
  }
  return out
}

async function dhtOps (a: AgentProcess): Promise<Record<string, number>> {
  const text = await (await fetch(`http://${a.api}/metrics`)).text()
  const out: Record<string, number> = {}
  for (const line of text.split('\n')) {
    const m = /^mycel_election_dht_operations_total\{op="([a-z_]+)",result="([a-z_]+)"\} (\d+)/.exec(line)
    if (m !== null) out[m[1]] = (out[m[1]] ?? 0) + Number(m[3])
  }
  return out
}

async function main (): Promise<void> {
  const n = REGIONS.length * PER_REGION
  const cfg = electionTunables.defaults(PROFILE)
  const firstSpawn = Date.now()
  const boot = await AgentProcess.start({ profile: PROFILE, logLevel: 'warn', region: REGIONS[0] })
  const agents = [boot]
  try {
    for (let i = 1; i < n; i += 8) {
      const batch = await Promise.allSettled(Array.from({ length: Math.min(8, n - i) }, async (_, j) =>
        await AgentProcess.start({ profile: PROFILE, logLevel: 'warn', region: REGIONS[(i + j) % REGIONS.length], bootstrap: [boot.addr] })))
      for (const r of batch) if (r.status === 'fulfilled') agents.push(r.value)
      const failed = batch.find(r => r.status === 'rejected')
      if (failed !== undefined) throw (failed as PromiseRejectedResult).reason
    }
    const lastStarted = Date.now()
    await waitFor(async () => (await agreed(agents)) ?? false, 300_000, 'first holders everywhere', POLL_MS)
    const firstHolders = { sinceLastStartSeconds: round((Date.now() - lastStarted) / 1000), sinceFirstSpawnSeconds: round((Date.now() - firstSpawn) / 1000) }
    process.stdout.write(`first holders: ${firstHolders.sinceLastStartSeconds}s after the last agent started (${firstHolders.sinceFirstSpawnSeconds}s after the first spawn)\n`)

    // Steady state: DHT operations per node per second, RSS.
    await sleep(5_000)
    const before = await Promise.all(agents.map(dhtOps))
    await sleep(STEADY_SECONDS * 1000)
    const after = await Promise.all(agents.map(dhtOps))
    const ops = ['get', 'put']
    const perNode: Record<string, number> = {}
    for (const op of ops) perNode[op] = round(agents.reduce((s, _, i) => s + (after[i][op] ?? 0) - (before[i][op] ?? 0), 0) / agents.length / STEADY_SECONDS)
    const totalPerNode = round(Object.values(perNode).reduce((a, b) => a + b, 0))
    const rss = agents.map(a => procSample(a.child!.pid!).rssBytes)
    process.stdout.write(`steady state: ${totalPerNode} DHT ops/s per node ${JSON.stringify(perNode)}\n`)

    // Failover after SIGKILL, rotating over regions and roles.
    const failovers: Array<Record<string, unknown>> = []
    for (let k = 0; k < KILLS; k++) {
      const map = await waitFor(async () => (await agreed(agents)) ?? false, 180_000, 'convergence before a kill', POLL_MS) as Map<string, Row>
      const region = REGIONS[k % REGIONS.length]
      const role = ROLES[k % ROLES.length]
      const old = map.get(`${region}/${role}`)!
      const victim = agents.find(a => a.peerId === old.holder)!
      if (victim === boot) { process.stdout.write('skipping the bootstrap agent as victim\n'); continue }
      const killedAt = Date.now()
      await victim.kill('SIGKILL')
      const survivors = agents.filter(a => a.opts.region === region && a !== victim)
      const since = await waitFor(async () => {
        for (const v of await views(survivors)) {
          const l = v?.local.find(x => x.role === role)
          if (l?.acting === true && (l.term ?? 0) > (old.term ?? 0)) return l.since ?? Date.now()
        }
        return false
      }, 120_000, `successor for ${region}/${role}`, 100) as number
      const ms = since - killedAt
      failovers.push({ region, role, failoverMs: ms, oldTerm: old.term })
      process.stdout.write(`failover ${k + 1}/${KILLS} ${region}/${role}: ${ms} ms\n`)
      await victim.spawn()
    }
    const fo = failovers.map(f => f.failoverMs as number)
    await writeResult('roles-election', {
      profile: PROFILE,
      agents: n,
      regions: REGIONS.length,
      lease: { leaseMs: cfg.leaseMs, renewIntervalMs: cfg.renewIntervalMs, maxClockSkewMs: cfg.maxClockSkewMs, learnPeriodMs: cfg.learnPeriodMs },
      firstHolders,
      failover: { repeats: fo.length, medianMs: median(fo), p90Ms: percentile(fo, 90), minMs: Math.min(...fo), maxMs: Math.max(...fo), runs: failovers },
      steadyState: { windowSeconds: STEADY_SECONDS, dhtOpsPerNodePerSecond: perNode, totalDhtOpsPerNodePerSecond: totalPerNode },
      rssBytes: { median: median(rss), max: Math.max(...rss) }
    })
    process.stdout.write(`failover median ${median(fo)} ms over ${fo.length} kills (lease ${cfg.leaseMs} ms)\n`)
  } finally {
    await Promise.all(agents.map(async a => { await a.cleanup() }))
  }
}

main().then(() => process.exit(0), (err) => { process.stderr.write(`${(err as Error).stack ?? String(err)}\n`); process.exit(1) })
