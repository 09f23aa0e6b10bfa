'use strict'
/**
 * config-propagation (issue 19): writes on random instances, and how long each takes from its PUT until it
 * is visible on every instance. Issue 18's target: N=50 p99 ≤ 500 ms.
 *
 * After the usual join (lib/cluster.js) and `settle`, every instance opens a watch of `config_namespace` on
 * its own agent (`GET /v1/config/:ns?watch=1`, lib/config-watch.js) and records, for each key the case
 * writes, the wall time the agent's `set` event for it arrived with the value written (lib/config-propagation-
 * check.js `Visibility`): an event, not a poll, so the time carries no poll interval.
 *
 * `writes` writes follow, each on an instance drawn from `seed` (every instance computes the same schedule,
 * `schedule`), each to its own key (`w-0001`, ...) with a value naming the write, its writer and the seed. They
 * are chained through the sync service: the writer of write i waits until write i−1 is published on topic
 * "written", then `write_interval`, then takes the wall time and PUTs; once the PUT answers it publishes
 * `{i, key, writer, writeAt, ackAt}`. Every instance waits until it saw every key (or `visible_timeout` after
 * the last write), publishes what it saw on topic "visibility", and instance 1 computes per write the time
 * until it was visible everywhere (`summarize`): p50/p99/max over the writes in results.json, everything in
 * `config-propagation.json` in its outputs.
 *
 * Fails (the instance reports failure) when a write is not visible somewhere within `visible_timeout` of its
 * PUT, when an instance held a value other than the one written (or the key deleted), or when a watch ended.
 *
 * Clocks: a write's time (the writer's clock) is compared with visibility times on every other instance's
 * clock. On the local runner all instances' namespaces share the host's one clock, so the differences are
 * exact; under real testground on several hosts they are off by the hosts' clock offsets (NTP: about a
 * millisecond on a LAN, more elsewhere), which is the same order as the quantity measured; a visibility time
 * before its write's is counted (`visible_before_write`) and taken as 0 rather than failing the run.
 *
 * Measures (results.json): every instance `visible_p50_ms` / `visible_max_ms` (its own visibility over the
 * writes), `writes_made` (its own PUTs); instance 1 also `all_p50_ms` / `all_p99_ms` / `all_max_ms` (write →
 * visible on all N), `each_*` (per write and instance), `ack_*` (the PUT's answer: fsynced at the writer).
 * With fewer than 100 writes, p99 is the maximum (nearest rank, as the runner's summaries).
 */
const path = require('path')
const fsp = require('fs/promises')
const { joinCluster } = require('../lib/cluster')
const { params, signalAndWait, collect, writeResults, sleep } = require('../lib/util')
const { request } = require('../lib/agent')
const { watchConfig } = require('../lib/config-watch')
const { schedule, writeKey, writeValue, expectedValues, Visibility, quantile, summarize } = require('../lib/config-propagation-check')

/** How long the writer's PUT may take before the write counts as failed: the agent answers once fsynced. */
const PUT_TIMEOUT_MS = 30000

