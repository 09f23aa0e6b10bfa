'use strict'
/**
 * churn: after the join, a fraction of the non-bootstrap instances repeatedly stop their agent
 * gracefully (leave) and start it again with the same identity, for churn_duration. Stable instances
 * watch: a stable member must never be marked dead. Afterwards every agent must see all N alive again
 * within converge_timeout.
 * Measures: cycles and rejoin_ms_mean (churners), false_dead_stable (stable members seen dead),
 * final_converge_ms (end of churn → all N alive).
 */
const { joinCluster, aliveSet, watcher } = require('../lib/cluster')
const { collect, poll, signalAndWait, writeResults, sleep, rand, pollInterval } = require('../lib/util')

module.exports = async function churn (runenv, client) {
  const { agent, n, p, seq, bootstrapAddrs, metrics } = await joinCluster(runenv, client)
  const convergeTimeout = p.duration('converge_timeout')
  const duration = p.duration('churn_duration')
  const bootstrapCount = Math.max(1, Math.min(p.int('bootstrap_count'), n))
  const churners = Math.round(p.float('churn_fraction') * (n - bootstrapCount))
  const isChurner = seq > n - churners
  const out = { ...metrics, churner: isChurner ? 1 : 0 }
  try {
    const roster = await collect(client, 'started', n, 10000)
    const stable = new Set(roster.filter(r => r.seq <= n - churners).map(r => r.peerId))
    // Rejoin through every bootstrap peer (the first one started with none).
    const all = (await collect(client, 'bootstrap', bootstrapCount, 10000)).map(m => m.addr)
    const rejoinVia = all.length > 0 ? all : bootstrapAddrs
    const end = Date.now() + duration
    if (isChurner) {
      let cycles = 0
      const rejoins = []
      while (Date.now() < end) {
        await sleep(rand(p.duration('up_min'), p.duration('up_max')))
        if (Date.now() >= end) break
        await agent.stop()
        await sleep(rand(p.duration('down_min'), p.duration('down_max')))
        const t0 = Date.now()
        await agent.start(rejoinVia)
        await poll(async () => ((await agent.get('/readyz').catch(() => null)) ? true : undefined),
          { timeoutMs: convergeTimeout, intervalMs: 200, what: 'agent ready after rejoin' })
        rejoins.push(Date.now() - t0)
        cycles++
      }
      out.cycles = cycles
      out.rejoin_ms_mean = rejoins.length ? Math.round(rejoins.reduce((a, b) => a + b, 0) / rejoins.length) : 0
    } else {
      const falseDead = new Set()
      const w = watcher(agent)
      while (Date.now() < end) {
        for (const m of (await w.members()) || []) {
          if (stable.has(m.peerId) && m.state === 'dead') falseDead.add(m.peerId)
        }
        await sleep(1000)
      }
      out.false_dead_stable = falseDead.size
      out.api_errors = w.apiErrors
    }
    await signalAndWait(client, 'churn-over', n, convergeTimeout)
    const t0 = Date.now()
    await poll(async () => ((await aliveSet(agent)).size >= n ? true : undefined),
      { timeoutMs: convergeTimeout, intervalMs: pollInterval(n), what: `all ${n} members alive after churn` })
    out.final_converge_ms = Date.now() - t0
    writeResults(runenv, out)
    await signalAndWait(client, 'done', n, convergeTimeout)
    if (out.false_dead_stable > 0) throw new Error(`${out.false_dead_stable} stable members were marked dead during churn`)
  } catch (err) {
    writeResults(runenv, out, { error: err.message })
    throw err
  } finally {
    await agent.stop()
  }
}
