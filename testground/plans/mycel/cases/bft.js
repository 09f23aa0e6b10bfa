'use strict'
/**
 * bft (issue 19): critical config commits through BFT under partitions of validators. With n validators and
 * quorum ⌊2n/3⌋+1 (4 validators: quorum 3), commits must go on with n − quorum validators partitioned away
 * (one of 4), stop with one more (two of 4: liveness lost, safety kept: no block at a new height anywhere),
 * and resume after healing; at the end every node, validator or follower, holds the same certified chain.
 *
 * Genesis as in the revocation case: instances seq 1..`validators` are the validators (ids over topic
 * "validator"), instance 1 also the only admin, which writes the genesis and publishes it on topic "genesis".
 * Every other instance is a follower. Partitions are per-peer `drop` rules through the sdk (each side drops
 * the other's /32; a partitioned validator drops everyone), healed with `accept` rules for exactly the
 * addresses dropped: testground's sidecar adds a blackhole route per `drop` and removes it per `accept`, and
 * an empty rule list changes nothing. The partitioned validators are the last ones (lib/bft-check.js
 * partitionPlan); instance 1 proposes every write (`POST /v1/critical`, as `mycel critical propose` does),
 * each to its own key `tg-bft/<phase>/<i>`, one after another, so every height carries one key and every
 * certificate can be read back through `GET /v1/critical/:key`.
 *
 * Phases: A all up, `writes` writes, then every node reaches that height; B the tolerated validators
 * partitioned away, `writes` writes (each must commit; the isolated ones must stay at A's height, and no
 * certificate of B may carry their precommit); healed, every node catches up; C one validator more
 * partitioned away: instance 1 proposes one write with a deadline beyond the window, and for `stall_window`
 * every node polls its height every `watch_interval` (none may pass B's height; the write may not return);
 * healed: the pending write must commit within `resume_timeout`, then `writes` more. Finally every node reads
 * its whole chain from its API, replays the certificates through mycel's CriticalState (lib/bft-verify.js),
 * and checks all nodes' chains against each other (lib/bft-check.js chainProblems): same height, same block
 * hash at every height, linked from the genesis, every certificate verified.
 *
 * Measures (results.json): instance 1 `commit_p50_ms` / `_p99_ms` / `_max_ms` (POST → committed reply, all
 * validators up: phases A and D), `one_down_commit_p50_ms` / `_p99_ms` / `_max_ms` (phase B),
 * `resume_ms` (heal → the pending write committed), `stall_window_ms`, `final_height`; every node
 * `visible_a_ms` (A's last commit → that height here), `catchup_b_ms` (heal of B → B's height here),
 * `window_max_height`, `resume_seen_ms` (heal of C → a new height here), `heal_b_apply_ms` / `heal_c_apply_ms`
 * (heal request → every instance's accept rules applied, which the times from a heal include); instance 1 writes
 * `bft.json` with every node's report.
 */
const path = require('path')
const fsp = require('fs/promises')
const { joinCluster } = require('../lib/cluster')
const { genesisAgentArgs, genesisPath } = require('../lib/genesis')
const { request } = require('../lib/agent')
const { params, poll, collect, signalAndWait, writeResults, sleep } = require('../lib/util')
const { nodeChain, chainProblems, windowProblems, latencySummary, partitionPlan } = require('../lib/bft-check')
const { verifyChain } = require('../lib/bft-verify')

const NETWORK_ID = 'tg-bft'
// sdk network filters (testground network.FilterAction): Accept removes a rule's routes, Drop blackholes.
const ACCEPT = 0
const DROP = 2

