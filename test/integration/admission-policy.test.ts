/**
 * The admission policy with real processes (issue 15): a genesis with four
 * validators (the first also the admin), an allowlist naming one follower,
 * an outsider not on it, and two hosts holding one single-use join token.
 *  - the outsider is never a member anywhere and none of its writes lands;
 *    `mycel admission allow` admits it;
 *  - a join token admits its first host everywhere and is refused to the
 *    second, which stops with one line saying why;
 *  - `mycel admission revoke` cuts the follower off on every node: no
 *    connection to it, listed `revoked`, its later writes land nowhere;
 *  - `mycel identity rotate` keeps the token holder a member under its new
 *    id, and its old id is revoked everywhere when the grace ends;
 *  - a validator's key rotation (docs/security.md runbook): rotate, then
 *    replace its id in `bft/validators`; with another validator down, a
 *    commit needs (and gets) the new id's vote.
 */
import { strict as assert } from 'node:assert'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readFile } from 'node:fs/promises'
import { AgentProcess, waitFor } from '../../harness/agent-process.js'
import { createIdentity } from '../../daemon/identity.js'
import { writeFileDurable } from '../../lib/durable-file.js'
import { createGenesis, genesisToJson } from '../../protocols/bft/genesis.js'
import { cli, ok } from '../helpers/cli-process.js'

interface AdmissionView {
  mode: string
  revoked: Array<{ peerId: string }>
  connected: Array<{ peerId: string, verdict: string }>
  refused: Array<{ peerId: string, reason: string }>
  refusedBy: Array<{ peerId: string, reason: string, detail: string }>
}

