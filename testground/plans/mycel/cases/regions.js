'use strict'
/**
 * regions (issue 19): the elected management roles across regions, with real agents. Each group of the
 * composition is a region (lib/cluster.js passes the group id as `--region`); every agent is eligible for
 * the five roles.
 *
 * 1. Agreement. After the join (every agent sees all N alive), the instances observe their own agent's
 *    `GET /v1/roles` in rounds: a barrier, everyone reads at once, publishes the trimmed view, and judges the
 *    round's N views (lib/regions-check.js `judgeRound`): for every (region, role) one active holder and term
 *    seen alike by every instance, a live member of that region, and among that region's members exactly
 *    that one acting (its `local` view). Rounds repeat every `round_interval` until one agrees, within
 *    `roles_timeout`; all instances judge the same messages, so they stop together.
 * 2. Resolution. Every instance resolves each other region's roles with `GET /v1/roles/:region/:role` (a DHT
 *    lookup, beside its gossiped copy) until the answer names the holder and term that region agreed on and
 *    has a DHT copy naming a member of it (`resolutionProblem`), within `resolve_timeout` each.
 * 3. Failover. The holder of `kill_role` in `kill_region` SIGKILLs its own agent once the survivors of its
 *    region watch (barrier "watching"), and publishes the kill time and its last activation times. The
 *    survivors poll their agent every `watch_interval` until they see a new active holder with a higher term
 *    for every role the victim held, within `failover_timeout`, and publish a digest (`watchDigest`). Then
 *    the N-1 live instances agree again in rounds, and each judges the failover (`judgeFailover`): every
 *    survivor saw the successor, it is a survivor with a higher term, it acted only after the victim's lease
 *    expired in its own view, and no two instances of the region acted at once (intervals from the survivors'
 *    observations, the victim's last activation up to its kill, and the final round, overlapping by more than
 *    `clock_tolerance`). The agreement rounds of step 1 are checked for overlapping acting the same way.
 *
 * Measures (results.json): `roles_converge_ms` (the join's end → the round that agreed; carries
 * `round_interval`), `roles_after_last_spawn_ms`, `roles_rounds`; `resolve_max_ms` / `resolve_total_ms` (this
 * instance's lookups of the other regions); on every live instance, the failover per role the victim held,
 * `failover_<role>_ms` (kill → the last survivor of the region saw the new holder) and `acting_<role>_ms`
 * (kill → the successor activated), `failover_max_ms`, and `reconverge_ms` (kill → everyone agreed again).
 * The lowest live instance also writes `regions.json` (the agreed holders before and after, the kill, the
 * digests). No network configuration is applied, so nothing in the case needs the sidecar.
 */
const path = require('path')
const fsp = require('fs/promises')
const { joinCluster } = require('../lib/cluster')
const { request } = require('../lib/agent')
const { params, poll, collect, signalAndWait, writeResults, sleep } = require('../lib/util')
const { ROLES, observation, judgeRound, actingIntervals, overlaps, resolutionProblem, watchDigest, judgeFailover } = require('../lib/regions-check')