module.exports = async function configPropagation (runenv, client) {
  const p = params(runenv)
  const n = runenv.testInstanceCount
  const writes = p.int('writes')
  const seed = p.int('seed')
  const intervalMs = p.duration('write_interval')
  const timeoutMs = p.duration('visible_timeout')
  const settleMs = p.duration('settle')
  const convergeTimeout = p.duration('converge_timeout')
  const ns = p.str('config_namespace')
  const writers = schedule(seed, writes, n)
  const vis = new Visibility(expectedValues(writers, seed))

  const { agent, seq, metrics } = await joinCluster(runenv, client)
  const out = { ...metrics }
  const changed = latch()
  let resultsWritten = false
  let watch
  let sub
  try {
    // A scenario knob, not a wait for an event: the writes are measured on a network past its join (first
    // DHT refreshes, elections), which on 2 shared cores otherwise takes most of the CPU.
    await sleep(settleMs)
    let watchEnded
    watch = watchConfig(agent.apiPort, ns, (e, at) => {
      if (e.event === 'snapshot') vis.snapshot(e.data.entries ?? {}, at)
      else if (e.event === 'set') vis.set(e.data.key, e.data.value, at)
      else if (e.event === 'delete') vis.delete(e.data.key, at)
      else if (e.event === 'dropped') watchEnded ??= `the agent dropped this watch (${e.data.reason}): ${e.data.message}`
      changed.notify()
    })
    await watch.opened
    watch.ended.then(reason => { watchEnded ??= reason; changed.notify() })
    const watchOk = () => { if (watchEnded !== undefined) throw new Error(watchEnded) }

    const written = []
    sub = await client.subscribe('written')
    ;(async () => { for await (const m of sub.wait) { written.push(m); changed.notify() } })().catch(() => {})
    const writesOk = () => {
      const bad = written.find(w => w.error !== undefined)
      if (bad !== undefined) throw new Error(`write ${bad.i + 1} failed at instance ${bad.writer}: ${bad.error}`)
    }
    await signalAndWait(client, 'watching', n, convergeTimeout)

    let made = 0
    for (let i = 0; i < writes; i++) {
      if (writers[i] !== seq) continue
      await changed.until(() => { writesOk(); return written.length >= i }, convergeTimeout + PUT_TIMEOUT_MS, `write ${i} to be made`)
      await sleep(intervalMs)
      const key = writeKey(i)
      const writeAt = Date.now()
      let error
      try {
        const r = await request(agent.apiPort, 'PUT', `/v1/config/${encodeURIComponent(ns)}/${encodeURIComponent(key)}`, { value: writeValue(i, seq, seed) }, PUT_TIMEOUT_MS)
        if (r.status !== 200) error = `PUT ${key}: HTTP ${r.status} ${JSON.stringify(r.body)}`
      } catch (err) {
        error = `PUT ${key}: ${err.message}`
      }
      if (error !== undefined) {
        await client.publish('written', { i, key, writer: seq, error })
        throw new Error(error)
      }
      await client.publish('written', { i, key, writer: seq, writeAt, ackAt: Date.now() })
      made++
    }
    out.writes_made = made

    // The last write's PUT may start up to write_interval + a PUT after the one before it was published.
    await changed.until(() => { writesOk(); return written.length >= writes }, convergeTimeout + writes * (intervalMs + PUT_TIMEOUT_MS), 'every write to be made')
    const deadline = Math.max(...written.map(w => w.writeAt)) + timeoutMs
    // Past the deadline a missing key is a broken invariant, judged below: waiting ends either way.
    await changed.until(() => { watchOk(); return vis.complete }, Math.max(0, deadline - Date.now()), 'every write to be visible').catch(err => {
      if (watchEnded !== undefined) throw err
    })
    watch.close()

    const own = written.map(w => vis.seen.get(w.key)).map((at, j) => at === undefined ? undefined : Math.max(0, at - written[j].writeAt)).filter(ms => ms !== undefined)
    if (own.length > 0) Object.assign(out, { visible_p50_ms: quantile(own, 0.5), visible_max_ms: quantile(own, 1) })
    await client.publish('visibility', { seq, ...vis.report() })
    await signalAndWait(client, 'reported', n, convergeTimeout)

    let violations = []
    if (seq === 1) {
      const reports = await collect(client, 'visibility', n, convergeTimeout)
      const r = summarize(written, reports, { n, expectedWrites: writes, timeoutMs })
      Object.assign(out, r.summary)
      violations = r.violations
      if (runenv.testOutputsPath) {
        await fsp.writeFile(path.join(runenv.testOutputsPath, 'config-propagation.json'),
          JSON.stringify({ namespace: ns, seed, writers, summary: r.summary, violations, perWrite: r.perWrite, writes: written, reports }, null, 1))
      }
      runenv.recordMessage(`write → visible on all ${n}: p50 ${r.summary.all_p50_ms} ms, p99 ${r.summary.all_p99_ms} ms, max ${r.summary.all_max_ms} ms over ${written.length} writes`)
    } else {
      // This instance's own share of the invariants; instance 1 judges them all.
      violations = [
        ...vis.missing().map(k => `${k} never became visible here within ${timeoutMs} ms of its write`),
        ...vis.mismatches.map(m => `${m.key} ${m.deleted === true ? 'was deleted' : `held ${JSON.stringify(m.value)}, not the value written`}`)
      ]
    }
    writeResults(runenv, out, violations.length > 0 ? { violations } : {})
    resultsWritten = true
    if (violations.length > 0) {
      throw new Error(`${violations.length} broken invariant(s): ${violations.slice(0, 5).join('; ')}${violations.length > 5 ? '; …' : ''}`)
    }
  } catch (err) {
    if (!resultsWritten) writeResults(runenv, out, { error: err.message })
    await agent.dumpDiagnostics(runenv.testOutputsPath)
    throw err
  } finally {
    if (watch !== undefined) watch.close()
    if (sub !== undefined) sub.cancel()
    await agent.stop()
  }
}

/**
 * Waits on a condition re-checked whenever `notify()` is called (a watch event or a sync message arrived):
 * `until(cond, timeoutMs, what)` resolves once `cond()` is true, rejects when it throws or after `timeoutMs`.
 */
function latch () {
  const checks = new Set()
  return {
    notify () { for (const check of [...checks]) check() },
    until (cond, timeoutMs, what) {
      return new Promise((resolve, reject) => {
        const done = () => { clearTimeout(timer); checks.delete(check) }
        const check = () => {
          try {
            if (cond()) { done(); resolve() }
          } catch (err) { done(); reject(err) }
        }
        const timer = setTimeout(() => { done(); reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)) }, timeoutMs)
        checks.add(check)
        check()
      })
    }
  }
}
