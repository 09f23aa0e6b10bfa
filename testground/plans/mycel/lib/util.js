'use strict'
const fs = require('fs')
const path = require('path')

/** An error `poll` does not retry. */
class Fatal extends Error {}

const sleep = (ms) => new Promise(resolve => setTimeout(resolve, ms))

/** Go duration (10s, 1m30s, 500ms) → milliseconds. */
function durationMs (s) {
  const units = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60000, h: 3600000 }
  if (s === '0') return 0
  if (!/^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/.test(s)) throw new Error(`not a duration: ${s}`)
  let total = 0
  for (const m of s.matchAll(/([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * units[m[2]]
  return total
}

/** Typed access to TEST_INSTANCE_PARAMS; a missing or malformed value is an error, not a default. */
function params (runenv) {
  const raw = runenv.testInstanceParams
  const get = (name) => {
    if (raw[name] === undefined) throw new Error(`missing test param ${name}`)
    return raw[name]
  }
  return {
    str: get,
    int (name) {
      const v = get(name)
      if (!/^-?[0-9]+$/.test(v)) throw new Error(`param ${name}=${v}: not an integer`)
      return Number(v)
    },
    float (name) {
      const v = Number(get(name))
      if (!Number.isFinite(v)) throw new Error(`param ${name}: not a number`)
      return v
    },
    duration (name) { return durationMs(get(name)) }
  }
}

/** Calls fn until it returns something other than undefined; throws after timeoutMs. */
async function poll (fn, { timeoutMs, intervalMs = 250, what = 'condition' }) {
  const deadline = Date.now() + timeoutMs
  let lastErr
  for (;;) {
    try {
      const v = await fn()
      if (v !== undefined) return v
    } catch (err) {
      if (err instanceof Fatal) throw err
      lastErr = err
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? ` (last error: ${lastErr.message})` : ''}`)
    }
    await sleep(intervalMs)
  }
}

/** Waits on a sync barrier, but not forever: a peer that failed must not hang the rest. */
async function barrier (client, state, target, timeoutMs) {
  const b = await client.barrier(state, target)
  let timer
  try {
    await Promise.race([
      b.wait,
      new Promise((resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`barrier ${state}: ${target} instances not reached in ${timeoutMs} ms`)), timeoutMs)
      })
    ])
  } finally {
    clearTimeout(timer)
    b.cancel()
  }
}

async function signalAndWait (client, state, target, timeoutMs) {
  const seq = await client.signalEntry(state)
  await barrier(client, state, target, timeoutMs)
  return seq
}

/** Reads `count` messages from a topic (replayed from the start). */
async function collect (client, topic, count, timeoutMs) {
  const sub = await client.subscribe(topic)
  const out = []
  let timer
  try {
    await Promise.race([
      (async () => {
        for await (const m of sub.wait) {
          out.push(m)
          if (out.length >= count) return
        }
      })(),
      new Promise((resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`topic ${topic}: got ${out.length}/${count} messages in ${timeoutMs} ms`)), timeoutMs)
      })
    ])
  } finally {
    clearTimeout(timer)
    sub.cancel()
  }
  return out
}

/**
 * Measurements of this instance, written as `results.json` in the outputs dir; the local runner
 * summarises every numeric metric across instances (result.json → metrics).
 */
function writeResults (runenv, metrics, extra = {}) {
  const doc = { case: runenv.testCase, group: runenv.testGroupId, metrics, ...extra }
  if (runenv.testOutputsPath) {
    fs.writeFileSync(path.join(runenv.testOutputsPath, 'results.json'), JSON.stringify(doc, null, 2) + '\n')
  }
  runenv.recordMessage(`results: ${JSON.stringify(metrics)}`)
}

/** How often to poll the admin API: fine-grained for small runs, gentler at 100 instances on 2 cores. */
const pollInterval = (n) => Math.min(1000, Math.max(200, n * 8))

/**
 * How often every instance polls its agent while waiting for the join: the whole run's poll rate stays at
 * about 25 requests a second whatever N (each /v1/status costs the agent ~1.2 ms of CPU and the plan process
 * about as much; 100 instances polling every 0.8 s were ~15 % of a 2-core machine while it formed the
 * network, every 2 s still ~6 %). Only the join's end is measured this coarsely; detection cases keep
 * pollInterval.
 */
const joinPollInterval = (n) => Math.min(4000, Math.max(200, n * 40))

const rand = (min, max) => min + Math.random() * (max - min)

module.exports = { Fatal, sleep, durationMs, params, poll, barrier, signalAndWait, collect, writeResults, pollInterval, joinPollInterval, rand }