module.exports = async function regions (runenv, client) {
  const p = params(runenv)
  const n = runenv.testInstanceCount
  const convergeTimeout = p.duration('converge_timeout')
  const rolesTimeout = p.duration('roles_timeout')
  const resolveTimeout = p.duration('resolve_timeout')
  const failoverTimeout = p.duration('failover_timeout')
  const watchMs = p.duration('watch_interval')
  const roundMs = p.duration('round_interval')
  const toleranceMs = p.duration('clock_tolerance')
  const killRegion = p.str('kill_region')
  const killRole = p.str('kill_role')

  const { agent, seq, roster, metrics } = await joinCluster(runenv, client)
  const joinedAt = Date.now()
  const me = { seq, peerId: agent.peerId, region: agent.o.region }
  const members = membersOf(roster)
  const out = { ...metrics }
  try {
    const regionNames = Object.keys(members)
    if (regionNames.length < 2) throw new Error(`regions: needs at least 2 groups (regions), got ${regionNames.join(', ')}`)
    if (!(members[killRegion]?.length >= 2)) throw new Error(`kill_region = ${killRegion}: needs a group of that id with at least 2 instances (groups: ${regionNames.join(', ')})`)
    const rounds = (phase, count, live, timeoutMs) => agreeInRounds({ runenv, client, agent, me, phase, count, members: live, timeoutMs, roundMs, stepTimeoutMs: convergeTimeout })

    // 1. One holder per (region, role), seen alike everywhere.
    const conv = await rounds('converge', n, members, rolesTimeout)
    out.roles_converge_ms = conv.at - joinedAt
    out.roles_after_last_spawn_ms = conv.at - Math.max(...roster.map(r => r.spawnedAt))
    out.roles_rounds = conv.rounds
    const early = overlaps(actingIntervals(conv.all), toleranceMs)
    if (early.length > 0) throw new Error(`two instances acted at once before the kill: ${early.join('; ')}`)
    runenv.recordMessage(`roles agreed after ${conv.rounds} round(s): ${JSON.stringify(conv.agreed)}`)

    // 2. Every other region's holders, through the DHT.
    const lookups = await resolveOthers(agent, me, members, conv.agreed, resolveTimeout, watchMs)
    out.resolve_max_ms = Math.max(...lookups.map(l => l.ms))
    out.resolve_total_ms = lookups.reduce((s, l) => s + l.ms, 0)
    out.resolve_attempts = lookups.reduce((s, l) => s + l.attempts, 0)
    await signalAndWait(client, 'resolved', n, convergeTimeout + resolveTimeout * 2 * ROLES.length)

    // 3. Kill the holder of kill_role in kill_region; the survivors of that region watch the failover.
    const victim = conv.agreed[`${killRegion}/${killRole}`].holder
    const held = {}
    for (const role of ROLES) if (conv.agreed[`${killRegion}/${role}`].holder === victim) held[role] = conv.agreed[`${killRegion}/${role}`].term
    const survivors = members[killRegion].filter(id => id !== victim)
    const watching = me.region === killRegion && me.peerId !== victim
    const watch = watching ? watchRoles(agent, me, watchMs) : undefined
    try {
      if (watch !== undefined) await poll(() => watch.observations.length > 0 ? true : undefined, { timeoutMs: convergeTimeout, intervalMs: watchMs, what: 'a first answer of GET /v1/roles' })
      await signalAndWait(client, 'watching', n, convergeTimeout)
      if (me.peerId === victim) {
        const last = await agent.get('/v1/roles')
        const since = {}
        for (const l of last.local) if (l.acting && typeof l.since === 'number') since[l.role] = l.since
        const killedAt = Date.now()
        await agent.kill()
        runenv.recordMessage(`killed own agent (holder of ${Object.keys(held).join(', ')} in ${killRegion})`)
        await client.publish('killed', { killedAt, since })
        writeResults(runenv, out, { killed: { region: killRegion, held, killedAt } })
        await signalAndWait(client, 'done', n, convergeTimeout + failoverTimeout + rolesTimeout)
        return
      }
      const [{ killedAt, since }] = await collect(client, 'killed', 1, convergeTimeout)
      const kill = { region: killRegion, victim, killedAt, held, since }
      if (watch !== undefined) {
        try {
          await poll(() => {
            const d = watchDigest(me, watch.observations, kill)
            return Object.values(d.seen).every(s => s.at !== undefined) ? true : undefined
          }, { timeoutMs: killedAt + failoverTimeout - Date.now(), intervalMs: watchMs, what: `a new holder of ${Object.keys(held).join(', ')} in ${killRegion}` })
        } finally {
          await watch.stop()
        }
        out.watch_errors = watch.errors
        await client.publish('failover-watch', watchDigest(me, watch.observations, kill))
      }
      const digests = await collect(client, 'failover-watch', survivors.length, failoverTimeout + convergeTimeout)
      const live = { ...members, [killRegion]: survivors }
      const after = await rounds('after-kill', n - 1, live, rolesTimeout)
      out.reconverge_ms = after.at - killedAt
      const verdict = judgeFailover(kill, digests, after, toleranceMs)
      Object.assign(out, verdict.metrics)
      if (seq === Math.min(...roster.filter(r => r.peerId !== victim).map(r => r.seq)) && runenv.testOutputsPath) {
        await fsp.writeFile(path.join(runenv.testOutputsPath, 'regions.json'), JSON.stringify({ members, before: conv.agreed, kill, digests, after: after.agreed, verdict }, null, 1))
      }
      if (verdict.problems.length > 0) throw new Error(`failover: ${verdict.problems.join('; ')}`)
      runenv.recordMessage(`failover of ${Object.keys(held).join(', ')} in ${killRegion}: ${JSON.stringify(verdict.metrics)}`)
    } finally {
      if (watch !== undefined) await watch.stop()
    }
    writeResults(runenv, out)
    await signalAndWait(client, 'done', n, convergeTimeout)
  } catch (err) {
    writeResults(runenv, out, { error: err.message })
    await saveRoles(agent, runenv.testOutputsPath)
    await agent.dumpDiagnostics(runenv.testOutputsPath)
    throw err
  } finally {
    await agent.stop()
  }
}

