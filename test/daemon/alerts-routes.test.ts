/**
 * The alerting admin routes (daemon/api/routes/alerts.ts) over replicated
 * config in memory: every refusal is a 4xx with one clear line and writes
 * nothing; what the routes write passes the receivers' check
 * (`checkMonitoringEntry`; a property over generated bodies); GET
 * /v1/alerts shows the stored alerts with their muting and honours its
 * filters.
 */
import { callRoute } from '../helpers/route-call.js'
import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import { alertsRoutes } from '../../daemon/api/routes/alerts.js'
import type { ApiRequest, Route } from '../../daemon/api/router.js'
import { toRecord, type Alert } from '../../managers/monitoring/alert-lifecycle.js'
import { fingerprint } from '../../managers/monitoring/matchers.js'
import { alertKey, checkMonitoringEntry, MONITORING_NAMESPACE as NS, type StoredAlert } from '../../managers/monitoring/records.js'
import { RULES_KEY } from '../../managers/monitoring/rules-record.js'
import { MAX_SILENCES } from '../../managers/monitoring/silences.js'
import type { MemberState } from '../../protocols/membership/types.js'

type Entry = { value: unknown, writer?: string }

/** Replicated config as the routes see it: writes are recorded, not checked (the tests check them). */
class Config {
  readonly data = new Map<string, Entry>()
  readonly writes: Array<{ key: string, value: unknown, deleted: boolean }> = []
  entries (ns: string): Array<[string, Entry]> { return ns === NS ? [...this.data] : [] }
  async write (ns: string, key: string, value: unknown, opts: { deleted?: boolean } = {}): Promise<any> {
    assert.equal(ns, NS)
    this.writes.push({ key, value, deleted: opts.deleted === true })
    if (opts.deleted === true) this.data.delete(key)
    else this.data.set(key, { value, writer: 'self' })
    return { envelope: { writer: 'self', seq: this.writes.length }, acked: [] }
  }
}

const call = callRoute

const RULES = `groups:
  - name: members
    rules:
      - alert: MemberDown
        expr: mycel_member_up == 0
        for: 30s
`

function storeAlert (config: Config, region: string, a: Partial<Alert> & { labels: Record<string, string> }, term = 1): void {
  const alert: Alert = { annotations: {}, state: 'firing', value: 0, activeAt: 1000, firedAt: 2000, ...a }
  const { sent: _s, until: _u, ...rec } = toRecord({ alerts: [alert] }).alerts[0]
  const value: StoredAlert = { v: 1, term, group: 'members', rule: a.labels.alertname, alert: rec }
  const key = alertKey(region, fingerprint(a.labels))
  checkMonitoringEntry(key, value)
  config.data.set(key, { value })
}

