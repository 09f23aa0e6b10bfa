'use strict'
/**
 * rollout (issue 14): a component rolled from v1 to v2 across every instance in health-gated waves, then
 * to a v3 whose health check fails, which the update manager must roll back on its own.
 *
 * Instance 1 (seq 1 on "assigned") is the publisher and the operator: before any agent starts it makes a
 * publisher key and publishes its id on topic "publisher"; every agent starts with `--publisher ID`.
 * After the join it publishes `tg-web` 1.0.0, 2.0.0 and 3.0.0 (3.0.0's health check exits 1) and
 * deploys 1.0.0 as a system component. Once every instance runs 1.0.0 with health passing, each one
 * samples its own agent's `GET /v1/components/local` every poll interval and records every change of
 * (version, state, health) with its wall time. Instance 1 then runs `mycel rollout start tg-web@2.0.0`
 * with the case's knobs and waits for `succeeded`, then the same for 3.0.0 and waits for `rolled-back`
 * (the rollout is started on the node that published: the start probes the archive's reachability).
 *
 * At the end every instance publishes its timeline and instance 1 checks, failing the run otherwise:
 * - v2 succeeded, and every instance's versions during it were exactly [1.0.0, 2.0.0] (switched once);
 * - v3 is `rolled-back`, and every instance ends on 2.0.0, running and passing (none stays on 3.0.0);
 * - at every sample of any instance, the number of instances not running-and-passing (each one's latest
 *   sample at that moment) never exceeded the rollout's max-unavailable (its `--max-unavailable`, else
 *   its wave size).
 * The instances' clocks are compared directly: the local runner's instances share one; on real
 * testground hosts they agree only as far as NTP makes them.
 *
 * Measures (results.json of instance 1): `v2_rollout_ms` (the record's creation until the last wave's gate
 * passed), `v2_observed_ms` (the start command until `succeeded` was read, polling), `v2_waves`,
 * `max_unavailable`, `max_down_seen`, `v3_touched` (instances that ran 3.0.0), `v3_gate_to_stable_ms` (v3's
 * failed gate until the last touched instance runs 2.0.0 with health passing again, from the timelines),
 * `v3_gate_ms` (the v3 record's creation until its gate failed). Every instance: `v2_switch_ms` (the v2
 * start until it runs 2.0.0 passing), `samples`, `sample_errors` (API calls that got no answer).
 * Instance 1 also writes `timelines.json` (every timeline and both rollouts' final views) into its outputs.
 */
const path = require('path')
const fsp = require('fs/promises')
const { joinCluster } = require('../lib/cluster')
const { runCli } = require('../lib/agent')
const { Fatal, params, poll, collect, signalAndWait, writeResults, pollInterval, sleep } = require('../lib/util')
const { localComponent, killLocal, removed } = require('../lib/component')
const { checkTimelines, maxDown, firstStable } = require('../lib/rollout-check')

const NAME = 'tg-web'
const V1 = '1.0.0'
const V2 = '2.0.0'
const V3 = '3.0.0'

