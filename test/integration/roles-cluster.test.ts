/**
 * Roles with real agent processes (issue 5): 3 regions x 3 agents on
 * loopback, test profile (lease 8 s, renew 2 s, skew margin 0.3 s).
 *  - exactly one holder per (region, role), the XOR-closest, seen alike by all;
 *  - a node in one region resolves another region's holders through the DHT;
 *  - SIGKILL of a holder: a successor with a higher term within one lease
 *    period plus detection, and not before the old holder's lease lapsed or
 *    its contact lapse ran out after the kill (constants.ts contactLapseMs);
 *  - a holder cut off by a partition (test-only connection-gater hook, env
 *    MYCEL_TEST_HOOKS=1) stops acting when its contact or lease lapses,
 *    before anyone else starts, and its stale-term actions are ignored after
 *    the heal;
 *  - after that heal every view agrees again (docs/roles.md, "Views after a heal").
 * When a wait for agreement times out, every agent's election log is printed.
 */
import { strict as assert } from 'node:assert'
import { AgentProcess, waitFor } from '../../harness/agent-process.js'
import { pickHolder, rankCandidates } from '../../protocols/election/rule.js'
import { electionTunables } from '../../protocols/election/constants.js'
import { ROLE_NAMES } from '../../managers/registry.js'

const REGIONS = ['r1', 'r2', 'r3']
const ROLES = [...ROLE_NAMES]
const CFG = electionTunables.defaults('test')

interface Row { region: string, role: string, holder?: string, term?: number, status: string, expiresAt?: number }
interface Local { role: string, acting: boolean, term?: number, since?: number, lastHandoff?: { at: number, term: number, reason: string } }
interface View { peerId: string, region: string, regions: Array<{ region: string, roles: Row[] }>, local: Local[] }

const rows = (v: View): Row[] => v.regions.flatMap(r => r.roles)
const row = (v: View, region: string, role: string): Row | undefined => rows(v).find(r => r.region === region && r.role === role)

/** The value `pattern` captures in the agent's /metrics; with the `g` flag, the sum over every series it matches. */
async function metric (a: AgentProcess, pattern: RegExp): Promise<number> {
  const res = await fetch(`http://${a.api}/metrics`, { signal: AbortSignal.timeout(10_000) })
  const text = await res.text()
  if (pattern.global) return [...text.matchAll(pattern)].reduce((sum, m) => sum + Number(m[1]), 0)
  const m = pattern.exec(text)
  return m === null ? 0 : Number(m[1])
}

