/**
 * Admin API of alerting (docs/monitoring.md), read from and written to
 * replicated config `mycel.monitoring` (managers/monitoring/records.ts), so
 * every node answers the same once replicated, whoever holds a region's
 * monitoring role. Shapes follow Alertmanager's v2 API where it has one:
 *
 *   GET    /v1/alerts[?region=R&filter=M&active=&silenced=&inhibited=&unprocessed=&resolved=]
 *            [GettableAlert + {region, state: pending|firing|resolved, value}], firing first
 *   GET    /v1/alerts/rules                 {text, setAt, writer, groups: [{name, intervalMs?, limit, rules: [alert]}]}
 *   PUT    /v1/alerts/rules   {text}        checked with the receivers' code, then written
 *   DELETE /v1/alerts/rules
 *   GET|PUT|DELETE /v1/alerts/inhibit-rules   the same for inhibition rules
 *   GET    /v1/silences[?all=true]          [GettableSilence], expired ones only with all=true
 *   POST   /v1/silences {matchers, startsAt?, endsAt | duration, createdBy, comment}  {silenceID}
 *   DELETE /v1/silence/:id                  expires it (Alertmanager: DELETE /api/v2/silence/{id})
 *
 * Suppression is computed here as the holder computes it (suppression.ts),
 * with this node's membership for the built-in topology rule.
 */
import { randomUUID } from 'node:crypto'
import { RequestError } from '../../../lib/errors.js'
import { regionProblem } from '../../../lib/region.js'
import type { Route } from '../router.js'
import type { MemberState } from '../../../protocols/membership/types.js'
import type { Alert } from '../../../managers/monitoring/alert-lifecycle.js'
import { loadAlertStates } from '../../../managers/monitoring/alert-records.js'
import { fingerprint, matches, parseMatchers } from '../../../managers/monitoring/matchers.js'
import { MONITORING_NAMESPACE, silenceKey, SILENCES_PREFIX, validEntries, ALERTS_PREFIX } from '../../../managers/monitoring/records.js'
import { INHIBIT_RULES_KEY, parseTextRecord, RULES_KEY, type TextRecord } from '../../../managers/monitoring/rules-record.js'
import { parseRuleFile } from '../../../managers/monitoring/rule-file.js'
import { parseInhibitFile } from '../../../managers/monitoring/inhibit-file.js'
import { expire, parseSilence, silenceStatus, MAX_SILENCE_MATCHERS, MAX_SILENCES, type Silence } from '../../../managers/monitoring/silences.js'
import { suppression } from '../../../managers/monitoring/suppression.js'
import { parsePromDuration } from '../../../managers/monitoring/duration.js'
import type { ConfigService } from '../../../protocols/config-sync/service.js'
import { writeOptions, writeReply } from './config.js'

/** Go's zero time: Alertmanager's `endsAt` of an alert that has not ended. */
const NOT_ENDED = '0001-01-01T00:00:00Z'

export interface AlertsRoutesInit {
  config: Pick<ConfigService, 'entries' | 'write'>
  /** This node's membership view (the built-in inhibition by a dead peer's MemberDown). */
  memberState: (peer: string) => MemberState | undefined
}

const iso = (ms: number): string => new Date(ms).toISOString()

function boolParam (q: URLSearchParams, name: string, fallback: boolean): boolean {
  const v = q.get(name)
  if (v === null) return fallback
  if (v === 'true') return true
  if (v === 'false') return false
  throw new RequestError(400, `${name} must be true or false`)
}