module.exports = async function rollout (runenv, client) {
  const p = params(runenv)
  const convergeTimeout = p.duration('converge_timeout')
  const rolloutTimeout = p.duration('rollout_timeout')
  const tmp = process.env.TEST_TEMP_PATH || require('os').tmpdir()
  const keyFile = path.join(tmp, 'publisher.key')

  const { agent, seq, n, metrics } = await joinCluster(runenv, client, {
    agentArgs: async (mySeq) => {
      let publisherId
      if (mySeq === 1) {
        publisherId = JSON.parse(await runCli(['publisher', 'keygen', '--out', keyFile, '--json'])).publisherId
        await client.publish('publisher', { publisherId })
      } else {
        publisherId = (await collect(client, 'publisher', 1, convergeTimeout))[0].publisherId
      }
      return ['--publisher', publisherId]
    }
  })
  const operator = seq === 1
  const api = `127.0.0.1:${agent.apiPort}`
  const interval = pollInterval(n)
  const out = { ...metrics }
  const sampler = new Sampler(agent, interval)
  try {
    if (operator) {
      const dir = path.join(tmp, 'component')
      await fsp.mkdir(dir, { recursive: true })
      await fsp.writeFile(path.join(dir, 'run.sh'), 'exec sleep 3600\n')
      for (const [version, check] of [[V1, 'exit 0'], [V2, 'exit 0'], [V3, 'exit 1']]) {
        await writeRelease(dir, version, check)
        await runCli(['component', 'publish', dir, '--key', keyFile, '--api', api, '--json'], convergeTimeout)
      }
      const r = await agent.put(`/v1/deployments/${NAME}`, { version: V1 })
      if (r.status !== 200) throw new Error(`deploy ${NAME}@${V1}: HTTP ${r.status} ${JSON.stringify(r.body)}`)
    }
    await runs(agent, V1, interval, rolloutTimeout)
    await signalAndWait(client, 'v1-running', n, rolloutTimeout)
    sampler.start()

    // v1 → v2: every instance notes when it runs v2 passing; the operator drives and reads the record.
    let v2
    const v2Start = Date.now()
    if (operator) v2 = await roll(agent, api, V2, 'succeeded', p, rolloutTimeout)
    await runs(agent, V2, interval, rolloutTimeout)
    out.v2_switch_ms = Date.now() - v2Start
    await signalAndWait(client, 'v2-running', n, rolloutTimeout)

    // v2 → v3, whose health check fails: rolled back by the update manager, nobody stays on it.
    let v3
    const v3Start = Date.now()
    if (operator) {
      v3 = await roll(agent, api, V3, 'rolled-back', p, rolloutTimeout)
      await client.publish('v3-closed', { state: v3.view.state })
    }
    await collect(client, 'v3-closed', 1, rolloutTimeout)
    await runs(agent, V2, interval, rolloutTimeout)
    await sampler.stop()
    out.samples = sampler.samples
    out.sample_errors = sampler.errors
    await client.publish('timeline', { seq, v2Start, v3Start, changes: sampler.changes })

    let verdict
    if (operator) {
      const timelines = await collect(client, 'timeline', n, convergeTimeout)
      // For a post-mortem of a failed check: what every instance saw, and both rollouts' final records.
      if (runenv.testOutputsPath) await fsp.writeFile(path.join(runenv.testOutputsPath, 'timelines.json'), JSON.stringify({ v2: v2.view, v3: v3.view, timelines }, null, 1))
      try {
        Object.assign(out, judge(runenv, timelines, v2, v3))
      } catch (err) {
        verdict = err // thrown at the end: a failed check must not leave the others waiting, or components running
      }
    }
    // Nothing is undeployed before every timeline is in.
    await signalAndWait(client, 'judged', n, convergeTimeout)
    if (operator) await agent.del(`/v1/deployments/${NAME}`)
    out.leftover_killed = await removed(agent, NAME, interval)
    writeResults(runenv, out)
    await signalAndWait(client, 'done', n, convergeTimeout)
    if (verdict) throw verdict
  } catch (err) {
    await sampler.stop()
    writeResults(runenv, out, { error: err.message })
    await agent.dumpDiagnostics(runenv.testOutputsPath)
    await killLocal(agent, NAME)
    throw err
  } finally {
    await agent.stop()
  }
}

/** The component's manifest for `version`; its health check runs `check` (exit 0: passing). */
async function writeRelease (dir, version, check) {
  await fsp.writeFile(path.join(dir, 'check.sh'), `${check}\n`)
  await fsp.writeFile(path.join(dir, 'mycel.component.yaml'), [
    `name: ${NAME}`,
    `version: "${version}"`,
    'entry: ["/bin/sh", "run.sh"]',
    'health:',
    '  exec: ["/bin/sh", "check.sh"]',
    '  interval: 1s',
    // Three failures in a row: on a loaded host one check can time out; 3.0.0's fails every time.
    '  timeout: 1s',
    '  failureThreshold: 3',
    ''
  ].join('\n'))
}

/**
 * Starts a rollout to `version` with the case's knobs through the CLI (it prints the id), then reads its
 * record until it reaches `want`; any other closed state fails the run. Returns the id, the final view
 * and how long the wait took from just before the start.
 */
async function roll (agent, api, version, want, p, timeoutMs) {
  const args = ['rollout', 'start', `${NAME}@${version}`, '--api', api,
    '--canary', String(p.int('canary')),
    '--max-parallel', p.str('max_parallel'),
    '--min-healthy-time', p.str('min_healthy_time'),
    '--healthy-deadline', p.str('healthy_deadline'),
    '--progress-deadline', p.str('progress_deadline')]
  if (p.int('max_unavailable') > 0) args.push('--max-unavailable', String(p.int('max_unavailable')))
  const t0 = Date.now()
  const id = (await runCli(args, timeoutMs)).trim()
  let view
  try {
    await poll(async () => {
      view = await agent.get(`/v1/rollouts/${encodeURIComponent(id)}`)
      if (view.state === want) return true
      // A rollout in another closed state does not get better by waiting.
      if (view.state !== 'running') throw new Fatal(`rollout ${id} to ${version} is ${view.state}, expected ${want}: ${JSON.stringify(view.failure || {})}`)
      return undefined
    }, { timeoutMs, intervalMs: 250, what: `rollout ${id} ${want}` })
  } catch (err) {
    // What the record said last is what a post-mortem needs (the outputs may be gone by then).
    const { nodes, ...rest } = view || {}
    err.message = `${err.message}; last read: ${JSON.stringify(rest).slice(0, 1500)}`
    throw err
  }
  return { id, view, observedMs: Date.now() - t0 }
}

