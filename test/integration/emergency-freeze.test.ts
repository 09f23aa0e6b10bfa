/**
 * The minimal core's handoff and the emergency freeze with real processes
 * (issue 17, item 4; docs/minimal-core.md): four agents of one network with a
 * genesis (one validator and admin). `mycel status` shows the handoff to the
 * management services; `mycel emergency freeze` (a BFT commit) stops every
 * role's duty on every node within seconds, while elections go on and the
 * minimal core serves: members alive, a config write replicates, critical
 * config answers. A node restarted while frozen comes up frozen and runs no
 * duty. `mycel emergency thaw` hands control back, to the same holders.
 */
import { strict as assert } from 'node:assert'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AgentProcess, waitFor } from '../../harness/agent-process.js'
import { createIdentity } from '../../daemon/identity.js'
import { writeFileDurable } from '../../lib/durable-file.js'
import { createGenesis, genesisToJson } from '../../protocols/bft/genesis.js'
import { cli } from '../helpers/cli-process.js'

/** How long a freeze may take from its commit to every node's duties stopping (the measured value is far lower: docs/minimal-core.md). */
const FREEZE_WITHIN_MS = 5_000

interface Control { state: string, since: number, reason: string, frozen?: { scope: string, by: string, reason: string } }
interface RolesView {
  control: Control
  regions: Array<{ region: string, roles: Array<{ role: string, holder?: string, term?: number, status: string }> }>
  local: Array<{ role: string, acting: boolean, active?: boolean }>
}