/** Region (group id) → the peer ids of its instances, from the join's roster. */
function membersOf (roster) {
  const out = {}
  for (const r of [...roster].sort((a, b) => a.seq - b.seq)) (out[r.group] = out[r.group] || []).push(r.peerId)
  return out
}

/**
 * Rounds of simultaneous observations until one agrees (`judgeRound`). Every participant judges the same
 * published views, and the deadline is read from them too (the latest observation time of round 1 plus
 * `timeoutMs`), so all participants stop or go on together. A failed read is published as such, not thrown.
 */
async function agreeInRounds ({ runenv, client, agent, me, phase, count, members, timeoutMs, roundMs, stepTimeoutMs }) {
  const all = []
  let deadline
  for (let k = 1; ; k++) {
    await signalAndWait(client, `${phase}-round-${k}`, count, stepTimeoutMs)
    const t = Date.now()
    let obs
    try {
      const view = await agent.get('/v1/roles')
      obs = observation(me, view, t, Date.now())
    } catch (err) {
      obs = { ...me, t, tr: Date.now(), rows: [], local: [], error: err.message }
    }
    await client.publish(`${phase}-view-${k}`, obs)
    const round = await collect(client, `${phase}-view-${k}`, count, stepTimeoutMs)
    all.push(...round)
    const at = Math.max(...round.map(o => o.tr ?? o.t))
    deadline = deadline ?? at + timeoutMs
    const verdict = judgeRound(round, members)
    if (verdict.problems.length === 0) return { agreed: verdict.agreed, observations: round, rounds: k, at, all }
    if (at > deadline) throw new Error(`${phase}: no agreement on the roles after ${k} rounds (${timeoutMs} ms): ${verdict.problems.slice(0, 6).join('; ')}`)
    if (k % 10 === 0) runenv.recordMessage(`${phase} round ${k}: ${verdict.problems.slice(0, 3).join('; ')}`)
    // The rounds' pace, not a wait for an event: the roles change on lease timers, a poll is what fits.
    await sleep(roundMs)
  }
}

/**
 * Resolves every role of every other region through this node's API (a DHT lookup each) until the answer
 * matches what that region agreed on. The DHT lookup can take the profile's DHT timeout, so each request
 * gets `timeoutMs`.
 */
async function resolveOthers (agent, me, members, agreed, timeoutMs, intervalMs) {
  const lookups = []
  for (const region of Object.keys(members).filter(r => r !== me.region)) {
    for (const role of ROLES) {
      const started = Date.now()
      let attempts = 0
      let last
      try {
        await poll(async () => {
          attempts++
          const r = await request(agent.apiPort, 'GET', `/v1/roles/${region}/${role}`, undefined, timeoutMs)
          if (r.status !== 200) { last = `HTTP ${r.status} ${JSON.stringify(r.body)}`; return undefined }
          last = resolutionProblem(r.body, agreed[`${region}/${role}`], members[region])
          return last === undefined ? true : undefined
        }, { timeoutMs, intervalMs, what: `${region}/${role} resolved` })
      } catch (err) {
        throw new Error(`${err.message}; last: ${last}`)
      }
      lookups.push({ region, role, ms: Date.now() - started, attempts })
    }
  }
  return lookups
}

/**
 * Polls this agent's roles every `intervalMs` in the background, keeping every answer. API errors are
 * counted: an unanswered poll is a gap, not a verdict.
 */
function watchRoles (agent, me, intervalMs) {
  const w = { observations: [], errors: 0 }
  let stopped = false
  const loop = (async () => {
    while (!stopped) {
      const t = Date.now()
      try {
        w.observations.push(observation(me, await agent.get('/v1/roles'), t, Date.now()))
      } catch (_) {
        w.errors++
      }
      await sleep(intervalMs)
    }
  })()
  w.stop = async () => { stopped = true; await loop }
  return w
}

/** This agent's roles view next to the other diagnostics (best effort). */
async function saveRoles (agent, dir) {
  if (!dir || !agent.running) return
  try {
    const r = await request(agent.apiPort, 'GET', '/v1/roles', undefined, 15000)
    await fsp.writeFile(path.join(dir, 'agent-roles.json'), JSON.stringify(r.body, null, 2))
  } catch (err) {
    await fsp.writeFile(path.join(dir, 'agent-roles.json'), `unavailable: ${err.message}\n`).catch(() => {})
  }
}
