'use strict'
/**
 * The rollout case's checks over what the instances observed, pure so a unit test can feed them
 * (test/testground/rollout-check.test.ts). A timeline is one instance's list of changes
 * `{t, version, state, health}` (wall ms, sorted by t): each entry holds until the next. An instance is
 * up when its component is `running` with health `passing`; anything else (fetching, installing,
 * starting, failed, failing, absent) is down.
 */

const isUp = (c) => c.state === 'running' && c.health === 'passing'

/**
 * The most instances down at once: evaluated at every change of any instance (a step function's
 * maximum is reached at one of its steps). An instance counts from its first entry on; before it
 * there is nothing known about it. Returns `{max, at}` (`at` the time it was first reached).
 */
function maxDown (timelines) {
  const times = [...new Set(timelines.flatMap(cs => cs.map(c => c.t)))].sort((a, b) => a - b)
  const idx = timelines.map(() => -1)
  let max = 0
  let at
  for (const t of times) {
    let down = 0
    timelines.forEach((cs, i) => {
      while (idx[i] + 1 < cs.length && cs[idx[i] + 1].t <= t) idx[i]++
      if (idx[i] >= 0 && !isUp(cs[idx[i]])) down++
    })
    if (down > max) { max = down; at = t }
  }
  return { max, at }
}

/** The versions an instance ran within [from, to), consecutive repeats and unknown (null) versions left out; the entry in force at `from` included. */
function versionsBetween (changes, from, to) {
  const out = []
  const push = (v) => { if (v !== null && out[out.length - 1] !== v) out.push(v) }
  let inForce
  for (const c of changes) {
    if (c.t < from) { inForce = c; continue }
    if (c.t >= to) break
    if (inForce !== undefined) { push(inForce.version); inForce = undefined }
    push(c.version)
  }
  if (inForce !== undefined) push(inForce.version)
  return out
}

/**
 * When the instance was first back on `version`, up, after it last ran `bad` (at or after `after`);
 * undefined when it never ran `bad` then or never came back.
 */
function firstStable (changes, version, after, bad) {
  let lastBad = -1
  changes.forEach((c, i) => { if (c.t >= after && c.version === bad) lastBad = i })
  if (lastBad < 0) return undefined
  const back = changes.slice(lastBad + 1).find(c => c.version === version && isUp(c))
  return back === undefined ? undefined : back.t
}

/**
 * Every problem with the run, as lines naming the instance (empty: all checks hold).
 * @param {Array<{seq: number, v2Start: number, changes: object[]}>} timelines
 * @param {{v1: string, v2: string, v3: string, v3Start: number, maxUnavailable: number}} o
 */
function checkTimelines (timelines, o) {
  const problems = []
  const v2Start = Math.min(...timelines.map(t => t.v2Start))
  for (const tl of timelines) {
    const during = versionsBetween(tl.changes, v2Start, o.v3Start)
    if (during.length !== 2 || during[0] !== o.v1 || during[1] !== o.v2) problems.push(`instance ${tl.seq} ran ${JSON.stringify(during)} during the rollout to ${o.v2}, expected [${o.v1}, ${o.v2}] (switched exactly once)`)
    const last = tl.changes[tl.changes.length - 1]
    if (last === undefined || last.version !== o.v2 || !isUp(last)) problems.push(`instance ${tl.seq} ends on ${last ? `${last.version} ${last.state} ${last.health}` : 'nothing'}, expected ${o.v2} running and passing`)
  }
  const down = maxDown(timelines.map(t => t.changes))
  if (down.max > o.maxUnavailable) problems.push(`${down.max} instances not running-and-passing at once (at ${new Date(down.at).toISOString()}), more than max-unavailable ${o.maxUnavailable}`)
  return problems
}

module.exports = { isUp, maxDown, versionsBetween, firstStable, checkTimelines }
