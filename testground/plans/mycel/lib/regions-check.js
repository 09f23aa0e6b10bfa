'use strict'
/**
 * The regions case's judgements over what the instances observed of the elected roles, pure so a unit test
 * can feed them (test/testground/regions-check.test.ts).
 *
 * An observation is one instance's `GET /v1/roles` at wall time `t`, trimmed by `observation()` to what the
 * checks read: `{seq, peerId, region, t, rows, local}` with `rows` every (region, role) lease it knows
 * (`{region, role, holder, term, status, expiresAt}`) and `local` its own roles (`{role, acting, term, since}`,
 * `since` = when its role manager activated the role, absent while it does not).
 */

/** The five roles every daemon carries (managers/registry.ts ROLE_NAMES); the case checks each of them. */
const ROLES = ['network', 'update', 'config', 'security', 'monitoring']

const short = (id) => typeof id === 'string' ? id.slice(-6) : String(id)

/**
 * One instance's `GET /v1/roles` answer, trimmed for the sync service and the checks: `t` when it was asked
 * (what it shows acting was acting then: activated at `since`, still so when answered), `tr` when it answered
 * (what it shows was seen by then).
 */
function observation (me, view, t, tr = t) {
  return {
    seq: me.seq,
    peerId: me.peerId,
    region: me.region,
    t,
    tr,
    rows: view.regions.flatMap(r => r.roles.map(x => ({ region: r.region, role: x.role, holder: x.holder, term: x.term, status: x.status, expiresAt: x.expiresAt }))),
    local: view.local.map(l => ({ role: l.role, acting: l.acting === true, term: l.term, since: l.since, winner: l.winner }))
  }
}

const rowOf = (obs, region, role) => obs.rows.find(r => r.region === region && r.role === role)
const localOf = (obs, role) => obs.local.find(l => l.role === role)

/**
 * One round of observations, taken by every live instance at about the same time: do they agree?
 * `members` maps each region to the peer ids of its live instances (every observer is one of them).
 * Agreement, for every region and role: every observer (of any region: leases are gossiped to all) sees the
 * same holder and term, active; the holder is a live member of that region and the winner in every view of
 * that region's members (else it hands over once the view is still); and among that region's members exactly
 * the holder acts in that term. An observation that failed (`error`) is no agreement.
 * Returns `{agreed, problems}`: `agreed` maps `region/role` to `{holder, term}` when there are no problems.
 */
function judgeRound (observations, members) {
  const problems = []
  for (const o of observations) if (o.error !== undefined) problems.push(`instance ${o.seq}: ${o.error}`)
  const agreed = {}
  if (problems.length > 0 || observations.length === 0) return { agreed: {}, problems: problems.length > 0 ? problems : ['no observations'] }
  for (const [region, ids] of Object.entries(members)) {
    for (const role of ROLES) {
      const key = `${region}/${role}`
      const first = rowOf(observations[0], region, role)
      if (first === undefined || first.status !== 'active' || first.holder === undefined) {
        problems.push(`${key}: instance ${observations[0].seq} sees ${first === undefined ? 'no lease' : `status ${first.status}`}`)
        continue
      }
      const differs = observations.some(o => { const r = rowOf(o, region, role); return r === undefined || r.status !== 'active' || r.holder !== first.holder || r.term !== first.term })
      if (differs) {
        problems.push(`${key}: views differ: ${viewsOf(observations, region, role)}`)
        continue
      }
      if (!ids.includes(first.holder)) {
        problems.push(`${key}: holder ${short(first.holder)} is not a live member of ${region}`)
        continue
      }
      // A holder that is not the winner in some member's view hands over once that view is still (docs/roles.md,
      // "A holder stays while the view moves"): not converged yet.
      const elsewhere = observations.filter(o => o.region === region && localOf(o, role) !== undefined && localOf(o, role).winner !== undefined && localOf(o, role).winner !== first.holder)
      if (elsewhere.length > 0) {
        problems.push(`${key}: holder ${short(first.holder)} is not the winner for instance${elsewhere.length > 1 ? 's' : ''} ${elsewhere.map(o => `${o.seq} (${short(localOf(o, role).winner)})`).join(', ')}: a handover is due`)
        continue
      }
      const acting = observations.filter(o => o.region === region && localOf(o, role) !== undefined && localOf(o, role).acting)
      if (acting.length !== 1 || acting[0].peerId !== first.holder || localOf(acting[0], role).term !== first.term) {
        problems.push(`${key}: acting [${acting.map(o => `${short(o.peerId)} t${localOf(o, role).term}`).join(', ')}], holder ${short(first.holder)} t${first.term}`)
        continue
      }
      agreed[key] = { holder: first.holder, term: first.term }
    }
  }
  return problems.length > 0 ? { agreed: {}, problems } : { agreed, problems }
}

