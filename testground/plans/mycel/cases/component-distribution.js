'use strict'
/**
 * component-distribution: how long one publisher needs to get an archive of `archive_mb` MB to every
 * other instance when each instance's uplink is capped at `bandwidth_mbit` (the sidecar's htb shaping,
 * testground's `network.Config` bandwidth; egress only, as in testground).
 *
 * Instance 1 (seq 1 on "assigned") is the publisher: before any agent starts it makes a publisher key
 * (`mycel publisher keygen`) and publishes the id on topic "publisher"; every agent starts with
 * `--publisher ID`. After the join it writes a component directory holding a random (incompressible)
 * payload of the given size and a manifest whose entry only sleeps.
 *
 * - mode "swarm": the publisher publishes the component through its agent (`mycel component publish`,
 *   before the clock starts) and deploys it as a system component (`PUT /v1/deployments/NAME`, what
 *   `mycel component deploy NAME@VERSION` sends; the API call, so the CLI's own start-up is not
 *   measured). Every other instance polls its agent's `GET /v1/components/local` until the component
 *   is installing, starting or running: its node then holds the whole verified archive.
 * - mode "single" (the anchor): the publisher serves the payload file over plain HTTP from this
 *   process; every other instance downloads it with fetch() and checks its sha256.
 *
 * The clock: the publisher's wall time just before the deploy (or, single, before it says "go"),
 * published on topic "go"; each receiver's time is its own wall time when it holds the archive minus
 * that. The local runner's instances share one clock; on real testground hosts' clocks agree only as
 * far as NTP makes them.
 *
 * Measures (results.json): every receiver `distribute_ms`; the publisher `all_hold_ms` (max over
 * receivers, the time until every instance has it), `p50_hold_ms`, `alone_ms` (size / bandwidth: one
 * receiver alone at the cap), `goal_ms` (3 × alone_ms), `single_source_bound_ms` ((N − 1) × size /
 * bandwidth: the publisher's uplink alone), `ratio_to_alone`; swarm: artifact bytes served and fetched
 * by each agent (its /metrics), `failed_attempts` (how often the host reported the install failed, to
 * try again after a pause). The run fails when a receiver does not hold it within `distribute_timeout`
 * or its download does not match.
 */
const path = require('path')
const { joinCluster } = require('../lib/cluster')
const { runCli } = require('../lib/agent')
const { params, poll, collect, signalAndWait, writeResults, pollInterval } = require('../lib/util')
const { PAYLOAD, makeComponentDir, localComponent, HOLDS_ARCHIVE, counter, serveFile, download, killLocal, removed } = require('../lib/component')

const NAME = 'tg-payload'
const VERSION = '1.0.0'
/** Where the single-source anchor serves (each instance has its own namespace, so a fixed port). */
const HTTP_PORT = 8080
/** Megabyte as the sizes and rates are given: 10^6 bytes, so size × 8 / Mbit/s reads directly. */
const MB = 1e6

