'use strict'
/**
 * The revocation case's judgements over what the instances observed, pure so a unit test can feed them
 * (test/testground/revocation-check.test.ts).
 */

/**
 * Where one observer stands on the victim, from its own agent's `GET /v1/admission` and `GET /v1/members`
 * (members may be null when not read yet). Cut off = the committed policy lists it revoked, this node has no
 * connection to it (in any verdict: a redial the gater is still refusing counts as a connection), and its
 * membership entry is `revoked`.
 */
function standing (view, members, victim) {
  const revoked = Array.isArray(view.revoked) && view.revoked.some(r => r.peerId === victim)
  const disconnected = !(Array.isArray(view.connected) && view.connected.some(c => c.peerId === victim))
  const entry = Array.isArray(members) ? members.find(m => m.peerId === victim) : undefined
  const listedRevoked = entry !== undefined && entry.state === 'revoked'
  return { revoked, disconnected, listedRevoked, cutOff: revoked && disconnected && listedRevoked }
}

/**
 * The victim's isolation: the first sample at or after `from` (wall ms) with no connection at all.
 * Samples are `{t, connected}` (connected = its agent's connection count then), sorted by t.
 * Undefined if it never was alone.
 */
function firstIsolated (samples, from) {
  const s = samples.find(x => x.t >= from && x.connected === 0)
  return s === undefined ? undefined : s.t
}

/**
 * Nearest-rank quantiles, the same rule as the local runner's result.json summaries
 * (testground/runner/outcome.ts), so the case's numbers and the runner's agree.
 */
function quantiles (values) {
  if (values.length === 0) return undefined
  const v = [...values].sort((a, b) => a - b)
  const q = (p) => v[Math.min(v.length - 1, Math.max(0, Math.ceil(p * v.length) - 1))]
  return { count: v.length, p50: q(0.5), p95: q(0.95), max: v[v.length - 1] }
}

/**
 * The run's numbers from every instance's report `{seq, victim, cutMs?, metricMs?, isolatedMs?}`:
 * `cutMs` (an observer: block time of the revocation → its API shows the victim cut off),
 * `metricMs` (an observer's own `mycel_admission_revocation_seconds`, when it had a connection to close),
 * `isolatedMs` (the victim: block time → it had no connection left).
 * Throws when an observer has no measurement: the run must not report a maximum over fewer instances.
 */
function summarize (reports) {
  const observers = reports.filter(r => !r.victim)
  const missing = observers.filter(r => typeof r.cutMs !== 'number').map(r => r.seq)
  if (missing.length > 0) throw new Error(`no revocation measurement from instance(s) ${missing.join(', ')}`)
  const cut = quantiles(observers.map(r => r.cutMs))
  const out = { observers: observers.length, revocation_p50_ms: cut.p50, revocation_p95_ms: cut.p95, revocation_max_ms: cut.max }
  const metric = quantiles(observers.filter(r => typeof r.metricMs === 'number').map(r => r.metricMs))
  if (metric !== undefined) {
    Object.assign(out, { closed_observers: metric.count, close_p50_ms: metric.p50, close_p95_ms: metric.p95, close_max_ms: metric.max })
  }
  const victim = reports.find(r => r.victim)
  if (victim !== undefined && typeof victim.isolatedMs === 'number') out.victim_isolated_ms = victim.isolatedMs
  return out
}

/**
 * The agent's own `mycel_admission_revocation_seconds` histogram from its Prometheus text: `{sum, count}`
 * in seconds, zeros when it has observed nothing (the series are absent until the first observation on some
 * registries, present with 0 on others).
 */
function revocationMetric (text) {
  const read = (name) => {
    const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm').exec(text)
    return m === null ? 0 : Number(m[1])
  }
  return { sum: read('mycel_admission_revocation_seconds_sum'), count: read('mycel_admission_revocation_seconds_count') }
}

module.exports = { standing, firstIsolated, quantiles, summarize, revocationMetric }
