'use strict'
/**
 * The config-propagation case's judgements, pure so a unit test can feed them
 * (test/testground/config-propagation-check.test.ts): which instance makes which write, what each write
 * holds, what one instance saw on its watch stream, and the run's numbers and broken invariants over every
 * instance's report.
 */

/** mulberry32: a small seeded 32-bit PRNG; the same seed gives every instance the same schedule. */
function prng (seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** The writer (seq 1..n) of each of `writes` writes, drawn uniformly from `seed`: every instance computes the same. */
function schedule (seed, writes, n) {
  if (!Number.isInteger(writes) || writes < 1) throw new Error(`writes = ${writes}: needs at least one write`)
  if (!Number.isInteger(n) || n < 1) throw new Error(`n = ${n}: needs at least one instance`)
  const next = prng(seed)
  return Array.from({ length: writes }, () => 1 + Math.floor(next() * n))
}

/** Write i's key (0-based i): distinct per write, so a key's value is never overwritten during the run. */
function writeKey (i) { return `w-${String(i + 1).padStart(4, '0')}` }

/** Write i's value: names the write, its writer and the seed, so another write's value is told apart. */
function writeValue (i, writer, seed) { return { write: i + 1, writer, seed } }

/** Every write's key → value, as every instance expects to read it. */
function expectedValues (writers, seed) {
  return new Map(writers.map((w, i) => [writeKey(i), writeValue(i, w, seed)]))
}

/** Structural equality of JSON values (object key order does not matter). */
function sameJson (a, b) {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  const ka = Object.keys(a)
  const kb = Object.keys(b)
  return ka.length === kb.length && ka.every(k => Object.prototype.hasOwnProperty.call(b, k) && sameJson(a[k], b[k]))
}

/**
 * What one instance's watch stream showed of the expected keys: the wall time each first held its expected
 * value, and every moment one held anything else (another value, or deleted after it was there). Keys the
 * case does not write are ignored.
 */
class Visibility {
  /** @param {Map<string, unknown>} expected key → value */
  constructor (expected) {
    this.expected = expected
    /** key → wall ms it was first seen with the expected value */
    this.seen = new Map()
    /** {key, at, value?, deleted?}: a key that held something else than written */
    this.mismatches = []
  }

  /** The stream's first event: what the namespace held when the watch started. */
  snapshot (entries, at) {
    for (const [key, value] of Object.entries(entries)) this.set(key, value, at)
  }

  set (key, value, at) {
    if (!this.expected.has(key)) return
    if (!sameJson(value, this.expected.get(key))) {
      this.mismatches.push({ key, at, value })
      return
    }
    if (!this.seen.has(key)) this.seen.set(key, at)
  }

  delete (key, at) {
    if (this.expected.has(key)) this.mismatches.push({ key, at, deleted: true })
  }

  /** Every expected key seen with its value. */
  get complete () { return this.seen.size === this.expected.size }

  /** Expected keys not seen yet. */
  missing () { return [...this.expected.keys()].filter(k => !this.seen.has(k)) }

  /** What this instance publishes: `{seen: {key: ms}, mismatches}`. */
  report () { return { seen: Object.fromEntries(this.seen), mismatches: this.mismatches } }
}

/**
 * Nearest-rank quantile, the rule of the local runner's result.json summaries (testground/runner/outcome.ts),
 * so the case's numbers and the runner's agree. With fewer than 100 values p99 is the maximum.
 */
function quantile (values, p) {
  if (values.length === 0) return undefined
  const v = [...values].sort((a, b) => a - b)
  return v[Math.min(v.length - 1, Math.max(0, Math.ceil(p * v.length) - 1))]
}

/**
 * The run's numbers and broken invariants.
 *
 * @param {Array<{i: number, key: string, writer: number, writeAt: number, ackAt: number}>} writes what the
 *   writers published: write i's key, its writer's seq, the wall ms just before its PUT and when the PUT answered
 * @param {Array<{seq: number, seen: Record<string, number>, mismatches: object[]}>} reports every instance's
 *   Visibility report
 * @param {{n: number, expectedWrites: number, timeoutMs: number}} o instances, writes scheduled, and how long
 *   after its PUT a write may take to be visible at an instance
 * @returns {{summary: object, perWrite: object[], violations: string[]}} `summary` (flat numbers for
 *   results.json): `all_*` over writes of write → visible on every instance, `each_*` over (write, instance)
 *   pairs, `ack_*` the PUT's own time; `violations` empty when every invariant held
 */
function summarize (writes, reports, o) {
  const violations = []
  const bySeq = new Map(reports.map(r => [r.seq, r]))
  for (let seq = 1; seq <= o.n; seq++) if (!bySeq.has(seq)) violations.push(`no report from instance ${seq}`)
  const byIndex = new Map(writes.map(w => [w.i, w]))
  for (let i = 0; i < o.expectedWrites; i++) if (!byIndex.has(i)) violations.push(`write ${i + 1} (${writeKey(i)}) was never made`)
  for (const r of reports) {
    for (const m of r.mismatches) {
      violations.push(`instance ${r.seq}: ${m.key} ${m.deleted === true ? 'was deleted' : `held ${JSON.stringify(m.value)}, not the value written`}`)
    }
  }
  const perWrite = []
  const each = []
  // Visible before its PUT started: possible only when the instances' clocks disagree (several hosts), never
  // on one host's clock. Counted and taken as 0, not judged: the case must not fail on clock skew.
  let beforeWrite = 0
  for (const w of [...writes].sort((a, b) => a.i - b.i)) {
    let slowest = null
    let allMs = 0
    let everywhere = true
    for (const r of reports) {
      const at = r.seen[w.key]
      if (typeof at !== 'number') {
        everywhere = false
        violations.push(`instance ${r.seq}: ${w.key} (written by instance ${w.writer}) never became visible within ${o.timeoutMs} ms`)
        continue
      }
      let ms = at - w.writeAt
      if (ms < 0) { beforeWrite++; ms = 0 }
      if (ms > o.timeoutMs) violations.push(`instance ${r.seq}: ${w.key} became visible after ${ms} ms (limit ${o.timeoutMs} ms)`)
      each.push(ms)
      if (slowest === null || ms > allMs) { allMs = ms; slowest = r.seq }
    }
    perWrite.push({ key: w.key, writer: w.writer, ackMs: w.ackAt - w.writeAt, allVisibleMs: everywhere ? allMs : null, slowest })
  }
  const all = perWrite.filter(p => p.allVisibleMs !== null).map(p => p.allVisibleMs)
  const acks = perWrite.map(p => p.ackMs)
  const summary = { writes: writes.length, instances: reports.length, visible_before_write: beforeWrite }
  const put = (prefix, values) => {
    if (values.length === 0) return
    summary[`${prefix}_p50_ms`] = quantile(values, 0.5)
    summary[`${prefix}_p99_ms`] = quantile(values, 0.99)
    summary[`${prefix}_max_ms`] = quantile(values, 1)
  }
  put('all', all)
  put('each', each)
  put('ack', acks)
  return { summary, perWrite, violations }
}

module.exports = { prng, schedule, writeKey, writeValue, expectedValues, sameJson, Visibility, quantile, summarize }
