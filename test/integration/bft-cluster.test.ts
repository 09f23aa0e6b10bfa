/**
 * Critical config with real agent processes: 4 validators and 2
 * non-validators on loopback, one genesis file. A commit works; with one
 * validator SIGKILLed commits go on; with two down a proposal times out
 * cleanly and is applied nowhere; after the restart the cluster resumes and
 * every node, non-validators included, holds the same certified entries. A
 * peer with another genesis is refused with a log line.
 */
import { strict as assert } from 'node:assert'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { spawnSync } from 'node:child_process'
import { AgentProcess, waitFor } from '../../harness/agent-process.js'
import { createIdentity } from '../../daemon/identity.js'
import { createGenesis, genesisToJson } from '../../protocols/bft/genesis.js'
import { writeFileDurable } from '../../lib/durable-file.js'

interface KeyReply { value: string, height: number, certificate: { precommits: Array<{ validator: string }>, blockHash: string } | null }

describe('bft cluster (4 validators + 2 followers, real processes)', function () {
  // Generous: on a loaded 2-core machine six agents take long to start and connect.
  this.timeout(600_000)
  let root: string
  let genesisFile: string
  let validators: AgentProcess[] = []
  let followers: AgentProcess[] = []
  let stranger: AgentProcess | undefined
  const all = (): AgentProcess[] => [...validators, ...followers]

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mycel-bft-'))
    const dirs = Array.from({ length: 6 }, (_, i) => join(root, `n${i}`))
    const ids = []
    for (const d of dirs) ids.push((await createIdentity(d)).peerId)
    const g = createGenesis({ networkId: 'it-bft', validators: ids.slice(0, 4), admins: [ids[0], ids[1], ids[4]], values: { 'policy/admission': 'open' } })
    genesisFile = join(root, 'genesis.json')
    await writeFileDurable(genesisFile, genesisToJson(g), 0o644)
    const extraArgs = ['--genesis', genesisFile, ...(process.env.BFT_IT_LOGS !== undefined ? ['--log-level', 'debug'] : [])]
    const first = await AgentProcess.start({ dataDir: dirs[0], extraArgs })
    const rest = await Promise.all(dirs.slice(1).map(async d => await AgentProcess.start({ dataDir: d, extraArgs, bootstrap: [first.addr] })))
    validators = [first, ...rest.slice(0, 3)]
    followers = rest.slice(3)
  })

  afterEach(async function () {
    if ((this.currentTest?.state !== 'failed' && process.env.BFT_IT_LOGS_ALWAYS === undefined) || process.env.BFT_IT_LOGS === undefined) return
    const { writeFile } = await import('node:fs/promises')
    for (const [i, a] of all().entries()) await writeFile(join(process.env.BFT_IT_LOGS, `agent-${i}.log`), a.stderr)
  })

  after(async () => {
    for (const a of [...all(), ...(stranger !== undefined ? [stranger] : [])]) await a.cleanup().catch(() => {})
    await rm(root, { recursive: true, force: true })
  })

  const propose = async (a: AgentProcess, key: string, value: string, timeoutMs = 15_000): Promise<{ status: number, json: any }> =>
    await a.request('POST', '/v1/critical', { key, value, timeoutMs })

  const valueAt = async (a: AgentProcess, key: string): Promise<KeyReply | undefined> => {
    const r = await a.request('GET', `/v1/critical/${encodeURIComponent(key)}`)
    return r.status === 200 ? r.json as KeyReply : undefined
  }

  const everyoneHas = async (nodes: AgentProcess[], key: string, value: string): Promise<void> => {
    await waitFor(async () => {
      for (const a of nodes) {
        const v = await valueAt(a, key)
        if (v?.value !== value) return false
      }
      return true
    }, 120_000, `${key}=${value} on every node`, 250)
  }

  it('commits a proposal and every node, followers included, holds it with a certificate', async () => {
    const r = await waitFor(async () => {
      const res = await propose(validators[0], 'acl/billing', 'alice')
      return res.status === 200 ? res : undefined
    }, 240_000, 'first commit', 500) as { status: number, json: any }
    assert.equal(r.json.height >= 1, true)
    assert.ok(r.json.certificate.precommits.length >= 3)
    await everyoneHas(all(), 'acl/billing', 'alice')
    for (const f of followers) {
      const v = await valueAt(f, 'acl/billing') as KeyReply
      assert.ok((v.certificate?.precommits.length ?? 0) >= 3)
    }
    // A follower that is an admin can propose too: its entry goes to the validators.
    const fr = await propose(followers[0], 'acl/ops', 'bob')
    assert.equal(fr.status, 200, JSON.stringify(fr.json))
    await everyoneHas(all(), 'acl/ops', 'bob')
    // A non-admin is refused.
    const na = await propose(validators[2], 'acl/ops', 'mallory')
    assert.equal(na.status, 403)
  })

  it('the CLI proposes, reads, lists and reports status', async () => {
    const cli = (...args: string[]): { status: number | null, stdout: string, stderr: string } => {
      const r = spawnSync(process.execPath, [resolve('dist/daemon/cli.js'), ...args], { encoding: 'utf8', timeout: 120_000 })
      return { status: r.status, stdout: r.stdout, stderr: r.stderr }
    }
    const api = ['--api', validators[1].api]
    const p = cli('critical', 'propose', 'acl/cli', '["x"]', '--timeout', '30000', ...api)
    assert.equal(p.status, 0, p.stderr)
    assert.match(p.stdout, /acl\/cli committed at height \d+/)
    const g = cli('critical', 'get', 'acl/cli', '--json', '--api', followers[1].api)
    if (g.status !== 0 || JSON.parse(g.stdout).value !== '["x"]') {
      await everyoneHas([followers[1]], 'acl/cli', '["x"]')
    }
    const g2 = JSON.parse(cli('critical', 'get', 'acl/cli', '--json', '--api', followers[1].api).stdout)
    assert.equal(g2.value, '["x"]')
    assert.ok(g2.certificate.precommits.length >= 3)
    const l = cli('critical', 'list', ...api)
    assert.equal(l.status, 0, l.stderr)
    assert.match(l.stdout, /policy\/admission\s+genesis\s+open/)
    const st = cli('critical', 'status', ...api)
    assert.equal(st.status, 0, st.stderr)
    assert.match(st.stdout, /validators\s+4/)
    const bad = cli('critical', 'propose', 'acl/cli', 'y', '--api', validators[2].api)
    assert.equal(bad.status, 1)
    assert.match(bad.stderr, /not an admin/)
  })

  it('still commits with one validator SIGKILLed', async () => {
    await validators[3].kill('SIGKILL')
    const r = await propose(validators[0], 'acl/billing', 'carol', 20_000)
    assert.equal(r.status, 200, JSON.stringify(r.json))
    await everyoneHas([...validators.slice(0, 3), ...followers], 'acl/billing', 'carol')
  })

  it('with two validators down a proposal times out cleanly and is applied nowhere', async () => {
    await validators[2].kill('SIGKILL')
    const t0 = Date.now()
    const r = await propose(validators[0], 'acl/billing', 'dave', 2_000)
    assert.equal(r.status, 504, JSON.stringify(r.json))
    assert.match(r.json.error, /not committed/)
    assert.ok(Date.now() - t0 < 60_000)
    for (const a of [validators[0], validators[1], ...followers]) assert.equal((await valueAt(a, 'acl/billing'))?.value, 'carol')
  })

  it('after restart the cluster resumes and all six nodes agree; the expired proposal never appears', async () => {
    await validators[2].spawn()
    await validators[3].spawn()
    const r = await waitFor(async () => {
      const res = await propose(validators[1], 'acl/billing', 'erin', 10_000)
      return res.status === 200 ? res : undefined
    }, 240_000, 'commit after restart', 500) as { status: number, json: any }
    assert.ok(r.json.height >= 3)
    await everyoneHas(all(), 'acl/billing', 'erin')
    const heights = await Promise.all(all().map(async a => (await a.get('/v1/critical')).height as number))
    const hashes = await Promise.all(all().map(async a => (await valueAt(a, 'acl/billing'))?.certificate?.blockHash))
    assert.equal(new Set(hashes).size, 1, `different certified blocks: ${hashes.join(',')}`)
    assert.ok(heights.every(h => h === heights[0]), `heights ${heights.join(',')}`)
    for (const a of all()) {
      const list = (await a.get('/v1/critical')).entries as Array<{ key: string, value: string }>
      assert.ok(!list.some(e => e.value === 'dave'))
    }
    const status = await validators[0].get('/v1/bft/status')
    assert.equal(status.validator, true)
    assert.equal(status.committedHeight, heights[0])
  })

  it('refuses a peer whose genesis differs, with a clear log line', async () => {
    const dir = join(root, 'stranger')
    const id = (await createIdentity(dir)).peerId
    const other = join(root, 'other-genesis.json')
    await writeFileDurable(other, genesisToJson(createGenesis({ networkId: 'elsewhere', validators: [id], admins: [id] })), 0o644)
    stranger = await AgentProcess.start({ dataDir: dir, extraArgs: ['--genesis', other], bootstrap: [validators[0].addr] })
    await waitFor(() => validators[0].stderr.includes(`refusing peer ${id}`) || stranger?.stderr.includes('refusing peer'), 60_000, 'genesis mismatch log line', 250)
  })
})