/** The distinct views of one (region, role) and who holds each: `b2 t1 active (instances 2, 3); b3 t1 active (instance 1)`. */
function viewsOf (observations, region, role) {
  const by = new Map()
  for (const o of observations) {
    const r = rowOf(o, region, role)
    const v = r === undefined ? 'nothing' : r.holder === undefined ? r.status : `${short(r.holder)} t${r.term} ${r.status}`
    by.set(v, [...(by.get(v) || []), o.seq])
  }
  return [...by.entries()].map(([v, seqs]) => `${v} (instance${seqs.length > 1 ? 's' : ''} ${seqs.join(', ')})`).join('; ')
}

/**
 * Every stretch of acting the observations prove: an instance seen acting in a role at `t`, activated at
 * `since`, acted throughout [since, t] (`since` absent: only at t). Observations of one activation (same
 * instance, role and `since`) merge into one interval, to the latest `t`. `extra` adds intervals known
 * otherwise (the killed holder's last activation, up to its kill).
 * @returns {{region: string, role: string, peerId: string, from: number, to: number}[]}
 */
function actingIntervals (observations, extra = []) {
  const seen = []
  for (const o of observations) {
    if (o.error !== undefined) continue
    for (const l of o.local) {
      if (l.acting) seen.push({ region: o.region, role: l.role, peerId: o.peerId, from: typeof l.since === 'number' ? l.since : o.t, to: o.t })
    }
  }
  return dedupe([...seen, ...extra])
}

/**
 * Two instances acting in the same (region, role) at the same time: intervals of different instances that
 * overlap by more than `toleranceMs` (0 on one clock, as on the local runner; across hosts, their clocks'
 * bound). Returns one line per overlapping pair.
 */
function overlaps (intervals, toleranceMs = 0) {
  const out = []
  for (let i = 0; i < intervals.length; i++) {
    for (let j = i + 1; j < intervals.length; j++) {
      const a = intervals[i]
      const b = intervals[j]
      if (a.region !== b.region || a.role !== b.role || a.peerId === b.peerId) continue
      const overlap = Math.min(a.to, b.to) - Math.max(a.from, b.from)
      if (overlap > toleranceMs) {
        out.push(`${a.region}/${a.role}: ${short(a.peerId)} acted ${a.from}..${a.to} and ${short(b.peerId)} ${b.from}..${b.to} (${overlap} ms at once)`)
      }
    }
  }
  return out
}

/**
 * Whether another region's holder, as this node resolved it (`GET /v1/roles/:region/:role`), matches what
 * that region's members agreed (`want`: `{holder, term}`) and came through the DHT: the answer names the
 * agreed holder and term, and the DHT copy exists and names a member of that region with no higher term (it
 * may trail: the holder rewrites the record less often than it renews by gossip). Undefined when it matches,
 * else why not.
 */
function resolutionProblem (answer, want, regionMembers) {
  if (answer.copies === undefined || answer.copies.dht === null || answer.copies.dht === undefined || !(answer.dhtRecords > 0)) {
    return `no DHT copy${answer.dhtError ? ` (${answer.dhtError})` : ''}`
  }
  if (answer.holder !== want.holder || answer.term !== want.term) return `resolved ${short(answer.holder)} t${answer.term}, the region agreed on ${short(want.holder)} t${want.term}`
  const dht = answer.copies.dht
  if (!regionMembers.includes(dht.holder)) return `the DHT copy names ${short(dht.holder)}, not a member of the region`
  if (dht.term > want.term) return `the DHT copy has term ${dht.term}, above the agreed ${want.term}`
  return undefined
}

/**
 * One survivor's view of the failover of `role` in `region` after `victim` (holder in `oldTerm`) was killed
 * at `killedAt`: the first of its observations (sorted by t) answered after the kill that shows an active
 * holder other than the victim with a higher term, as `{at, holder, term}` (`at` = when that answer came);
 * no `at` if none did. Also the latest expiry it saw of the victim's lease (`lastExpiry`): a successor that
 * saw it must not act before it.
 */
function failoverSeen (observations, region, role, victim, oldTerm, killedAt) {
  let lastExpiry
  for (const o of observations) {
    const r = rowOf(o, region, role)
    if (r !== undefined && r.holder === victim && typeof r.expiresAt === 'number') lastExpiry = Math.max(lastExpiry ?? r.expiresAt, r.expiresAt)
  }
  const answered = (o) => o.tr ?? o.t
  const hit = observations.find(o => {
    if (answered(o) < killedAt) return false
    const r = rowOf(o, region, role)
    return r !== undefined && r.status === 'active' && r.holder !== victim && typeof r.term === 'number' && r.term > oldTerm
  })
  if (hit === undefined) return { lastExpiry }
  const r = rowOf(hit, region, role)
  return { at: answered(hit), holder: r.holder, term: r.term, lastExpiry }
}

