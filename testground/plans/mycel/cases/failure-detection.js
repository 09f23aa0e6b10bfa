'use strict'
/**
 * failure-detection: after the join, the agents of the last kill_count instances die (kill_mode
 * "process": SIGKILL, so their TCP connections close; "network": the victim drops everything it
 * sends to its peers, a drop rule per peer address, as when a host vanishes). Every survivor must
 * mark every victim dead within detect_timeout, and must never mark a live instance dead (false
 * positive). Per-peer rules rather than `default.filter`, which testground's sidecar ignores; they
 * act the same under testground (blackhole routes) and here.
 * Measures: detect_ms_max / detect_ms_mean (victim's death → this survivor sees it dead),
 * suspect_ms_min (→ first seen suspect), false_dead, false_suspect (live peers this survivor saw
 * dead / suspect at any poll during the detection and observe window).
 */
const { joinCluster, watcher } = require('../lib/cluster')
const { barrier, collect, signalAndWait, writeResults, sleep, pollInterval } = require('../lib/util')

/** sdk-go's network.FilterAction Drop (the js sdk has no constants for it) */
const DROP = 2

module.exports = async function failureDetection (runenv, client) {
  const { agent, n, p, seq, netclient, metrics, roster } = await joinCluster(runenv, client)
  const k = p.int('kill_count')
  const mode = p.str('kill_mode')
  const detectTimeout = p.duration('detect_timeout')
  const observe = p.duration('observe')
  try {
    if (k < 1 || k > n - 2) throw new Error(`kill_count must be between 1 and ${n - 2} for ${n} instances`)
    if (mode === 'network' && !runenv.testSidecar) throw new Error('kill_mode=network needs a sidecar (network namespaces); run with namespaces or kill_mode=process')
    const victim = seq > n - k
    if (victim) {
      if (mode === 'process') {
        const killedAt = Date.now()
        await agent.kill()
        await client.publish('victims', { peerId: agent.peerId, killedAt })
      } else {
        const peers = roster.filter(r => r.seq !== seq)
        await netclient.configureNetwork({
          network: 'default', enable: true, default: {}, rules: peers.map(r => ({ subnet: `${r.ip}/32`, filter: DROP })),
          callbackState: `isolated-${seq}`, callbackTarget: 1, routingPolicy: 'allow_all'
        })
        await client.publish('victims', { peerId: agent.peerId, killedAt: Date.now() })
      }
      await client.signalEntry('victims-down')
      writeResults(runenv, { ...metrics, victim: 1 })
      await signalAndWait(client, 'done', n, detectTimeout + observe + 60000)
      return
    }

    await barrier(client, 'victims-down', k, 60000)
    const victims = await collect(client, 'victims', k, 10000)
    const victimIds = new Set(victims.map(v => v.peerId))
    const killedAt = new Map(victims.map(v => [v.peerId, v.killedAt]))
    const detected = new Map()
    const suspected = new Map()
    const falseDead = new Set()
    const falseSuspect = new Set()
    const interval = pollInterval(n)
    const deadline = Date.now() + detectTimeout
    let observeUntil = null
    const w = watcher(agent)
    for (;;) {
      const members = await w.members()
      const now = Date.now()
      for (const m of members || []) {
        if (victimIds.has(m.peerId)) {
          if (m.state === 'dead' && !detected.has(m.peerId)) detected.set(m.peerId, now)
          if ((m.state === 'suspect' || m.state === 'dead') && !suspected.has(m.peerId)) suspected.set(m.peerId, now)
        } else if (m.peerId !== agent.peerId) {
          if (m.state === 'dead') falseDead.add(m.peerId)
          if (m.state === 'suspect') falseSuspect.add(m.peerId)
        }
      }
      // Once every victim is dead, keep watching `observe` longer for false positives.
      if (detected.size === k && observeUntil === null) observeUntil = now + observe
      if (observeUntil !== null ? now >= observeUntil : now >= deadline) break
      await sleep(interval)
    }
    const times = [...detected].map(([id, at]) => at - killedAt.get(id))
    const suspectTimes = [...suspected].map(([id, at]) => at - killedAt.get(id))
    const out = {
      ...metrics,
      victim: 0,
      detected: detected.size,
      detect_ms_max: times.length ? Math.max(...times) : -1,
      detect_ms_mean: times.length ? Math.round(times.reduce((a, b) => a + b, 0) / times.length) : -1,
      suspect_ms_min: suspectTimes.length ? Math.min(...suspectTimes) : -1,
      false_dead: falseDead.size,
      false_suspect: falseSuspect.size,
      api_errors: w.apiErrors
    }
    writeResults(runenv, out)
    await signalAndWait(client, 'done', n, 60000)
    if (detected.size < k) throw new Error(`only ${detected.size}/${k} victims marked dead within ${detectTimeout} ms`)
    if (falseDead.size > 0) throw new Error(`false positives: ${falseDead.size} live members marked dead`)
  } finally {
    await agent.stop()
  }
}
