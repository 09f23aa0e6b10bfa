'use strict'
/**
 * The join every case starts with: network ready, one mycel agent per instance, bootstrap peers
 * published over the sync service, and a wait until this agent sees every instance alive.
 *
 * Bootstrap: the first `bootstrap_count` instances (by their seq on state "assigned") start first;
 * bootstrap peer i joins through peers 1..i-1, and publishes its address on topic "bootstrap".
 * Everyone else waits for all bootstrap addresses and joins through them, at most `start_window`
 * agents starting at a time.
 */
const path = require('path')
const { network } = require('@testground/sdk')
const { MycelAgent } = require('./agent')
const { params, poll, barrier, signalAndWait, collect, joinPollInterval, writeResults } = require('./util')

/** How many members (self included) this agent sees alive; /v1/status is cheaper than the member list. */
async function aliveCount (agent) {
  const status = await agent.get('/v1/status')
  if (status && status.members && typeof status.members.alive === 'number') return status.members.alive
  return (await aliveSet(agent)).size
}

/** Alive members (self included) as this agent sees them. */
async function aliveSet (agent) {
  const members = await agent.members()
  return new Set(members.filter(m => m.state === 'alive').map(m => m.peerId))
}

/**
 * @param {object} [opts]
 * @param {(seq: number, agent: MycelAgent) => Promise<string[]>} [opts.agentArgs] extra `mycel agent` flags,
 *   decided once this instance has its seq and before its agent starts (component-distribution: the trusted
 *   publisher id; revocation: the genesis, for which the validators run `agent.init()` here to learn their ids)
 * @returns {Promise<{agent: MycelAgent, seq: number, ip: string, netclient: object, p: object,
 *   n: number, bootstrapAddrs: string[], metrics: object, t: object}>}
 */
async function joinCluster (runenv, client, opts = {}) {
  const p = params(runenv)
  const n = runenv.testInstanceCount
  const convergeTimeout = p.duration('converge_timeout')
  const netclient = network.newClient(client, runenv)
  await netclient.waitNetworkInitialized()
  const ip = netclient.getDataNetworkIP()
  const seq = await client.signalEntry('assigned')
  const bootstrapCount = Math.max(1, Math.min(p.int('bootstrap_count'), n))

  const tmp = process.env.TEST_TEMP_PATH || require('os').tmpdir()
  const agent = new MycelAgent({
    dataDir: path.join(tmp, 'mycel'),
    listenIp: ip,
    // Each namespace has its own ports; on shared loopback (no sidecar) let the kernel pick.
    port: runenv.testSidecar ? 4100 : 0,
    profile: p.str('profile'),
    logLevel: p.str('agent_log_level'),
    region: runenv.testGroupId || 'default',
    logFile: path.join(runenv.testOutputsPath || tmp, 'agent.log'),
    extraArgs: []
  })
  if (opts.agentArgs) agent.o.extraArgs = await opts.agentArgs(seq, agent)
  let bootstrapAddrs
  if (seq <= bootstrapCount) {
    bootstrapAddrs = seq === 1 ? [] : (await collect(client, 'bootstrap', seq - 1, convergeTimeout)).map(m => m.addr)
  } else {
    bootstrapAddrs = (await collect(client, 'bootstrap', bootstrapCount, convergeTimeout)).map(m => m.addr)
  }
  // A rolling window of agent starts: instance `seq` starts once seq - window agents are up. Starting
  // an agent costs ~1 s of CPU; a hundred at once on a small machine starve the running ones.
  const window = p.int('start_window')
  // Waiting for the window is start-up, not convergence: allow ~5 s per agent ahead of us.
  if (window > 0 && seq > window) await barrier(client, 'agent-up', seq - window, Math.max(convergeTimeout, (seq - window) * 5000))
  // No `mycel init` first: the agent creates its identity on its first start and names it in
  // agent.json (start() reads it), which spares a CLI process (~0.25 s of CPU) per instance.
  // Cases whose agentArgs needed the id ran init already.
  const t = { spawn: Date.now() }
  await agent.start(bootstrapAddrs)
  t.started = Date.now()
  await client.signalEntry('agent-up')
  if (seq <= bootstrapCount) await client.publish('bootstrap', { seq, addr: agent.dialAddr() })
  await client.publish('started', { seq, peerId: agent.peerId, spawnedAt: t.spawn, ip, group: runenv.testGroupId })
  runenv.recordMessage(`agent ${agent.peerId} started at ${agent.dialAddr()} (seq ${seq}, ${bootstrapAddrs.length} bootstrap peers)`)

  const interval = joinPollInterval(n)
  let seen = 0
  try {
    await poll(async () => {
      seen = await aliveCount(agent)
      return seen >= n ? true : undefined
    }, { timeoutMs: convergeTimeout, intervalMs: interval, what: `all ${n} members alive` })
  } catch (err) {
    writeResults(runenv, { agent_start_ms: t.started - t.spawn, alive_seen: seen }, { error: err.message })
    await agent.dumpDiagnostics(runenv.testOutputsPath)
    await agent.stop()
    throw new Error(`${err.message}; this agent saw ${seen}/${n} alive`)
  }
  t.converged = Date.now()
  const roster = await collect(client, 'started', n, convergeTimeout)
  const lastSpawn = Math.max(...roster.map(r => r.spawnedAt))
  const metrics = {
    agent_start_ms: t.started - t.spawn,
    join_ms: t.converged - t.spawn,
    converged_after_last_spawn_ms: Math.max(0, t.converged - lastSpawn),
    poll_interval_ms: interval
  }
  await signalAndWait(client, 'converged', n, convergeTimeout)
  return { agent, seq, ip, netclient, p, n, bootstrapAddrs, metrics, t, roster }
}

/**
 * A members() for observation loops: a slow or failed API call is counted, not fatal, unless the
 * agent stays unresponsive for `maxSilentMs`. Returns null when this poll got no answer.
 */
function watcher (agent, maxSilentMs = 30000) {
  let lastOk = Date.now()
  const w = {
    apiErrors: 0,
    async members () {
      try {
        const m = await agent.members()
        lastOk = Date.now()
        return m
      } catch (err) {
        w.apiErrors++
        if (Date.now() - lastOk > maxSilentMs) throw new Error(`agent admin API unresponsive for ${maxSilentMs} ms: ${err.message}`)
        return null
      }
    }
  }
  return w
}

module.exports = { joinCluster, aliveSet, aliveCount, watcher }