module.exports = async function bft (runenv, client) {
  if (!runenv.testSidecar) throw new Error('bft needs a sidecar (network namespaces) to partition validators; it cannot run with --no-netns')
  const p = params(runenv)
  const n = runenv.testInstanceCount
  const validators = p.int('validators')
  const plan = partitionPlan(validators)
  if (validators >= n) throw new Error(`validators = ${validators}: needs at least one follower, so fewer than the ${n} instances`)
  const writes = p.int('writes')
  if (writes < 1) throw new Error(`writes = ${writes}: needs at least 1`)
  const convergeTimeout = p.duration('converge_timeout')
  const commitTimeout = p.duration('commit_timeout')
  const stallWindow = p.duration('stall_window')
  const resumeTimeout = p.duration('resume_timeout')
  const watchMs = p.duration('watch_interval')
  const settleMs = p.duration('settle')

  const { agent, seq, roster, netclient, metrics } = await joinCluster(runenv, client, {
    agentArgs: genesisAgentArgs(client, { networkId: NETWORK_ID, validators, timeoutMs: convergeTimeout })
  })
  const bySeq = new Map(roster.map(r => [r.seq, r]))
  const out = { ...metrics }
  const height = async () => (await agent.get('/v1/critical')).height
  const reachHeight = (h, timeoutMs, what) => poll(async () => ((await height()) >= h ? Date.now() : undefined), { timeoutMs, intervalMs: watchMs, what })
  // Each instance shapes its own egress: a partitioned validator drops every other instance, the rest drop it.
  const cutSet = (isolatedSeqs) => isolatedSeqs.includes(seq)
    ? roster.filter(r => r.seq !== seq).map(r => r.ip)
    : isolatedSeqs.map(s => bySeq.get(s).ip)
  const setRules = (ips, filter, state) => netclient.configureNetwork({
    network: 'default', enable: true, default: {}, routingPolicy: 'allow_all', callbackState: state,
    rules: ips.map(ip => ({ subnet: `${ip}/32`, filter }))
  })
  const write = async (key, timeoutMs) => {
    const t0 = Date.now()
    const r = await request(agent.apiPort, 'POST', '/v1/critical', { key, value: `written at ${new Date(t0).toISOString()}`, timeoutMs }, timeoutMs + 30000)
    if (r.status !== 200) throw new Error(`POST /v1/critical ${key}: HTTP ${r.status} ${JSON.stringify(r.body)}`)
    return { ms: Date.now() - t0, height: r.body.height }
  }
  const writePhase = async (phase) => {
    const ms = []
    let h
    for (let i = 1; i <= writes; i++) {
      const w = await write(`tg-bft/${phase}/${String(i).padStart(3, '0')}`, commitTimeout)
      ms.push(w.ms)
      h = w.height
    }
    return { ms, height: h }
  }

  try {
    // A scenario knob, not a wait for an event: the commits are measured on a network past its join.
    await sleep(settleMs)
    await signalAndWait(client, 'ready', n, convergeTimeout)
    const phaseTimeout = writes * (commitTimeout + 30000) + convergeTimeout
    const allUpMs = []

    // A: all up.
    if (seq === 1) {
      const a = await writePhase('all-up')
      allUpMs.push(...a.ms)
      await client.publish('phase-a', { height: a.height, at: Date.now() })
      runenv.recordMessage(`phase A: ${writes} commits with all validators up, height ${a.height}`)
    }
    const a = (await collect(client, 'phase-a', 1, phaseTimeout))[0]
    out.visible_a_ms = (await reachHeight(a.height, convergeTimeout, `height ${a.height} (phase A)`)) - a.at
    await signalAndWait(client, 'seen-a', n, convergeTimeout)

    // B: the tolerated validators partitioned away; commits go on.
    const cutB = cutSet(plan.withQuorum)
    await setRules(cutB, DROP, 'partitioned-b')
    if (seq === 1) {
      const b = await writePhase('one-down')
      Object.assign(out, prefixed('one_down_commit', latencySummary(b.ms)))
      await client.publish('phase-b', { height: b.height })
      runenv.recordMessage(`phase B: ${writes} commits with validator(s) ${plan.withQuorum.join(', ')} partitioned away, height ${b.height}`)
    }
    const b = (await collect(client, 'phase-b', 1, phaseTimeout))[0]
    if (plan.withQuorum.includes(seq)) {
      const h = await height()
      if (h !== a.height) throw new Error(`partitioned validator at height ${h} after phase B, expected ${a.height}: the partition leaked`)
    }
    await signalAndWait(client, 'done-b', n, convergeTimeout)
    const healB = Date.now()
    await setRules(cutB, ACCEPT, 'healed-b')
    out.heal_b_apply_ms = Date.now() - healB // the sdk returns once every instance's rules are applied
    out.catchup_b_ms = (await reachHeight(b.height, convergeTimeout, `height ${b.height} after healing phase B`)) - healB
    await signalAndWait(client, 'seen-b', n, convergeTimeout)

    // C: one validator more partitioned away: no quorum, so no commit anywhere for the window.
    const cutC = cutSet(plan.withoutQuorum)
    await setRules(cutC, DROP, 'partitioned-c')
    const windowStart = Date.now()
    let pending
    if (seq === 1) {
      pending = write('tg-bft/stalled', stallWindow + resumeTimeout).then(w => ({ ...w, at: Date.now() }))
      pending.catch(() => {}) // awaited after the heal
      runenv.recordMessage(`phase C: validators ${plan.withoutQuorum.join(', ')} partitioned away, one write pending for ${stallWindow} ms`)
    }
    let windowMax
    let windowErrors = 0
    while (Date.now() - windowStart < stallWindow) {
      try {
        const h = await height()
        windowMax = windowMax === undefined ? h : Math.max(windowMax, h)
      } catch (_) {
        windowErrors++ // a slow answer on a loaded host; the window is judged on the answers that came
      }
      await sleep(Math.min(watchMs, Math.max(0, stallWindow - (Date.now() - windowStart))))
    }
    out.window_max_height = windowMax
    out.window_api_errors = windowErrors
    await client.publish('window', { seq, windowMaxHeight: windowMax })
    const windowReports = await collect(client, 'window', n, convergeTimeout)
    const stalledEarly = seq === 1 ? await settledYet(pending) : undefined
    const wp = windowProblems(windowReports, b.height)
    if (stalledEarly !== undefined) wp.push(`the write proposed without a quorum ${stalledEarly.ok ? `committed at height ${stalledEarly.value.height}` : `failed: ${stalledEarly.error.message}`} before the heal`)
    if (wp.length > 0) throw new Error(`no-quorum window: ${wp.join('; ')}`)
    if (seq === 1) out.stall_window_ms = Date.now() - windowStart

    const healC = Date.now()
    await setRules(cutC, ACCEPT, 'healed-c')
    out.heal_c_apply_ms = Date.now() - healC
    if (seq === 1) {
      const w = await pending
      out.resume_ms = w.at - healC
      out.resume_height = w.height
      runenv.recordMessage(`healed: the pending write committed at height ${w.height}, ${out.resume_ms} ms after the heal`)
    }
    out.resume_seen_ms = (await reachHeight(b.height + 1, resumeTimeout, `a new height after healing phase C (chain was at ${b.height})`)) - healC

    // D: all up again.
    if (seq === 1) {
      const d = await writePhase('healed')
      allUpMs.push(...d.ms)
      Object.assign(out, prefixed('commit', latencySummary(allUpMs)))
      out.final_height = d.height
      await client.publish('phase-d', { height: d.height })
    }
    const d = (await collect(client, 'phase-d', 1, phaseTimeout + resumeTimeout))[0]
    await reachHeight(d.height, convergeTimeout, `height ${d.height} (the final write)`)
    await signalAndWait(client, 'final', n, convergeTimeout)

    // Every node's certified chain, verified here, compared everywhere.
    const report = { seq, validator: seq <= validators, ...(await readChain(agent)) }
    report.verified = await verifyChain(await fsp.readFile(genesisPath(), 'utf8'), report.cbors)
    delete report.cbors
    await client.publish('chain', report)
    const reports = (await collect(client, 'chain', n, convergeTimeout)).sort((x, y) => x.seq - y.seq)
    const isolatedB = plan.withQuorum.map(s => bySeq.get(s).peerId)
    const problems = chainProblems(reports, { from: a.height, to: b.height, isolated: isolatedB })
    if (seq === 1 && runenv.testOutputsPath) {
      await fsp.writeFile(path.join(runenv.testOutputsPath, 'bft.json'), JSON.stringify({ plan, heights: { a: a.height, b: b.height, d: d.height }, window: windowReports, reports, problems }, null, 1))
    }
    if (problems.length > 0) throw new Error(`the nodes' certified chains disagree: ${problems.slice(0, 10).join('; ')}${problems.length > 10 ? ` (+${problems.length - 10} more)` : ''}`)
    out.chain_height = report.height
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

/** `{count, p50, p99, max}` as `<name>_p50_ms`, …; nothing for no samples. */
function prefixed (name, s) {
  return s === undefined ? {} : { [`${name}_count`]: s.count, [`${name}_p50_ms`]: s.p50, [`${name}_p99_ms`]: s.p99, [`${name}_max_ms`]: s.max }
}

/** Whether a promise has settled by now: `{ok, value}` / `{ok: false, error}`, or undefined while pending. */
async function settledYet (promise) {
  const pendingMark = Symbol('pending')
  const r = await Promise.race([
    promise.then(value => ({ ok: true, value }), error => ({ ok: false, error })),
    new Promise(resolve => setImmediate(() => resolve(pendingMark)))
  ])
  return r === pendingMark ? undefined : r
}

/**
 * This node's chain as its API exposes it: its height and chain id (`GET /v1/critical`), and the certificate
 * of every key committed after the genesis (`GET /v1/critical/:key`): blocks per height (lib/bft-check.js
 * nodeChain) and the certificates' CBOR in height order, for the replay.
 */
async function readChain (agent) {
  const list = await agent.get('/v1/critical')
  const certs = []
  for (const e of list.entries.filter(x => x.height > 0)) {
    const v = await agent.get(`/v1/critical/${encodeURIComponent(e.key)}`)
    if (v.certificate !== null) certs.push(v.certificate)
  }
  const { blocks, problems } = nodeChain(certs)
  const cborByHeight = new Map(certs.map(c => [c.height, c.cbor]))
  return { height: list.height, genesis: list.genesis, blocks, problems, cbors: blocks.map(x => cborByHeight.get(x.height)) }
}