describe('minimal core: handoff and emergency freeze (real processes)', function () {
  this.timeout(120_000)
  let root: string
  let agents: AgentProcess[] = []
  let genesis: string

  const roles = async (a: AgentProcess): Promise<RolesView> => await a.get<RolesView>('/v1/roles')
  /** Role → holder/term as `a` sees the leases. */
  const holders = async (a: AgentProcess): Promise<Record<string, string>> => {
    const v = await roles(a)
    return Object.fromEntries(v.regions.flatMap(r => r.roles).map(r => [r.role, `${r.holder ?? '-'}@${r.term ?? '-'}`]))
  }
  /** The roles whose duty runs on some node now. */
  const activeDuties = async (): Promise<Set<string>> => {
    const on = new Set<string>()
    for (const a of agents) for (const l of (await roles(a)).local) if (l.active === true) on.add(l.role)
    return on
  }

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mycel-freeze-'))
    const dirs = [0, 1, 2, 3].map(i => join(root, `a${i}`))
    const ids: string[] = []
    for (const d of dirs) ids.push((await createIdentity(d)).peerId)
    genesis = join(root, 'genesis.json')
    await writeFileDurable(genesis, genesisToJson(createGenesis({ networkId: 'it-freeze', validators: [ids[0] as string], admins: [ids[0] as string] })), 0o644)
    const a0 = await AgentProcess.start({ dataDir: dirs[0], extraArgs: ['--genesis', genesis] })
    agents = [a0, ...await Promise.all(dirs.slice(1).map(async d => await AgentProcess.start({ dataDir: d, extraArgs: ['--genesis', genesis], bootstrap: [a0.addr] })))]
    for (const a of agents) await waitFor(async () => (await a.members()).filter(m => m.state === 'alive').length === 4, 30_000, 'four members alive')
  })

  afterEach(async function () {
    if (this.currentTest?.state !== 'failed' || process.env.MYCEL_IT_LOGS === undefined) return
    const { writeFile } = await import('node:fs/promises')
    for (const [i, a] of agents.entries()) await writeFile(join(process.env.MYCEL_IT_LOGS, `freeze-${i}.log`), a.stderr)
  })

  after(async () => {
    for (const a of agents) await a.cleanup().catch(() => {})
    await rm(root, { recursive: true, force: true })
  })

  it('hands control to the management services once the core is ready, shown by mycel status and /v1/roles', async () => {
    for (const a of agents) await waitFor(async () => (await roles(a)).control.state === 'services', 15_000, 'handoff on every node')
    const status = await cli('status', '--api', agents[1]!.api)
    assert.equal(status.code, 0, status.stderr)
    assert.match(status.stdout, /control: {5}services since .*\(minimal core ready\)/)
    // Logged once, at info, on every node.
    for (const a of agents) assert.equal(a.stderr.split('\n').filter(l => l.includes('"control handed to the management services"')).length, 1)
    await waitFor(async () => (await activeDuties()).size === 5, 30_000, 'a duty running for each of the five roles')
  })

  it('freezes every node within seconds; the core keeps serving; a node restarted while frozen comes up frozen; thaw resumes the same holders', async () => {
    const before = await holders(agents[0]!)
    // The node to restart while frozen: one that runs no duty, if any (a0 stays up: it is the validator), so thaw needs no new election.
    const idle = []
    for (const a of agents.slice(1)) if ((await roles(a)).local.every(l => l.active !== true)) idle.push(a)
    const r = idle[0] ?? agents[3]!
    const out = await cli('emergency', 'freeze', '--reason', 'bad release 1.4', '--json', '--api', agents[0]!.api)
    assert.equal(out.code, 0, out.stderr)
    const written = JSON.parse(out.stdout) as { record: { at: number }, height: number }
    assert.ok(written.height >= 1)
    // Every node: frozen, no duty running. Timed on the nodes (same host clock): the record's time to each node's transition.
    const applied: number[] = []
    for (const a of agents) {
      await waitFor(async () => {
        const v = await roles(a)
        return v.control.state === 'frozen' && v.local.every(l => l.active !== true)
      }, 15_000, `${a.peerId} frozen`)
      const c = (await roles(a)).control
      assert.equal(c.frozen?.by, agents[0]!.peerId, 'who froze: the admin that signed the entry')
      assert.equal(c.frozen?.reason, 'bad release 1.4')
      applied.push(c.since - written.record.at)
    }
    process.stderr.write(`      freeze record → control frozen, per node: ${applied.map(ms => `${ms} ms`).join(', ')}\n`)
    for (const ms of applied) assert.ok(ms <= FREEZE_WITHIN_MS, `a node froze ${ms} ms after the record (limit ${FREEZE_WITHIN_MS})`)
    assert.equal((await activeDuties()).size, 0)

    // The minimal core serves: members, a config write that replicates, critical config; elections go on.
    for (const a of agents) assert.equal((await a.members()).filter(m => m.state === 'alive').length, 4)
    const put = await agents[2]!.request('PUT', '/v1/config/app/while-frozen', { value: 'yes' })
    assert.equal(put.status, 200, JSON.stringify(put.json))
    await waitFor(async () => (await agents[3]!.request('GET', '/v1/config/app/while-frozen')).status === 200, 10_000, 'config write replicated while frozen')
    assert.equal((await agents[3]!.request('GET', `/v1/critical/${encodeURIComponent('emergency/*')}`)).status, 200)
    const status = await cli('status', '--api', agents[3]!.api)
    assert.match(status.stdout, /control: {5}frozen since .*every region.*bad release 1\.4/)
    const rolesCli = await cli('roles', '--api', agents[3]!.api)
    assert.match(rolesCli.stdout, /control: frozen/)

    // A node restarted while frozen: frozen again before any duty runs (a0 stays up: it is the validator).
    await r.stop()
    await r.spawn()
    await waitFor(async () => (await roles(r)).control.state === 'frozen', 10_000, 'restarted node frozen')
    assert.ok(!r.stderr.includes('"control handed to the management services"'), 'never handed off after the restart')
    assert.ok(!r.stderr.includes('"role activated"'), 'no duty ran after the restart')
    await waitFor(async () => (await r.members()).filter(m => m.state === 'alive').length === 4, 15_000, 'restarted node rejoined')

    const thaw = await cli('emergency', 'thaw', '--api', agents[0]!.api)
    assert.equal(thaw.code, 0, thaw.stderr)
    for (const a of agents) await waitFor(async () => (await roles(a)).control.state === 'services', 15_000, `${a.peerId} thawed`)
    await waitFor(async () => (await activeDuties()).size === 5, 30_000, 'every role\'s duty running again')
    // Same holders where the restarted node held nothing (its own leases lapsed with its restart).
    const after = await holders(agents[0]!)
    for (const [role, h] of Object.entries(before)) if (!h.startsWith(r.peerId)) assert.equal(after[role], h, `${role}: same holder and term after thaw`)
    const st = await cli('emergency', 'status', '--api', agents[1]!.api)
    assert.match(st.stdout, /\*\s+thawed/)
  })
})