describe('roles with 3 regions x 3 agent processes', function () {
  this.timeout(300_000)
  let agents: AgentProcess[] = []
  const env = { MYCEL_TEST_HOOKS: '1' }
  const inRegion = (region: string): AgentProcess[] => agents.filter(a => a.opts.region === region)
  const alive = (): AgentProcess[] => agents.filter(a => a.exitCode === null)
  const byId = (id: string | undefined): AgentProcess | undefined => agents.find(a => a.peerId === id)

  /** All live agents agree on one active holder per (region, role), and exactly that agent acts. */
  /** Why the last converged() call said no (printed when a wait times out). */
  let why = ''
  const short = (id?: string): string => id?.slice(-6) ?? '-'
  async function converged (): Promise<Map<string, Row> | false> {
    const live = alive()
    const views = await Promise.all(live.map(async a => await a.get<View>('/v1/roles')))
    const agreed = new Map<string, Row>()
    for (const region of REGIONS) {
      const members = live.filter(a => a.opts.region === region)
      for (const role of ROLES) {
        const first = row(views[0], region, role)
        const no = (reason: string): false => { why = `${region}/${role}: ${reason}`; return false }
        if (first?.status !== 'active' || first.holder === undefined) return no(`status ${first?.status} holder ${short(first?.holder)} in ${short(live[0].peerId)}'s view`)
        if (!members.some(m => m.peerId === first.holder)) return no(`holder ${short(first.holder)} not a live member of the region`)
        for (const [i, v] of views.entries()) if (row(v, region, role)?.holder !== first.holder) return no(`${short(live[i].peerId)} sees ${short(row(v, region, role)?.holder)} t${row(v, region, role)?.term}, ${short(live[0].peerId)} sees ${short(first.holder)} t${first.term}`)
        const acting = live.filter((a, i) => views[i].local.find(l => l.role === role)?.acting === true && a.opts.region === region)
        if (acting.length !== 1 || acting[0].peerId !== first.holder) return no(`acting: [${acting.map(a => short(a.peerId)).join(',')}], holder ${short(first.holder)}`)
        agreed.set(`${region}/${role}`, first)
      }
    }
    return agreed
  }
  /** The last roles log lines (JSON, on the agent's stderr: daemon/logger.ts) of each agent. */
  const roleLogs = new Map<AgentProcess, string[]>()
  const started = (a: AgentProcess): AgentProcess => {
    const kept: string[] = []
    roleLogs.set(a, kept)
    let partial = ''
    a.child?.stderr?.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n')
      partial = lines.pop() ?? ''
      for (const l of lines) if (l.includes('"component":"roles"')) kept.push(l)
      if (kept.length > 2_000) kept.splice(0, kept.length - 2_000)
    })
    return a
  }
  /** Each agent's election and role log lines, one short line each: what a failed wait needs to be explained. */
  const electionLog = (): string => agents.map(a => {
    const lines = (roleLogs.get(a) ?? []).flatMap(l => {
      try {
        const j = JSON.parse(l) as Record<string, unknown>
        if (j.component !== 'roles' || typeof j.msg !== 'string') return []
        return [`  ${String(j.time)} ${j.msg} ${String(j.region ?? '')}/${String(j.role ?? '')} t${String(j.term ?? '')} ${short((j.holder ?? j.winner) as string | undefined)} ${String(j.reason ?? '')}`]
      } catch { return [] }
    })
    return `${a.opts.region} ${short(a.peerId)}${a.exitCode !== null ? ' (exited)' : ''}:\n${lines.join('\n')}`
  }).join('\n')
  const convergedOrWhy = async (ms: number, what: string): Promise<Map<string, Row>> => {
    try {
      return await waitFor(converged, ms, what, 500) as Map<string, Row>
    } catch (err) {
      process.stderr.write(`election logs:\n${electionLog()}\n`)
      throw new Error(`${(err as Error).message}; last: ${why}`)
    }
  }

  before(async () => {
    const first = started(await AgentProcess.start({ region: REGIONS[0], env }))
    agents = [first]
    // allSettled: every agent that did start is in `agents` and cleaned up; one whose start timed out was killed by the harness.
    const rest = await Promise.allSettled(Array.from({ length: 8 }, async (_, i) =>
      started(await AgentProcess.start({ region: REGIONS[(i + 1) % 3], bootstrap: [first.addr], env }))))
    for (const r of rest) if (r.status === 'fulfilled') agents.push(r.value)
    const failed = rest.find(r => r.status === 'rejected')
    if (failed !== undefined) throw (failed as PromiseRejectedResult).reason
    // Membership first: the election can only agree once the views do.
    // What each agent saw last, printed if the wait times out.
    const seen = new Map<AgentProcess, string>()
    try {
      await waitFor(async () => (await Promise.all(agents.map(async a => {
        try {
          const v = await a.members()
          seen.set(a, `${v.filter(m => m.state === 'alive').length} alive/${v.length}`)
          return v.filter(m => m.state === 'alive').length === 9
        } catch (err) { seen.set(a, `error ${(err as Error).message}`); return false }
      }))).every(Boolean), 120_000, 'all 9 agents to see 9 alive', 500)
    } catch (err) {
      throw new Error(`${(err as Error).message}; last: ${agents.map(a => `${short(a.peerId)} ${seen.get(a)}`).join(', ')}`)
    }
  })
  after(async () => {
    await Promise.all(agents.map(async a => { await a.cleanup() }))
  })
  // A partition step that failed before its heal must not leave the next steps a cut-off agent.
  let cutOff: AgentProcess | undefined
  afterEach(async () => {
    if (cutOff === undefined) return
    await cutOff.request('POST', '/v1/test/partition', { deny: [] }).catch(() => undefined)
    cutOff = undefined
  })

  it('elects exactly one holder per (region, role): the XOR-closest candidate, the same in every view', async () => {
    const started = Date.now()
    const agreed = await convergedOrWhy(90_000, 'one agreed holder per (region, role)')
    process.stderr.write(`      (converged ${Date.now() - started} ms after the last agent started)\n`)
    for (const region of REGIONS) {
      const cands = inRegion(region).map(a => ({ peerId: a.peerId, region, roles: ROLES }))
      for (const role of ROLES) assert.equal(agreed.get(`${region}/${role}`)?.holder, pickHolder(region, role, cands), `${region}/${role}`)
    }
  })

  it('a node in one region resolves every other region\'s holders through the DHT', async () => {
    const asker = inRegion('r1')[1]
    for (const region of ['r2', 'r3']) {
      const expected = await convergedOrWhy(60_000, 'converged before resolving')
      for (const role of ROLES) {
        const r = await waitFor(async () => {
          const res = await asker.get<{ source: string, holder?: string, term?: number, dhtRecords: number, candidates: string[], status: string, copies: { dht: { holder: string } | null } }>(`/v1/roles/${region}/${role}`)
          return res.copies.dht !== null && res.dhtRecords > 0 ? res : false
        }, 30_000, `DHT resolution of ${region}/${role}`, 500)
        const want = expected.get(`${region}/${role}`)
        if (want !== undefined) assert.equal(r.holder, want.holder)
        assert.ok(inRegion(region).some(a => a.peerId === r.holder), 'holder belongs to the region')
        assert.ok(inRegion(region).some(a => a.peerId === r.copies.dht?.holder), 'the DHT copy names a holder of the region')
        // The DHT copy may trail the gossiped renewals by a put or two; the token is what must match.
        assert.notEqual(r.status, 'none')
      }
    }
    // Candidates: every r3 member, from the r1 asker's membership view, ranked
    // by the rule, so the first is the holder.
    const r3 = inRegion('r3').map(a => a.peerId)
    const want = rankCandidates('r3', 'network', r3.map(peerId => ({ peerId, region: 'r3', roles: ROLES })))
    // One poll may catch a member briefly suspected on a loaded machine.
    const res = await waitFor(async () => {
      const r = await asker.get<{ candidates: string[], holder?: string }>('/v1/roles/r3/network')
      return JSON.stringify(r.candidates) === JSON.stringify(want) ? r : false
    }, 15_000, 'every r3 member a candidate of r3/network, ranked', 500)
    assert.equal(res.candidates[0], res.holder)
  })

  it('SIGKILL of a holder: a successor with a higher term within one lease period plus detection', async () => {
    const agreed = await convergedOrWhy(60_000, 'converged before the kill')
    const old = agreed.get('r2/network')!
    const victim = byId(old.holder)!
    const killedAt = Date.now()
    await victim.kill('SIGKILL')
    const survivors = inRegion('r2').filter(a => a !== victim)
    // The victim's last renewal as the survivors saw it: the successor must wait for its lapse, or for the
    // contact lapse after the survivors declared the victim dead (which was after the kill).
    const last = row(await survivors[0].get<View>('/v1/roles'), 'r2', 'network')!
    assert.equal(last.holder, victim.peerId)
    const next = await waitFor(async () => {
      const views = await Promise.all(survivors.map(async a => await a.get<View>('/v1/roles')))
      const r = row(views[0], 'r2', 'network')
      if (r?.status !== 'active' || r.holder === victim.peerId || (r.term ?? 0) <= (old.term ?? 0)) return false
      const i = survivors.findIndex(a => a.peerId === r.holder)
      const local = views[i]?.local.find(l => l.role === 'network')
      return local?.acting === true ? { row: r, since: local.since ?? Date.now() } : false
    }, 60_000, 'a new r2/network holder', 100)
    const failoverMs = next.since - killedAt
    process.stderr.write(`      (failover ${failoverMs} ms; lease ${CFG.leaseMs} ms)\n`)
    assert.ok(next.row.term! > old.term!, 'higher term')
    // The successor waited for the old lease to lapse or for the contact lapse after the kill (plus the skew margin)...
    const lapse = Math.min(last.expiresAt!, killedAt + CFG.contactLapseMs) + CFG.maxClockSkewMs
    assert.ok(next.since >= lapse - 50, `started ${lapse - next.since} ms before the old lease or the contact lapsed`)
    // ...and took no longer than one lease period plus detection, view settle, renew tick and claim settle
    // (detection and scheduling get a generous 5 s on a shared 2-core VM).
    const bound = CFG.leaseMs + CFG.maxClockSkewMs + CFG.viewSettleMs + CFG.renewIntervalMs * 1.1 + CFG.claimSettleMs + 5_000
    assert.ok(failoverMs <= bound, `failover took ${failoverMs} ms (bound ${bound} ms)`)
    const cands = survivors.map(a => ({ peerId: a.peerId, region: 'r2', roles: ROLES }))
    assert.equal(next.row.holder, pickHolder('r2', 'network', cands))
  })

  it('a partitioned holder stops when its contact or lease lapses, before the successor acts; its stale-term actions are ignored', async () => {
    const agreed = await convergedOrWhy(60_000, 'converged before the partition')
    const old = agreed.get('r3/monitoring')!
    const cut = byId(old.holder)!
    const others = inRegion('r3').filter(a => a !== cut)
    const res = await cut.request('POST', '/v1/test/partition', { deny: 'all' })
    assert.equal(res.status, 200)
    cutOff = cut
    const partitionedAt = Date.now()

    // The cut-off holder stops acting by itself: its renewals reach nobody.
    // Wait for its handoff after the partition: `acting` follows the clock
    // (false from the lapse on), `lastHandoff` the demotion event a moment
    // later, and until then it is the role's previous handoff, if it had one
    // (CI: a 'superseded' that had led to the term cut off here).
    const stopped = await waitFor(async () => {
      const v = await cut.get<View>('/v1/roles')
      const l = v.local.find(x => x.role === 'monitoring')
      return l?.acting === false && l.lastHandoff !== undefined && l.lastHandoff.at >= partitionedAt ? l.lastHandoff : false
    }, CFG.leaseMs + 5_000, 'the cut-off holder to stop acting', 100)
    // It stops when it has heard from no member for the contact lapse, or when its lease lapses, whichever comes first.
    assert.ok(['contact-lost', 'lease-lapsed'].includes(stopped.reason), `stopped for ${stopped.reason}`)
    assert.equal(stopped.term, old.term, 'the term it held when cut off')
    assert.ok(stopped.at - partitionedAt <= CFG.leaseMs + 1_000, `kept acting ${stopped.at - partitionedAt} ms after the partition`)

    // The rest elect a successor with a higher term, which starts only after the old holder stopped.
    const next = await waitFor(async () => {
      for (const a of others) {
        const v = await a.get<View>('/v1/roles')
        const l = v.local.find(x => x.role === 'monitoring')
        if (l?.acting === true && (l.term ?? 0) > (old.term ?? 0)) return { agent: a, since: l.since!, term: l.term! }
      }
      return false
    }, 60_000, 'a successor for r3/monitoring', 200)
    assert.ok(next.since > stopped.at, `successor started ${stopped.at - next.since} ms before the old holder stopped`)

    // Cut off, it claims no new term: it has heard from no member for the
    // contact lapse, so a term it claimed could not be acted on (docs/roles.md,
    // "Leases that live while their holder is seen"). Before that rule it
    // claimed every r3 role once their leases lapsed in its view, reaching
    // nobody, and re-read them from the DHT ("Views after a heal", cause 1).
    // The partition lasts two leases, below the test profile's 30 s reap
    // (after which a node that knows no member is a one-node cluster).
    const failedClaim = (): boolean => (roleLogs.get(cut) ?? []).some(l => {
      try {
        // pino's isoTime: an ISO string.
        const j = JSON.parse(l) as { time?: string, msg?: string, renewing?: boolean }
        return j.msg === 'lease claim/renewal reached no peer' && j.renewing === false && Date.parse(j.time ?? '') >= partitionedAt
      } catch { return false }
    })
    await waitFor(async () => {
      assert.ok(!failedClaim(), 'the cut-off node claimed a term while it heard from no member')
      return Date.now() - partitionedAt >= 2 * CFG.leaseMs
    }, 3 * CFG.leaseMs, 'two leases of partition', 200)
    assert.ok(!failedClaim(), 'the cut-off node claimed a term while it heard from no member')

    // Heal; then the old holder replays its old term: every region member must ignore it.
    const receiver = others.find(a => a !== next.agent) ?? next.agent
    const before = await metric(receiver, /mycel_roles_actions_total\{role="monitoring",result="stale_term"\} (\d+)/)
    assert.equal((await cut.request('POST', '/v1/test/partition', { deny: [] })).status, 200)
    cutOff = undefined
    process.stderr.write(`      (partition lasted ${Date.now() - partitionedAt} ms)\n`)
    await waitFor(async () => {
      const m = await receiver.members()
      return m.find(x => x.peerId === cut.peerId)?.state === 'alive'
    }, 60_000, 'the healed holder to be alive again', 500)
    await waitFor(async () => {
      const r = await cut.request('POST', '/v1/test/roles/monitoring/stale-action', { term: old.term })
      assert.equal(r.status, 200)
      return await metric(receiver, /mycel_roles_actions_total\{role="monitoring",result="stale_term"\} (\d+)/) > before
    }, 30_000, 'the stale action to be counted as stale_term', 1_000)
    const outputs = await receiver.get<{ outputs: Array<{ kind: string }> }>('/v1/roles/outputs')
    assert.ok(!outputs.outputs.some(o => o.kind === 'stale-probe'), 'a stale action was applied')
  })

  // Runs right after the heal above: once failed in about 1 run in 4 (docs/roles.md, "Views after a heal").
  it('after the heal every view converges again to one holder per (region, role)', async () => {
    await convergedOrWhy(60_000, 'convergence after the heal')
  })
})
