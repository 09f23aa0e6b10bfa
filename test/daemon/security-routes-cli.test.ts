/**
 * Security monitoring's admin routes (daemon/api/routes/security.ts) over an
 * in-memory `mycel.security`, and `mycel security findings|audit` against a
 * fake agent API: per region the highest term's findings, audit events
 * oldest first with a limit, proposals printed as the exact revoke command.
 */
import { strict as assert } from 'node:assert'
import { securityRoutes } from '../../daemon/api/routes/security.js'
import type { ApiRequest, Route } from '../../daemon/api/router.js'
import { auditKey, checkSecurityEntry, findingsKey, SECURITY_NAMESPACE, type AuditEvent, type FindingsRecord } from '../../managers/security-records.js'
import { fakeAgentApi, type FakeAgentApi } from '../helpers/fake-agent-api.js'

const BAD = '12D3KooWBadPeer'
const GOOD = '12D3KooWOther'

async function call (routes: Route[], path: string, query = ''): Promise<{ status: number, json: any }> {
  const route = routes.find(r => r.method === 'GET' && r.path === path)
  if (route === undefined) throw new Error(`no route ${path}`)
  try {
    const out = await route.handler({ method: 'GET', params: {}, query: new URLSearchParams(query), body: undefined, signal: new AbortController().signal } as unknown as ApiRequest) as { status?: number, json: unknown }
    return { status: out.status ?? 200, json: out.json }
  } catch (err: any) {
    if (typeof err.status !== 'number') throw err
    return { status: err.status, json: { error: err.message } }
  }
}

function findings (region: string, term: number, peers: string[], propose = false): FindingsRecord {
  return {
    v: 1, region, term, at: 5_000, autoProposeRevocation: propose,
    findings: peers.map(peer => ({
      peer, kinds: { bad_signature: 4, replay: 1 }, over: ['bad_signature'], reporters: ['12D3KooWR1'], reporterCount: 1, firstSeen: 1_000, lastSeen: 2_000,
      ...(propose ? { proposal: { action: 'revoke' as const, command: `mycel admission revoke ${peer}` } } : {})
    }))
  }
}

function event (id: string, at: number, kind: AuditEvent['kind'] = 'revocation'): AuditEvent {
  return { v: 1, id, kind, at, height: 7, detail: `event ${id}`, recordedBy: { region: 'eu', term: 1 } }
}

describe('security monitoring: routes and CLI', () => {
  const data = new Map<string, { value: unknown, writer?: string }>()
  const put = (key: string, value: unknown): void => { checkSecurityEntry(key, value); data.set(key, { value, writer: 'holder' }) }
  const routes = securityRoutes({ entries: (ns) => ns === SECURITY_NAMESPACE ? [...data] : [] })

  before(() => {
    put(findingsKey('eu', 1), findings('eu', 1, [GOOD]))
    put(findingsKey('eu', 2), findings('eu', 2, [BAD], true))
    put(findingsKey('us', 4), findings('us', 4, []))
    put(auditKey(`critical/7/admission/revoked/${BAD}`), event(`critical/7/admission/revoked/${BAD}`, 300))
    put(auditKey('critical/3/admission'), event('critical/3/admission', 100, 'policy'))
    put(auditKey(`finding/eu/${BAD}/1000`), event(`finding/eu/${BAD}/1000`, 200, 'finding'))
    // Not a record of the namespace's rule (an older release): skipped, not served.
    data.set('audit/junk', { value: { v: 2 } })
  })

  it('GET /v1/security/findings: per region the highest term, by region; ?region filters; a bad region is a 400', async () => {
    const all = await call(routes, '/v1/security/findings')
    assert.equal(all.status, 200)
    assert.deepEqual(all.json.regions.map((r: any) => [r.region, r.term, r.findings.map((f: any) => f.peer)]), [['eu', 2, [BAD]], ['us', 4, []]])
    assert.equal(all.json.regions[0].writer, 'holder')
    assert.deepEqual(all.json.regions[0].findings[0].proposal, { action: 'revoke', command: `mycel admission revoke ${BAD}` })
    assert.deepEqual((await call(routes, '/v1/security/findings', 'region=us')).json.regions.map((r: any) => r.region), ['us'])
    assert.equal((await call(routes, '/v1/security/findings', 'region=EU WEST')).status, 400)
  })

  it('GET /v1/security/audit: oldest first, the newest `limit`, with the total; a bad limit is a 400', async () => {
    const all = await call(routes, '/v1/security/audit')
    assert.deepEqual(all.json.events.map((e: AuditEvent) => e.kind), ['policy', 'finding', 'revocation'])
    assert.equal(all.json.total, 3)
    assert.deepEqual((await call(routes, '/v1/security/audit', 'limit=1')).json.events.map((e: AuditEvent) => e.kind), ['revocation'])
    for (const bad of ['0', '-1', 'x', '1.5', '100000']) assert.equal((await call(routes, '/v1/security/audit', `limit=${bad}`)).status, 400, bad)
  })

  describe('CLI', () => {
    let agent: FakeAgentApi
    before(async () => { agent = await fakeAgentApi() })
    after(async () => { await agent.close() })
    beforeEach(() => { agent.seen.length = 0 })

    it('mycel security findings prints a row per finding and every proposal as the exact command, committing nothing', async () => {
      agent.reply = { status: 200, body: (await call(routes, '/v1/security/findings')).json }
      const r = await agent.run('security', 'findings')
      assert.equal(r.code, 0, r.stderr)
      assert.deepEqual(agent.seen.map(s => `${s.method} ${s.url}`), ['GET /v1/security/findings'])
      assert.match(r.stdout, /REGION\s+PEER\s+OVER/)
      assert.match(r.stdout, new RegExp(`eu\\s+${BAD}\\s+bad_signature\\s+bad_signature=4 replay=1\\s+1`))
      assert.match(r.stdout, /revoke proposed/)
      assert.match(r.stdout, new RegExp(`not committed[^\\n]*\\n  mycel admission revoke ${BAD}\\n`))
    })

    it('--json prints the reply as it is; --region asks for one region', async () => {
      agent.reply = { status: 200, body: { regions: [] } }
      const r = await agent.run('security', 'findings', '--json', '--region', 'us')
      assert.equal(r.code, 0, r.stderr)
      assert.deepEqual(JSON.parse(r.stdout), { regions: [] })
      assert.equal(agent.seen[0].url, '/v1/security/findings?region=us')
      const none = await agent.run('security', 'findings')
      assert.match(none.stdout, /no findings: no security manager has judged a region yet/)
    })

    it('mycel security audit prints the events oldest first and says how many older ones are hidden; a bad --limit exits 2 before asking', async () => {
      agent.reply = { status: 200, body: (await call(routes, '/v1/security/audit', 'limit=2')).json }
      const r = await agent.run('security', 'audit', '--limit', '2')
      assert.equal(r.code, 0, r.stderr)
      assert.equal(agent.seen[0].url, '/v1/security/audit?limit=2')
      const lines = r.stdout.trim().split('\n')
      assert.match(lines[0], /^AT\s+KIND\s+HEIGHT\s+DETAIL$/)
      assert.match(lines[1], /finding/)
      assert.match(lines[2], /revocation/)
      assert.match(r.stdout, /1 older events not shown/)
      agent.seen.length = 0
      const bad = await agent.run('security', 'audit', '--limit', '0')
      assert.equal(bad.code, 2)
      assert.equal(agent.seen.length, 0)
      const json = await agent.run('security', 'audit', '--json')
      assert.equal(JSON.parse(json.stdout).total, 3)
    })
  })
})