/** Until this instance runs `version`, state running, health passing. */
async function runs (agent, version, intervalMs, timeoutMs) {
  let last = 'not asked yet'
  try {
    await poll(async () => {
      const c = await localComponent(agent, NAME)
      last = c ? `${c.version} ${c.state} ${c.health}${c.reason ? ` (${c.reason})` : ''}` : 'absent'
      return c && c.version === version && c.state === 'running' && c.health === 'passing' ? true : undefined
    }, { timeoutMs, intervalMs, what: `${NAME}@${version} running and passing here` })
  } catch (err) {
    throw new Error(`${err.message}; last seen here: ${last}`)
  }
}

/** This instance's own component over time: one entry per change of (version, state, health). */
class Sampler {
  constructor (agent, intervalMs) {
    this.agent = agent
    this.intervalMs = intervalMs
    this.changes = []
    this.samples = 0
    this.errors = 0
    this.stopped = false
    this.loop = null
  }

  start () {
    this.loop = (async () => {
      while (!this.stopped) {
        await this.sample()
        await sleep(this.intervalMs)
      }
    })()
  }

  async sample () {
    try {
      const c = await localComponent(this.agent, NAME)
      const s = c ? { version: c.version, state: c.state, health: c.health } : { version: null, state: 'absent', health: 'unknown' }
      const last = this.changes[this.changes.length - 1]
      if (!last || last.version !== s.version || last.state !== s.state || last.health !== s.health) this.changes.push({ t: Date.now(), ...s })
      this.samples++
    } catch (_) {
      this.errors++ // a slow API call is one missed sample; the timeline keeps the last known state
    }
  }

  /** Ends the loop with one last sample: the caller has just seen a state the timeline must end on. */
  async stop () {
    if (this.stopped) return
    this.stopped = true
    if (!this.loop) return
    await this.loop
    await this.sample()
  }
}

/** Instance 1: the checks over every timeline and the run's numbers; throws when a check fails. */
function judge (runenv, timelines, v2, v3) {
  const waves2 = v2.view.waves
  const maxUnavailable = v2.view.knobs.maxUnavailable ?? Math.max(...waves2.slice(v2.view.knobs.canary > 0 ? 1 : 0).map(w => w.nodes.length))
  const v3Start = Math.min(...timelines.map(t => t.v3Start))
  const problems = checkTimelines(timelines, { v1: V1, v2: V2, v3: V3, v3Start, maxUnavailable })
  const down = maxDown(timelines.map(t => t.changes))
  const touched = timelines.filter(t => t.changes.some(c => c.t >= v3Start && c.version === V3))
  const gateAt = v3.view.failure ? v3.view.failure.at : undefined
  const backAt = touched.map(t => firstStable(t.changes, V2, v3Start, V3))
  const lastRegion2 = v2.view.regions[v2.view.regions.length - 1]
  const m = {
    v2_rollout_ms: lastRegion2 && lastRegion2.passedAt ? lastRegion2.passedAt - v2.view.createdAt : -1,
    v2_observed_ms: v2.observedMs,
    v2_waves: waves2.length,
    max_unavailable: maxUnavailable,
    max_down_seen: down.max,
    v3_observed_ms: v3.observedMs,
    v3_touched: touched.length,
    v3_gate_ms: gateAt !== undefined ? gateAt - v3.view.createdAt : -1,
    v3_gate_to_stable_ms: gateAt !== undefined && backAt.length > 0 && backAt.every(b => b !== undefined) ? Math.max(...backAt) - gateAt : -1
  }
  runenv.recordMessage(`rollout ${v2.id}: ${m.v2_waves} waves in ${m.v2_rollout_ms} ms; ${v3.id}: gate failed (${v3.view.failure && v3.view.failure.reason}) after ${m.v3_gate_ms} ms, ${m.v3_touched} touched back on ${V2} ${m.v3_gate_to_stable_ms} ms later; at most ${m.max_down_seen} down of ${maxUnavailable} allowed`)
  if (v3.view.failure === undefined) problems.push(`rollout ${v3.id} is ${v3.view.state} with no failure recorded`)
  if (touched.length === 0) problems.push(`no instance ran ${V3}: the bad version was never tried`)
  if (problems.length > 0) throw new Error(`rollout checks failed: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? ` (+${problems.length - 5} more)` : ''}`)
  return m
}
