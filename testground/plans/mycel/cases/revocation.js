'use strict'
/**
 * revocation (issue 15): an admin revokes one host, and every other node must cut it off: no connection
 * to it, the committed policy lists it revoked, its membership entry is `revoked`. Measures how long that
 * takes everywhere.
 *
 * Genesis through the sync service: instances seq 1..`validators` (seq on state "assigned") are the
 * validators; each runs `mycel init` before its agent starts and publishes its peer id on topic
 * "validator". Instance 1, also the only admin, writes the genesis (`mycel genesis create`, admission
 * open) and publishes its text on topic "genesis"; every instance writes it to its temp dir and starts its
 * agent with `--genesis FILE`. Then the usual join (lib/cluster.js): every agent sees all N alive.
 *
 * The victim is the last instance (seq N), never a validator. Once everyone is watching (barrier), instance
 * 1 runs `mycel admission revoke VICTIM` against its agent, reads the commit's certificate from
 * `GET /v1/critical/admission%2Frevoked%2FVICTIM` and publishes its block time on topic "revoked".
 * Every other instance polls its own agent (`GET /v1/admission`, then `GET /v1/members`) every
 * `watch_interval` until the victim is cut off there (lib/revocation-check.js `standing`); the victim polls
 * its connection count until it is 0. Within `revoke_timeout`, or the run fails.
 *
 * The clock starts at the revocation block's time (the proposer's clock when it proposed the block, the
 * certificate's `time`): the same anchor as the agents' own `mycel_admission_revocation_seconds`, so both
 * numbers mean "committed → cut off here", and every instance can read it (the victim too, through the
 * sync service). On the local runner all instances share one clock; on real hosts they agree as far as NTP
 * makes them. The revoke command's own time (CLI start → commit returned) is reported apart.
 *
 * Measures (results.json): observers `cut_ms` (block time → its API showed the victim cut off; carries
 * the poll interval) and, when this node had a connection to close, `close_ms` (its agent's histogram: block
 * time → it closed the connections); the victim `isolated_ms` (block time → no connection left); instance 1
 * also `revoke_command_ms` (CLI start → commit), `block_after_command_ms` and the run's summary over all
 * observers: `revocation_p50_ms`, `revocation_p95_ms`, `revocation_max_ms` (= cut off everywhere),
 * `close_p50_ms` / `_p95_ms` / `_max_ms`, `victim_isolated_ms`; and `revocation.json` with every report.
 * Afterwards every observer checks the victim is still cut off (its redials refused). The revoke comes
 * `settle` after the join, so it is measured on a network at rest rather than one still forming.
 */
const path = require('path')
const fsp = require('fs/promises')
const { joinCluster } = require('../lib/cluster')
const { genesisAgentArgs } = require('../lib/genesis')
const { runCli, request } = require('../lib/agent')
const { params, poll, collect, signalAndWait, writeResults, sleep } = require('../lib/util')
const { standing, firstIsolated, summarize, revocationMetric } = require('../lib/revocation-check')

const NETWORK_ID = 'tg-revocation'