/**
 * What one survivor of the killed holder's region tells the others about the failover, small enough for the
 * sync service: per role the victim held, `failoverSeen` over its own observations; and the stretches it was
 * seen acting (`actingIntervals`). `kill`: `{region, victim, killedAt, held: {role: oldTerm}}`.
 */
function watchDigest (me, observations, kill) {
  const seen = {}
  for (const [role, oldTerm] of Object.entries(kill.held)) seen[role] = failoverSeen(observations, kill.region, role, kill.victim, oldTerm, kill.killedAt)
  return { seq: me.seq, peerId: me.peerId, seen, intervals: actingIntervals(observations) }
}

/**
 * The failover's verdict and numbers. `kill`: `{region, victim, killedAt, held: {role: oldTerm}, since: {role:
 * ms}}` (`since`: the victim's activation times, from its last observation before the kill); `digests`: one
 * `watchDigest` per survivor of the region; `after`: the round all live instances agreed in after the kill,
 * `{agreed, observations}`.
 * Invariants: every survivor saw a new holder with a higher term for every role the victim held; the agreed
 * holder afterwards is a survivor with a higher term; the successor started acting only after the victim's
 * lease expired in its own view; no two instances acted at once in the region (the survivors' observations,
 * the victim's last activation up to its kill, the final round). Metrics per role: `failover_<role>_ms` (kill
 * → the last survivor saw the new holder), `acting_<role>_ms` (kill → the successor's activation), and
 * `failover_max_ms` over the roles.
 */
function judgeFailover (kill, digests, after, toleranceMs = 0) {
  const problems = []
  const metrics = {}
  const survivors = digests.map(d => d.peerId)
  for (const [role, oldTerm] of Object.entries(kill.held)) {
    const key = `${kill.region}/${role}`
    const missing = digests.filter(d => d.seen[role]?.at === undefined).map(d => d.seq)
    if (missing.length > 0) problems.push(`${key}: instance(s) ${missing.join(', ')} never saw a holder after ${short(kill.victim)} t${oldTerm}`)
    else metrics[`failover_${role}_ms`] = Math.max(...digests.map(d => d.seen[role].at)) - kill.killedAt
    const now = after.agreed[key]
    if (now === undefined) { problems.push(`${key}: no agreed holder after the kill`); continue }
    if (!survivors.includes(now.holder) || !(now.term > oldTerm)) problems.push(`${key}: after the kill the region agreed on ${short(now.holder)} t${now.term} (killed ${short(kill.victim)} t${oldTerm})`)
    const successorObs = after.observations.find(o => o.peerId === now.holder)
    const since = successorObs !== undefined ? localOf(successorObs, role)?.since : undefined
    if (typeof since !== 'number') { problems.push(`${key}: the successor ${short(now.holder)} reports no activation time`); continue }
    metrics[`acting_${role}_ms`] = since - kill.killedAt
    const own = digests.find(d => d.peerId === now.holder)?.seen[role]
    if (own !== undefined && own.lastExpiry !== undefined && since < own.lastExpiry) {
      problems.push(`${key}: the successor ${short(now.holder)} acted from ${since}, before the killed holder's lease expired in its own view (${own.lastExpiry})`)
    }
  }
  const victimIntervals = Object.entries(kill.since)
    .filter(([role, s]) => typeof s === 'number' && kill.held[role] !== undefined)
    .map(([role, s]) => ({ region: kill.region, role, peerId: kill.victim, from: s, to: kill.killedAt }))
  const intervals = actingIntervals(after.observations, [...digests.flatMap(d => d.intervals), ...victimIntervals])
  problems.push(...overlaps(intervals.filter(i => i.region === kill.region), toleranceMs))
  const values = Object.entries(metrics).filter(([k]) => k.startsWith('failover_')).map(([, v]) => v)
  if (values.length > 0) metrics.failover_max_ms = Math.max(...values)
  return { metrics, problems }
}

/** One interval per activation (instance, role, start), to its latest end: several sources see the same one. */
function dedupe (intervals) {
  const byKey = new Map()
  for (const i of intervals) {
    const key = `${i.peerId}|${i.role}|${i.from}`
    const had = byKey.get(key)
    if (had === undefined) byKey.set(key, { ...i })
    else had.to = Math.max(had.to, i.to)
  }
  return [...byKey.values()]
}

module.exports = { ROLES, observation, judgeRound, actingIntervals, overlaps, resolutionProblem, failoverSeen, watchDigest, judgeFailover }