describe('alerting admin routes', () => {
  let config: Config
  let states: Map<string, MemberState>
  let routes: Route[]

  beforeEach(() => {
    config = new Config()
    states = new Map()
    routes = alertsRoutes({ config, memberState: p => states.get(p) })
  })

  it('rules: PUT checks the file (422 with the line), stores it as the receivers check it; GET gives it back; 404 before', async () => {
    assert.equal((await call(routes, 'GET', '/v1/alerts/rules')).status, 404)
    for (const body of [undefined, null, [], 'text', { text: 1 }, { file: RULES }]) {
      const r = await call(routes, 'PUT', '/v1/alerts/rules', { body })
      assert.equal(r.status, 400, JSON.stringify(body))
      assert.match(r.json.error, /body must be \{"text"/)
    }
    const bad = await call(routes, 'PUT', '/v1/alerts/rules', { body: { text: RULES.replace('mycel_member_up == 0', 'mycel_member_up ==') } })
    assert.equal(bad.status, 422)
    assert.match(bad.json.error, /^line 5: .*expr/)
    assert.equal(bad.json.error.includes('\n'), false)
    assert.equal(config.writes.length, 0)
    const ok = await call(routes, 'PUT', '/v1/alerts/rules', { body: { text: RULES } })
    assert.equal(ok.status, 200)
    assert.deepEqual(ok.json.groups, [{ name: 'members', limit: 0, rules: ['MemberDown'] }])
    assert.equal(config.writes.length, 1)
    checkMonitoringEntry(config.writes[0].key, config.writes[0].value)
    const got = await call(routes, 'GET', '/v1/alerts/rules')
    assert.equal(got.json.text, RULES)
    assert.equal((await call(routes, 'DELETE', '/v1/alerts/rules')).json.deleted, true)
    assert.equal(config.data.has(RULES_KEY), false)
  })

  it('inhibit rules: a bad file is a 422 naming its line, a good one is stored', async () => {
    const bad = await call(routes, 'PUT', '/v1/alerts/inhibit-rules', { body: { text: 'inhibit_rules:\n  - source_matchers: ["a=~("]\n    target_matchers: [b=c]\n' } })
    assert.equal(bad.status, 422, bad.json.error)
    const ok = await call(routes, 'PUT', '/v1/alerts/inhibit-rules', { body: { text: 'inhibit_rules:\n  - source_matchers: [severity=critical]\n    target_matchers: [severity=warning]\n    equal: [peer]\n' } })
    assert.equal(ok.status, 200)
    assert.equal(ok.json.rules, 1)
    checkMonitoringEntry(config.writes[0].key, config.writes[0].value)
  })

  it('silences: every bad body is a 4xx with one line, and nothing is written', async () => {
    const now = Date.now()
    const base = { matchers: ['alertname=MemberDown'], duration: '1h', createdBy: 'op', comment: 'maintenance' }
    const table: Array<[string, unknown, number, RegExp]> = [
      ['no body', undefined, 400, /body must be a JSON object/],
      ['an array', [base], 400, /body must be a JSON object/],
      ['matchers not a list', { ...base, matchers: 'alertname=MemberDown' }, 400, /matchers/],
      ['no matchers', { ...base, matchers: [] }, 422, /at least one matcher/],
      ['a matcher that does not parse', { ...base, matchers: ['alertname~x'] }, 400, /bad matcher/],
      ['a regex that does not compile', { ...base, matchers: ['alertname=~"("'] }, 400, /bad matcher/],
      ['a matcher of another type', { ...base, matchers: [7] }, 400, /matchers/],
      ['matchers that match everything', { ...base, matchers: ['alertname=~".*"'] }, 422, /empty string/],
      ['too many matchers', { ...base, matchers: Array.from({ length: 1000 }, (_, i) => `l${i}=v`) }, 422, /matchers/],
      ['a duration that is not one', { ...base, duration: 'soon' }, 400, /duration/],
      ['a negative duration', { ...base, duration: '-1h' }, 400, /duration/],
      ['an end in the past', { ...base, duration: undefined, endsAt: new Date(now - 60_000).toISOString() }, 400, /end before now/],
      ['an end before the start', { ...base, duration: undefined, startsAt: new Date(now + 7_200_000).toISOString(), endsAt: new Date(now + 3_600_000).toISOString() }, 422, /end time must not be before start time/],
      ['no end', { ...base, duration: undefined }, 400, /RFC 3339/],
      ['a start that is no time', { ...base, startsAt: 'tomorrow' }, 400, /RFC 3339/],
      ['no author', { ...base, createdBy: '' }, 422, /createdBy/],
      ['no comment', { ...base, comment: undefined }, 422, /comment/],
      ['a duration beyond any date', { ...base, duration: '300000y' }, 400, /duration/]
    ]
    for (const [name, body, status, error] of table) {
      const r = await call(routes, 'POST', '/v1/silences', { body })
      assert.equal(r.status, status, `${name}: ${r.json?.error}`)
      assert.match(r.json.error, error, name)
      assert.equal(r.json.error.includes('\n'), false, name)
    }
    assert.deepEqual(config.writes, [])
  })

  it('silences: created, listed, expired once (409 again), 404 for an unknown id; MAX_SILENCES in force → 409', async () => {
    const r = await call(routes, 'POST', '/v1/silences', { body: { matchers: ['alertname=MemberDown', { name: 'peer', value: 'p.*', isRegex: true }], duration: '2h', createdBy: 'op', comment: 'c' } })
    assert.equal(r.status, 200, r.json.error)
    const id = r.json.silenceID as string
    checkMonitoringEntry(config.writes[0].key, config.writes[0].value)
    const listed = (await call(routes, 'GET', '/v1/silences')).json
    assert.deepEqual(listed.map((s: any) => [s.id, s.status.state, s.matchers.length]), [[id, 'active', 2]])
    assert.equal((await call(routes, 'GET', '/v1/silences', { query: 'all=maybe' })).status, 400)
    assert.equal((await call(routes, 'DELETE', '/v1/silence/:id', { params: { id: 'nope' } })).status, 404)
    assert.equal((await call(routes, 'DELETE', '/v1/silence/:id', { params: { id } })).status, 200)
    checkMonitoringEntry(config.writes[1].key, config.writes[1].value)
    assert.equal((await call(routes, 'DELETE', '/v1/silence/:id', { params: { id } })).status, 409)
    assert.deepEqual((await call(routes, 'GET', '/v1/silences')).json, [])
    assert.equal((await call(routes, 'GET', '/v1/silences', { query: 'all=true' })).json.length, 1)
    for (let i = 0; i < MAX_SILENCES; i++) {
      const s = { id: `s${i}`, matchers: [{ name: 'a', type: '=', value: 'b' }], startsAt: 0, endsAt: 8e15, createdBy: 'op', comment: 'c' }
      config.data.set(`silences/s${i}`, { value: s })
    }
    const over = await call(routes, 'POST', '/v1/silences', { body: { matchers: ['a=b'], duration: '1h', createdBy: 'op', comment: 'c' } })
    assert.equal(over.status, 409)
  })

  it('any silence POST accepts passes the receivers\' check (property)', async () => {
    const matcher = fc.oneof(
      fc.tuple(fc.constantFrom('alertname', 'peer', 'severity', 'x_1', '1bad', ''), fc.constantFrom('=', '!=', '=~', '!~'), fc.string({ maxLength: 12 })).map(([n, op, v]) => `${n}${op}${JSON.stringify(v)}`),
      fc.record({ name: fc.constantFrom('alertname', 'peer', '', 'a b'), value: fc.string({ maxLength: 12 }), isRegex: fc.boolean(), isEqual: fc.boolean() }, { requiredKeys: ['name', 'value'] })
    )
    const body = fc.record({
      matchers: fc.array(matcher, { maxLength: 4 }),
      startsAt: fc.option(fc.integer({ min: -3_600_000, max: 3_600_000 }).map(d => new Date(Date.now() + d).toISOString()), { nil: undefined }),
      endsAt: fc.option(fc.integer({ min: -3_600_000, max: 7_200_000 }).map(d => new Date(Date.now() + d).toISOString()), { nil: undefined }),
      duration: fc.option(fc.constantFrom('30m', '1h', '0s', '1d', 'x'), { nil: undefined }),
      createdBy: fc.option(fc.string({ maxLength: 8 }), { nil: undefined }),
      comment: fc.option(fc.string({ maxLength: 8 }), { nil: undefined })
    }, { requiredKeys: [] })
    await fc.assert(fc.asyncProperty(body, async (b) => {
      const before = config.writes.length
      const r = await call(routes, 'POST', '/v1/silences', { body: b })
      if (r.status === 200) {
        const w = config.writes[before]
        checkMonitoringEntry(w.key, w.value)
      } else {
        assert.ok(r.status >= 400 && r.status < 500, `${r.status}: ${r.json.error}`)
        assert.equal(config.writes.length, before)
      }
    }), { numRuns: 300 })
  })

  it('GET /v1/alerts: stored alerts with their muting, firing first; filters; bad parameters are 400', async () => {
    storeAlert(config, 'eu', { labels: { alertname: 'MemberDown', peer: 'p1' } })
    storeAlert(config, 'eu', { labels: { alertname: 'Busy', peer: 'p1' } })
    storeAlert(config, 'eu', { labels: { alertname: 'Busy', peer: 'p2' }, state: 'pending', firedAt: undefined })
    storeAlert(config, 'us', { labels: { alertname: 'Busy', peer: 'p3' }, state: 'resolved', resolvedAt: 3000 })
    storeAlert(config, 'us', { labels: { alertname: 'Busy', peer: 'p4' }, value: Number.NaN })
    config.data.set('silences/s1', { value: { id: 's1', matchers: [{ name: 'peer', type: '=', value: 'p4' }], startsAt: 0, endsAt: 8e15, createdBy: 'op', comment: 'c' } })
    states.set('p1', 'dead')
    const shown = (q = ''): Promise<Array<{ labels: Record<string, string>, region: string, state: string, status: { state: string, silencedBy: string[], inhibitedBy: string[] }, value: string }>> => call(routes, 'GET', '/v1/alerts', { query: q }).then(r => { assert.equal(r.status, 200, r.json.error); return r.json })
    const all = await shown()
    assert.deepEqual(all.map(a => `${a.region} ${a.labels.alertname}{${a.labels.peer}} ${a.state} ${a.status.state}`), [
      'eu MemberDown{p1} firing active',
      'eu Busy{p1} firing suppressed', // inhibited by p1's MemberDown: p1 is dead
      'us Busy{p4} firing suppressed', // silenced
      'eu Busy{p2} pending unprocessed'
    ])
    assert.equal(all.find(a => a.labels.peer === 'p4')?.value, 'NaN')
    assert.deepEqual(all[1].status.inhibitedBy, [fingerprint({ alertname: 'MemberDown', peer: 'p1' })])
    assert.deepEqual((await shown('region=us&resolved=true')).map(a => a.labels.peer), ['p4', 'p3'])
    assert.deepEqual((await shown('silenced=false&inhibited=false&unprocessed=false')).map(a => a.labels.peer), ['p1'])
    assert.deepEqual((await shown('filter=alertname%3DBusy&filter=peer%3D~"p%5B12%5D"')).map(a => a.labels.peer), ['p1', 'p2'])
    for (const q of ['region=EU%20WEST', 'filter=alertname~x', 'active=yes', 'resolved=1']) {
      const r = await call(routes, 'GET', '/v1/alerts', { query: q })
      assert.equal(r.status, 400, q)
    }
  })
})