module.exports = async function componentDistribution (runenv, client) {
  if (!runenv.testSidecar) throw new Error('component-distribution needs a sidecar: the per-instance bandwidth cap is the point of the case; it cannot run with --no-netns')
  const p = params(runenv)
  const mode = p.str('mode')
  const sizeBytes = Math.round(p.float('archive_mb') * MB)
  const bandwidthBits = p.float('bandwidth_mbit') * 1e6
  if (!(sizeBytes > 0) || !(bandwidthBits > 0)) throw new Error('archive_mb and bandwidth_mbit must be positive')
  const timeoutMs = p.duration('distribute_timeout')
  const convergeTimeout = p.duration('converge_timeout')
  const tmp = process.env.TEST_TEMP_PATH || require('os').tmpdir()
  const keyFile = path.join(tmp, 'publisher.key')

  const { agent, seq, n, ip, netclient, metrics } = await joinCluster(runenv, client, {
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
  const publisher = seq === 1
  const receivers = n - 1
  const api = `127.0.0.1:${agent.apiPort}`
  const interval = pollInterval(n)
  const out = { ...metrics }
  let server
  try {
    // Outside the clock: the publisher prepares and, in swarm mode, publishes (its agent stores the archive).
    if (publisher) {
      const dir = path.join(tmp, 'component')
      const sha256 = await makeComponentDir(dir, { name: NAME, version: VERSION, bytes: sizeBytes })
      let url
      if (mode === 'swarm') {
        const t = Date.now()
        await runCli(['component', 'publish', dir, '--key', keyFile, '--api', api, '--json'], timeoutMs)
        out.publish_ms = Date.now() - t
      } else {
        server = await serveFile(path.join(dir, PAYLOAD), ip, HTTP_PORT)
        url = `http://${ip}:${HTTP_PORT}/${PAYLOAD}`
      }
      await client.publish('release', { sha256, url })
    }
    // Every instance's uplink capped; configureNetwork waits until all N are shaped.
    await netclient.configureNetwork({
      network: 'default', enable: true, default: { bandwidth: bandwidthBits }, rules: [], routingPolicy: 'allow_all', callbackState: 'shaped'
    })
    const [release] = await collect(client, 'release', 1, convergeTimeout)
    await signalAndWait(client, 'ready', n, convergeTimeout)

    if (publisher) {
      const at = Date.now()
      if (mode === 'swarm') {
        const r = await agent.put(`/v1/deployments/${NAME}`, { version: VERSION })
        if (r.status !== 200) throw new Error(`deploy ${NAME}@${VERSION}: HTTP ${r.status} ${JSON.stringify(r.body)}`)
      }
      await client.publish('go', { at })
      if (mode === 'swarm') {
        await holds(agent, interval, timeoutMs)
        out.publisher_hold_ms = Date.now() - at
      }
      const fetched = await collect(client, 'fetched', receivers, timeoutMs + 60_000)
      const failed = fetched.filter(f => f.error !== undefined)
      if (failed.length > 0) throw new Error(`${failed.length} of ${receivers} receivers failed, e.g. seq ${failed[0].seq}: ${failed[0].error}`)
      const times = fetched.map(f => f.ms).sort((a, b) => a - b)
      const alone = sizeBytes * 8 / bandwidthBits * 1000
      Object.assign(out, {
        receivers,
        all_hold_ms: times[times.length - 1],
        p50_hold_ms: times[Math.ceil(times.length / 2) - 1],
        alone_ms: Math.round(alone),
        goal_ms: Math.round(3 * alone),
        single_source_bound_ms: Math.round(receivers * alone),
        ratio_to_alone: Number((times[times.length - 1] / alone).toFixed(2))
      })
      runenv.recordMessage(`${mode}: ${receivers} receivers hold ${sizeBytes} bytes after ${out.all_hold_ms} ms (p50 ${out.p50_hold_ms} ms); alone ${out.alone_ms} ms, goal ${out.goal_ms} ms, single-source bound ${out.single_source_bound_ms} ms`)
    } else {
      const [{ at }] = await collect(client, 'go', 1, convergeTimeout)
      try {
        if (mode === 'swarm') {
          out.failed_attempts = await holds(agent, interval, timeoutMs - (Date.now() - at))
        } else {
          const got = await download(release.url, timeoutMs)
          if (got.bytes !== sizeBytes || got.sha256 !== release.sha256) throw new Error(`download of ${release.url}: ${got.bytes} bytes, sha256 ${got.sha256}; expected ${sizeBytes}, ${release.sha256}`)
        }
      } catch (err) {
        await client.publish('fetched', { seq, error: err.message })
        throw err
      }
      out.distribute_ms = Date.now() - at
      await client.publish('fetched', { seq, ms: out.distribute_ms })
    }
    if (mode === 'swarm') {
      out.artifact_bytes_served = await counter(agent, 'mycel_artifact_bytes_served_total')
      out.artifact_bytes_fetched = await counter(agent, 'mycel_artifact_bytes_fetched_total')
    }
    // Nobody stops serving before everyone holds it.
    await signalAndWait(client, 'measured', n, timeoutMs + 60_000)
    if (mode === 'swarm') {
      if (publisher) await agent.del(`/v1/deployments/${NAME}`)
      out.leftover_killed = await removed(agent, NAME, interval)
    }
    writeResults(runenv, out)
    await signalAndWait(client, 'done', n, convergeTimeout)
  } catch (err) {
    writeResults(runenv, out, { error: err.message })
    await agent.dumpDiagnostics(runenv.testOutputsPath)
    // Components outlive their agent: a failed run must not leave this node's instance running.
    if (mode === 'swarm') await killLocal(agent, NAME)
    throw err
  } finally {
    if (server) server.close()
    await agent.stop()
  }
}

/** Until this agent holds the archive (the component is installing, starting or running). */
async function holds (agent, intervalMs, timeoutMs) {
  let last = 'not asked yet'
  let failures = 0
  let prev
  try {
    await poll(async () => {
      const c = await localComponent(agent, NAME)
      if (c && c.state === 'failed' && prev !== 'failed') failures++
      prev = c && c.state
      // `failed` is not final: the host tries a failed install again after a pause (e.g. the release or a
      // provider had not reached this node yet). The distribute_timeout decides.
      last = c ? `${c.state}${c.reason ? ` (${c.reason})` : ''}` : 'absent'
      return c && HOLDS_ARCHIVE.has(c.state) ? true : undefined
    }, { timeoutMs: Math.max(1000, timeoutMs), intervalMs, what: `${NAME} installing or running here` })
  } catch (err) {
    throw new Error(`${err.message}; last state here: ${last}`)
  }
  return failures
}