/** Every region's alerts with their muting, as `GET /v1/alerts` shows them. */
export function listAlerts (init: AlertsRoutesInit, q: URLSearchParams, now = Date.now()): unknown[] {
  const entries = init.config.entries(MONITORING_NAMESPACE)
  const only = q.get('region')
  if (only !== null) {
    const problem = regionProblem(only)
    if (problem !== undefined) throw new RequestError(400, `region: ${problem}`)
  }
  let filter: ReturnType<typeof parseMatchers> = []
  try { filter = parseMatchers(q.getAll('filter')) } catch (err) { throw new RequestError(400, `filter: ${(err as Error).message}`) }
  const want = {
    active: boolParam(q, 'active', true),
    silenced: boolParam(q, 'silenced', true),
    inhibited: boolParam(q, 'inhibited', true),
    unprocessed: boolParam(q, 'unprocessed', true),
    resolved: boolParam(q, 'resolved', false)
  }
  const silences = [...validEntries(entries, SILENCES_PREFIX, (_k, v) => v as Silence).values()]
  let inhibitRules: ReturnType<typeof parseInhibitFile> = []
  const inhibit = entries.find(([k]) => k === INHIBIT_RULES_KEY)?.[1].value
  if (inhibit !== undefined) try { inhibitRules = parseTextRecord('inhibit rules', inhibit, parseInhibitFile).parsed } catch { /* refused on arrival; an older release's file mutes nothing here */ }
  const regions = new Set<string>()
  for (const [k] of entries) if (k.startsWith(ALERTS_PREFIX)) regions.add(k.slice(ALERTS_PREFIX.length).split('/')[0])
  const out: Array<{ order: number, alert: unknown }> = []
  for (const region of [...regions].sort()) {
    if (only !== null && region !== only) continue
    const alerts: Alert[] = [...loadAlertStates(entries, region).byRule.values()].flatMap(r => [...r.state.alerts])
    const muted = suppression({ alerts, silences, inhibitRules, isDead: p => init.memberState(p) === 'dead', now })
    for (const a of alerts) {
      const fp = fingerprint(a.labels)
      const m = muted.get(fp)
      const state = a.state === 'pending' ? 'unprocessed' : m !== undefined ? 'suppressed' : 'active'
      if (a.state === 'resolved' && !want.resolved) continue
      if (state === 'active' && !want.active) continue
      if (state === 'unprocessed' && !want.unprocessed) continue
      if (m !== undefined && ((m.silencedBy.length > 0 && !want.silenced) || (m.inhibitedBy.length > 0 && !want.inhibited))) continue
      if (!matches(filter, a.labels)) continue
      out.push({
        order: a.state === 'firing' ? 0 : a.state === 'pending' ? 1 : 2,
        alert: {
          labels: a.labels,
          annotations: a.annotations,
          startsAt: iso(a.firedAt ?? a.activeAt),
          endsAt: a.resolvedAt !== undefined ? iso(a.resolvedAt) : NOT_ENDED,
          updatedAt: iso(a.resolvedAt ?? a.firedAt ?? a.activeAt),
          generatorURL: '',
          fingerprint: fp,
          receivers: [{ name: 'mycel' }],
          status: { state, silencedBy: m?.silencedBy ?? [], inhibitedBy: m?.inhibitedBy ?? [] },
          region,
          state: a.state,
          activeAt: iso(a.activeAt),
          value: String(a.value)
        }
      })
    }
  }
  return out.sort((x, y) => x.order - y.order).map(x => x.alert)
}

/** Alertmanager's GettableSilence. */
function gettable (s: Silence, now: number): unknown {
  return {
    id: s.id,
    matchers: s.matchers.map(m => ({ name: m.name, value: m.value, isRegex: m.type === '=~' || m.type === '!~', isEqual: m.type === '=' || m.type === '=~' })),
    startsAt: iso(s.startsAt),
    endsAt: iso(s.endsAt),
    updatedAt: iso(Math.min(now, s.endsAt)),
    createdBy: s.createdBy,
    comment: s.comment,
    status: { state: silenceStatus(s, now) }
  }
}

/** A silence from a POST body: Alertmanager's matcher objects or matcher text, and `endsAt` or mycel's `duration`. */
function silenceFromBody (body: unknown, now: number): Silence {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new RequestError(400, 'body must be a JSON object {matchers, endsAt | duration, createdBy, comment}')
  const b = body as Record<string, unknown>
  if (!Array.isArray(b.matchers)) throw new RequestError(400, 'matchers: a list of "name=value" texts or {name, value, isRegex, isEqual} objects')
  // Refused before each is parsed (a regex compiled): the silence's own bound, whatever the body's size.
  if (b.matchers.length > MAX_SILENCE_MATCHERS) throw new RequestError(422, `invalid silence: matchers: at most ${MAX_SILENCE_MATCHERS}`)
  const matchers = b.matchers.flatMap((m: unknown) => {
    if (typeof m === 'string') return parseMatchers(m)
    if (m !== null && typeof m === 'object') {
      const o = m as { name?: unknown, value?: unknown, isRegex?: unknown, isEqual?: unknown }
      const type = o.isRegex === true ? (o.isEqual === false ? '!~' : '=~') : (o.isEqual === false ? '!=' : '=')
      return [{ name: String(o.name ?? ''), type, value: String(o.value ?? '') }]
    }
    throw new RequestError(400, 'matchers: each is "name=value" text or {name, value, isRegex, isEqual}')
  })
  const startsAt = b.startsAt === undefined ? now : Date.parse(String(b.startsAt))
  let endsAt: number
  if (typeof b.duration === 'string') {
    const ms = parsePromDuration(b.duration)
    if (ms === undefined || ms <= 0) throw new RequestError(400, `duration: ${JSON.stringify(b.duration.slice(0, 40))} is not a positive duration (e.g. 30m, 2h, 1d)`)
    endsAt = Math.max(startsAt, now) + ms
  } else {
    endsAt = Date.parse(String(b.endsAt))
  }
  if (!Number.isFinite(startsAt) || !Number.isFinite(endsAt)) throw new RequestError(400, 'startsAt/endsAt must be RFC 3339 times (or give duration)')
  if (endsAt <= now) throw new RequestError(400, 'the silence would end before now')
  return parseSilence({ id: randomUUID(), matchers, startsAt, endsAt, createdBy: b.createdBy, comment: b.comment })
}