module.exports = async function revocation (runenv, client) {
  const p = params(runenv)
  const n = runenv.testInstanceCount
  const validators = p.int('validators')
  const convergeTimeout = p.duration('converge_timeout')
  const revokeTimeout = p.duration('revoke_timeout')
  const watchMs = p.duration('watch_interval')
  const settleMs = p.duration('settle')
  if (validators < 1 || validators >= n) throw new Error(`validators = ${validators}: needs 1 ≤ validators < ${n} instances (the victim, the last instance, is not a validator)`)

  const { agent, seq, roster, metrics } = await joinCluster(runenv, client, {
    agentArgs: genesisAgentArgs(client, { networkId: NETWORK_ID, validators, timeoutMs: convergeTimeout })
  })
  const victimId = roster.find(r => r.seq === n).peerId
  const isVictim = seq === n
  const api = `127.0.0.1:${agent.apiPort}`
  const out = { ...metrics }
  const report = { seq, victim: isVictim }
  try {
    // A scenario knob, not a wait for an event: the revocation is measured on a network past its join
    // (first DHT refreshes, elections), which on 2 shared cores otherwise takes most of the CPU.
    await sleep(settleMs)
    await signalAndWait(client, 'watching', n, convergeTimeout)
    const commandAt = Date.now()
    const revoked = collect(client, 'revoked', 1, revokeTimeout + convergeTimeout).then(([m]) => m)
    revoked.catch(() => {}) // awaited below; an early failure elsewhere must not leave it unhandled
    const watched = isVictim ? watchVictim(agent, revoked, watchMs, revokeTimeout) : watchObserver(agent, victimId, watchMs, revokeTimeout)
    watched.catch(() => {}) // awaited below, after the revocation's block time is known
    if (seq === 1) {
      runenv.recordMessage(`revoking ${victimId}`)
      const r = JSON.parse(await runCli(['admission', 'revoke', victimId, '--reason', 'testground revocation case', '--api', api, '--json'], revokeTimeout))
      const committedAt = Date.now()
      const entry = await agent.get(`/v1/critical/${encodeURIComponent(`admission/revoked/${victimId}`)}`)
      const blockTime = Date.parse(entry.certificate.time)
      out.revoke_command_ms = committedAt - commandAt
      out.block_after_command_ms = blockTime - commandAt
      out.revoke_height = r.height
      await client.publish('revoked', { blockTime, commandAt, height: r.height })
      runenv.recordMessage(`revocation committed at height ${r.height}, block time ${entry.certificate.time}`)
    }
    const { blockTime } = await revoked
    const seen = await watched
    if (isVictim) {
      const at = firstIsolated(seen.samples, blockTime) // defined: watchVictim waits for it
      out.isolated_ms = report.isolatedMs = at - blockTime
      out.samples = seen.samples.length
    } else {
      out.cut_ms = report.cutMs = seen.at - blockTime
      // One observation per revocation; none when this node had no connection to the victim to close.
      const m = await closeSeconds(agent)
      if (m !== undefined && m.count === 1) out.close_ms = report.closeMs = Math.round(m.sum * 1000)
      out.polls = seen.polls
    }
    await client.publish('measured', report)
    await signalAndWait(client, 'measured', n, revokeTimeout)

    // Still cut off after everyone measured: the victim's redials meanwhile were refused, none admitted.
    if (!isVictim) {
      const view = await agent.get('/v1/admission')
      const s = standing(view, await agent.members(), victimId)
      if (!s.revoked || !s.listedRevoked) throw new Error(`the victim is no longer cut off here: ${JSON.stringify(s)}`)
      if (view.connected.some(c => c.peerId === victimId && c.verdict === 'admitted')) throw new Error('the revoked victim was admitted again')
    }
    if (seq === 1) {
      const reports = await collect(client, 'measured', n, convergeTimeout)
      if (runenv.testOutputsPath) await fsp.writeFile(path.join(runenv.testOutputsPath, 'revocation.json'), JSON.stringify({ victim: victimId, reports }, null, 1))
      Object.assign(out, summarize(reports.map(r => ({ ...r, metricMs: r.closeMs }))))
    }
    writeResults(runenv, out)
    await signalAndWait(client, 'done', n, convergeTimeout)
  } catch (err) {
    writeResults(runenv, out, { error: err.message })
    await agent.dumpDiagnostics(runenv.testOutputsPath)
    throw err
  } finally {
    await agent.stop()
  }
}

/**
 * The agent's revocation histogram, or undefined when /metrics does not answer in time: a supplement to
 * the polled measurement, not worth failing the run over on a starved host.
 */
async function closeSeconds (agent) {
  try {
    const r = await request(agent.apiPort, 'GET', '/metrics', undefined, 30000)
    return r.status === 200 && typeof r.body === 'string' ? revocationMetric(r.body) : undefined
  } catch (_) {
    return undefined
  }
}

/** Polls until the victim is cut off here; resolves with the wall time it was first seen so. */
async function watchObserver (agent, victim, intervalMs, timeoutMs) {
  let polls = 0
  let last
  try {
    return await poll(async () => {
      polls++
      const view = await agent.get('/v1/admission')
      last = standing(view, null, victim)
      // The member list only once the policy side holds: half the requests on a loaded host.
      if (!last.revoked || !last.disconnected) return undefined
      last = standing(view, await agent.members(), victim)
      return last.cutOff ? { at: Date.now(), polls } : undefined
    }, { timeoutMs, intervalMs, what: 'the victim to be cut off here' })
  } catch (err) {
    throw new Error(`${err.message}; last seen ${JSON.stringify(last)}`)
  }
}

/**
 * The victim's connection count every poll until it is 0 after the revocation's block time (known once
 * instance 1 published it; a gap in its connections before then is not the revocation); resolves with the
 * samples.
 */
async function watchVictim (agent, revoked, intervalMs, timeoutMs) {
  const samples = []
  let blockTime
  revoked.then(m => { blockTime = m.blockTime }, () => {})
  await poll(async () => {
    const view = await agent.get('/v1/admission')
    samples.push({ t: Date.now(), connected: view.connected.length })
    return blockTime !== undefined && firstIsolated(samples, blockTime) !== undefined ? true : undefined
  }, { timeoutMs, intervalMs, what: 'the victim to lose its last connection' })
  return { samples }
}