describe('admission policy (real processes)', function () {
  this.timeout(300_000)
  let root: string
  let genesis: string
  const ids: Record<string, string> = {}
  const dirs: Record<string, string> = {}
  let validators: AgentProcess[] = []
  let follower: AgentProcess
  let outsider: AgentProcess
  let joiner: AgentProcess | undefined
  const everyone = (): AgentProcess[] => [...validators, follower, outsider, ...(joiner !== undefined ? [joiner] : [])].filter(a => a !== undefined)
  const alive = async (a: AgentProcess): Promise<string[]> => (await a.members()).filter(m => m.state === 'alive').map(m => m.peerId)
  const value = async (a: AgentProcess, key: string): Promise<unknown> => {
    const r = await a.request('GET', `/v1/config/app/${key}`)
    return r.status === 200 ? r.json.value : undefined
  }

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mycel-admission-policy-'))
    for (const n of ['v0', 'v1', 'v2', 'v3', 'follower', 'outsider', 'j1', 'j2']) {
      dirs[n] = join(root, n)
      ids[n] = (await createIdentity(dirs[n])).peerId
    }
    genesis = join(root, 'genesis.json')
    await writeFileDurable(genesis, genesisToJson(createGenesis({
      networkId: 'it-admission-policy',
      validators: [ids.v0, ids.v1, ids.v2, ids.v3],
      admins: [ids.v0],
      values: { admission: JSON.stringify({ mode: 'allowlist', allow: [ids.follower] }) }
    })), 0o644)
    const args = ['--genesis', genesis, '--roles', '']
    const v0 = await AgentProcess.start({ dataDir: dirs.v0, extraArgs: args })
    validators = [v0, ...await Promise.all(['v1', 'v2', 'v3'].map(async n => await AgentProcess.start({ dataDir: dirs[n], extraArgs: args, bootstrap: [v0.addr] })))]
    follower = await AgentProcess.start({ dataDir: dirs.follower, extraArgs: args, bootstrap: [v0.addr] })
    for (const a of [...validators, follower]) await waitFor(async () => (await alive(a)).length === 5, 60_000, 'the allowed agents to join')
    outsider = await AgentProcess.start({ dataDir: dirs.outsider, extraArgs: args, bootstrap: [v0.addr, validators[1].addr] })
  })

  afterEach(async function () {
    if (this.currentTest?.state !== 'failed' || process.env.MYCEL_IT_LOGS === undefined) return
    const { writeFile } = await import('node:fs/promises')
    for (const [i, a] of everyone().entries()) await writeFile(join(process.env.MYCEL_IT_LOGS, `admission-policy-${i}.log`), a.stderr)
  })

  after(async () => {
    for (const a of everyone()) await a.cleanup().catch(() => {})
    await rm(root, { recursive: true, force: true })
  })

  it('keeps an outsider off the allowlist out everywhere until `admission allow` admits it', async () => {
    assert.equal((await outsider.request('PUT', '/v1/config/app/outsider', { value: 'early' })).status, 200)
    // Both bootstrap peers refused it, and it was told why.
    await waitFor(async () => {
      const v = await outsider.get<AdmissionView>('/v1/admission')
      return v.refusedBy.filter(r => r.reason === 'not_allowed').length >= 1
    }, 60_000, 'the outsider to be told it is not allowed')
    // It dials its bootstrap peers one at a time (daemon/redial.ts): the second one a stagger after the first refused it.
    for (const v of validators.slice(0, 2)) {
      await waitFor(async () => (await v.get<AdmissionView>('/v1/admission')).refused.some(r => r.peerId === ids.outsider && r.reason === 'not_allowed'),
        30_000, `bootstrap peer ${v.peerId} to refuse the outsider`)
    }
    // A write of an allowed node spreads meanwhile: the network is not just slow.
    assert.equal((await validators[1].request('PUT', '/v1/config/app/control', { value: 'spread' })).status, 200)
    for (const a of [...validators, follower]) await waitFor(async () => await value(a, 'control') === 'spread', 30_000, 'the control write to spread')
    for (const a of [...validators, follower]) {
      assert.ok(!(await a.members()).some(m => m.peerId === ids.outsider), 'the outsider is a member somewhere')
      assert.equal(await value(a, 'outsider'), undefined, 'the outsider\'s write landed')
    }

    await ok('admission', 'allow', ids.outsider, '--api', validators[0].api)
    for (const a of [...validators, follower]) {
      await waitFor(async () => (await alive(a)).includes(ids.outsider), 60_000, 'the allowed outsider to become a member')
    }
    await waitFor(async () => await value(validators[2], 'outsider') === 'early', 60_000, 'the admitted outsider\'s write to land')
  })

  it('admits the first host with a join token and refuses the token to the second', async () => {
    const token = (await ok('admission', 'token', 'create', '--ttl', '5m', '--api', validators[0].api)).trim()
    assert.match(token, /^mycel-join1\./)
    joiner = await AgentProcess.start({ dataDir: dirs.j1, extraArgs: ['--genesis', genesis, '--roles', '', '--join-token', token], bootstrap: [validators[0].addr] })
    for (const a of [...validators, follower, joiner]) {
      await waitFor(async () => (await alive(a)).includes(ids.j1), 60_000, 'the token holder to become a member everywhere')
    }
    const list = JSON.parse(await ok('admission', 'list', '--json', '--api', validators[3].api)) as { allowed: Array<{ peerId: string, token?: string }> }
    assert.ok(list.allowed.some(a => a.peerId === ids.j1 && a.token !== undefined), JSON.stringify(list))

    const second = await cli('agent', '--data-dir', dirs.j2, '--genesis', genesis, '--roles', '', '--join-token', token, '--profile', 'test',
      '--listen', '/ip4/127.0.0.1/tcp/0', '--api', '127.0.0.1:0', '--bootstrap', validators[1].addr)
    assert.equal(second.code, 1, second.stderr.slice(-2000))
    assert.match(second.stderr, /join token refused by .*already used 1 of 1 time/)
    for (const a of validators) assert.ok(!(await a.members()).some(m => m.peerId === ids.j2))
  })

  it('cuts a revoked follower off on every node and refuses its later writes', async () => {
    const started = Date.now()
    await ok('admission', 'revoke', ids.follower, '--reason', 'compromised (test)', '--api', validators[0].api)
    const others = [...validators, outsider, joiner as AgentProcess]
    for (const a of others) {
      await waitFor(async () => {
        const view = await a.get<AdmissionView>('/v1/admission')
        const m = (await a.members()).find(x => x.peerId === ids.follower)
        return view.revoked.some(r => r.peerId === ids.follower) && !view.connected.some(c => c.peerId === ids.follower) && m?.state === 'revoked'
      }, 30_000, 'every node to drop the revoked follower')
    }
    const elapsed = Date.now() - started
    assert.ok(elapsed < 30_000, `revocation took ${elapsed} ms to reach every node`)
    // Its writes after the revocation land nowhere; a write of an admitted node made after it does.
    assert.equal((await follower.request('PUT', '/v1/config/app/after', { value: 'revoked' })).status, 200)
    assert.equal((await validators[2].request('PUT', '/v1/config/app/control2', { value: 'spread' })).status, 200)
    for (const a of others) await waitFor(async () => await value(a, 'control2') === 'spread', 30_000, 'the control write to spread')
    for (const a of others) assert.equal(await value(a, 'after'), undefined, 'a write of the revoked follower landed')
    // It cannot come back: redials are refused with the reason.
    const refused = await validators[1].get<AdmissionView>('/v1/admission')
    assert.ok(!refused.connected.some(c => c.peerId === ids.follower))
  })

  it('keeps a node a member under its new id after a key rotation, and revokes the old id when the grace ends', async () => {
    const j = joiner as AgentProcess
    const old = j.peerId
    const r = await j.request('POST', '/v1/identity/rotate', { graceMs: 4000 })
    assert.equal(r.status, 200, JSON.stringify(r.json))
    const fresh = r.json.new as string
    assert.equal(r.json.old, old)
    // The agent restarts in-process under the new key and rewrites agent.json.
    await waitFor(async () => {
      const a = JSON.parse(await readFile(join(dirs.j1, 'agent.json'), 'utf8')) as { peerId: string, api: string }
      if (a.peerId !== fresh) return false
      j.api = a.api
      j.peerId = a.peerId
      return true
    }, 60_000, 'the agent to restart under its new id')
    for (const a of [...validators, outsider]) {
      await waitFor(async () => (await alive(a)).includes(fresh), 60_000, 'the new id to be a member everywhere')
    }
    for (const a of [...validators, outsider]) {
      await waitFor(async () => (await a.members()).find(m => m.peerId === old)?.state === 'revoked', 30_000, 'the old id to be revoked when the grace ends')
    }
  })

  it('rotates a validator\'s key by the runbook: rotate, replace it in bft/validators, the new id votes', async () => {
    const v3 = validators[3]
    const r = await v3.request('POST', '/v1/identity/rotate', { graceMs: 120_000 })
    assert.equal(r.status, 200, JSON.stringify(r.json))
    const fresh = r.json.new as string
    await waitFor(async () => {
      const a = JSON.parse(await readFile(join(dirs.v3, 'agent.json'), 'utf8')) as { peerId: string, api: string }
      if (a.peerId !== fresh) return false
      v3.api = a.api
      v3.peerId = a.peerId
      return true
    }, 60_000, 'the validator to restart under its new id')
    const set = [ids.v0, ids.v1, ids.v2, fresh]
    await ok('critical', 'propose', 'bft/validators', JSON.stringify(set), '--api', validators[0].api)
    // The change at height h governs from h + 2; h + 1 is still the old set's (three of its four are up).
    await ok('admission', 'allow', ids.j2, '--api', validators[0].api)
    interface Status { validators: string[] }
    assert.ok((await validators[0].get<Status>('/v1/bft/status')).validators.includes(fresh))
    // With a second validator down, the new set's quorum (3 of 4) needs the rotated one's vote: a commit proves it votes.
    await validators[2].kill()
    await ok('critical', 'propose', 'acl/rotation-check', '"open"', '--api', validators[0].api)
  })
})