function textRoutes (init: AlertsRoutesInit, path: string, key: string, what: string, check: (text: string) => unknown, summary: (parsed: unknown) => unknown): Route[] {
  const read = (): { record: TextRecord, parsed: unknown, writer: string | null } => {
    const e = init.config.entries(MONITORING_NAMESPACE).find(([k]) => k === key)
    if (e === undefined) throw new RequestError(404, `no ${what} set (mycel alert ${key === RULES_KEY ? 'rules' : 'inhibit'} set FILE)`)
    const r = parseTextRecord(what, e[1].value, check)
    return { ...r, writer: e[1].writer ?? null }
  }
  return [
    { method: 'GET', path, handler: () => { const r = read(); return { json: { text: r.record.text, setAt: r.record.setAt, writer: r.writer, ...summary(r.parsed) as object } } } },
    {
      method: 'PUT',
      path,
      handler: async (req) => {
        const text = (req.body as { text?: unknown } | null)?.text
        if (typeof text !== 'string') throw new RequestError(400, 'body must be {"text": "<the file>"}')
        const parsed = check(text)
        const r = await init.config.write(MONITORING_NAMESPACE, key, { v: 1, text, setAt: Date.now() }, writeOptions(req))
        return { json: { ...writeReply(MONITORING_NAMESPACE, key, r), ...summary(parsed) as object } }
      }
    },
    {
      method: 'DELETE',
      path,
      handler: async (req) => {
        const r = await init.config.write(MONITORING_NAMESPACE, key, undefined, { ...writeOptions(req), deleted: true })
        return { json: { ...writeReply(MONITORING_NAMESPACE, key, r), deleted: r.envelope !== undefined } }
      }
    }
  ]
}

export function alertsRoutes (init: AlertsRoutesInit): Route[] {
  const silences = (): Silence[] => [...validEntries(init.config.entries(MONITORING_NAMESPACE), SILENCES_PREFIX, (_k, v) => v as Silence).values()]
  return [
    { method: 'GET', path: '/v1/alerts', handler: (req) => ({ json: listAlerts(init, req.query) }) },
    ...textRoutes(init, '/v1/alerts/rules', RULES_KEY, 'rule file', parseRuleFile, (p) => ({
      groups: (p as ReturnType<typeof parseRuleFile>).map(g => ({ name: g.name, ...(g.intervalMs !== undefined ? { intervalMs: g.intervalMs } : {}), limit: g.limit, rules: g.rules.map(r => r.alert) }))
    })),
    ...textRoutes(init, '/v1/alerts/inhibit-rules', INHIBIT_RULES_KEY, 'inhibit rules', parseInhibitFile, (p) => ({ rules: (p as unknown[]).length })),
    {
      method: 'GET',
      path: '/v1/silences',
      handler: (req) => {
        const now = Date.now()
        const all = boolParam(req.query, 'all', false)
        return { json: silences().filter(s => all || silenceStatus(s, now) !== 'expired').sort((a, b) => b.startsAt - a.startsAt).map(s => gettable(s, now)) }
      }
    },
    {
      method: 'POST',
      path: '/v1/silences',
      handler: async (req) => {
        const now = Date.now()
        const s = silenceFromBody(req.body, now)
        if (silences().filter(x => silenceStatus(x, now) !== 'expired').length >= MAX_SILENCES) throw new RequestError(409, `${MAX_SILENCES} silences are in force; expire some first (mycel alert expire ID)`)
        const r = await init.config.write(MONITORING_NAMESPACE, silenceKey(s.id), s, writeOptions(req))
        return { json: { silenceID: s.id, ...writeReply(MONITORING_NAMESPACE, silenceKey(s.id), r) } }
      }
    },
    {
      method: 'DELETE',
      path: '/v1/silence/:id',
      handler: async (req) => {
        const s = silences().find(x => x.id === req.params.id)
        if (s === undefined) throw new RequestError(404, `no silence ${JSON.stringify(req.params.id.slice(0, 80))}`)
        const ended = expire(s, Date.now())
        const r = await init.config.write(MONITORING_NAMESPACE, silenceKey(s.id), ended, writeOptions(req))
        return { json: { silenceID: s.id, ...writeReply(MONITORING_NAMESPACE, silenceKey(s.id), r), endsAt: iso(ended.endsAt) } }
      }
    }
  ]
}

/**
 * `GET /v1/alerts/anomalies`: the anomaly scores the region's monitoring
 * manager last published (fenced action `anomalies`), highest first:
 * `{region, at, holder, term, scores: [{peer, series, score, anomalous, kind?}]}`, or 404 before any.
 */
export function anomaliesRoute (actions: { latest: (maxAgeMs: number) => Array<{ role: string, kind: string, term: number, holder: string, body: unknown }> }, maxAgeMs: number): Route {
  return {
    method: 'GET',
    path: '/v1/alerts/anomalies',
    handler: () => {
      const o = actions.latest(maxAgeMs).find(x => x.role === 'monitoring' && x.kind === 'anomalies')
      if (o === undefined) throw new RequestError(404, 'no anomaly scores yet: the region\'s monitoring manager publishes them once it holds the role and has replicated config')
      return { json: { ...(o.body as object), holder: o.holder, term: o.term } }
    }
  }
}
