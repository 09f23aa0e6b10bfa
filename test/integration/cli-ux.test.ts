/**
 * The CLI as a user meets it (issue 11, items 7 and 10–15), run as real
 * processes against real agents: exit codes and one-line errors, JSON output,
 * a closed pipe, honest critical status, parameter checks of the API, init/id,
 * the admin API's loopback rule (off loopback only with a token) and `--dev`. Two validator agents (one
 * network with a genesis) serve most cases; one `--dev` agent the rest.
 */
import { expect } from 'chai'
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AgentProcess, CLI, waitFor } from '../../harness/agent-process.js'
import { createIdentity } from '../../daemon/identity.js'
import { writeFileDurable } from '../../lib/durable-file.js'
import { createGenesis, genesisToJson } from '../../protocols/bft/genesis.js'

interface Run { code: number | null, stdout: string, stderr: string }

async function cli (args: string[], env: Record<string, string> = {}): Promise<Run> {
  return await new Promise(resolve => {
    execFile(process.execPath, [CLI, ...args], { timeout: 60_000, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : (typeof err.code === 'number' ? err.code : null), stdout, stderr })
    })
  })
}

/** A usage/config error: exit 2 and exactly one line on stderr, no JSON log, no stack. */
function expectUsageError (r: Run, mentions: string): void {
  expect(r.code, r.stderr).to.equal(2)
  expect(r.stderr.trim().split('\n'), r.stderr).to.have.length(1)
  expect(r.stderr).to.match(/^mycel: /)
  expect(r.stderr).to.include(mentions)
}

async function exited (child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode
  return await new Promise(resolve => child.once('exit', code => resolve(code)))
}

describe('mycel CLI as a user meets it', function () {
  this.timeout(240_000)
  let root: string
  let a: AgentProcess
  let b: AgentProcess
  const agents: AgentProcess[] = []

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mycel-cli-ux-'))
    const ida = await createIdentity(join(root, 'a'))
    const idb = await createIdentity(join(root, 'b'))
    const genesis = join(root, 'genesis.json')
    await writeFileDurable(genesis, genesisToJson(createGenesis({ networkId: 'cli-ux', validators: [ida.peerId, idb.peerId], admins: [ida.peerId] })), 0o644)
    a = await AgentProcess.start({ dataDir: join(root, 'a'), extraArgs: ['--genesis', genesis] })
    agents.push(a)
    b = await AgentProcess.start({ dataDir: join(root, 'b'), extraArgs: ['--genesis', genesis], bootstrap: [a.addr] })
    agents.push(b)
  })

  after(async () => {
    await Promise.all(agents.map(async x => { await x.cleanup() }))
    await rm(root, { recursive: true, force: true })
  })

  it('exits 2 with one line for usage errors and bad files, 1 for runtime failures; a taken port says so', async () => {
    // The parser's usage errors, case by case, are in test/daemon/cli-errors (in-process); one here shows the process does the same.
    expectUsageError(await cli(['members', '--state', 'zombie', '--api', a.api]), 'zombie')
    expectUsageError(await cli(['agent', '--genesis', join(root, 'missing.json'), '--data-dir', join(root, 'x'), '--api', '127.0.0.1:0']), 'missing.json')
    expectUsageError(await cli(['config', 'set', 'Bad-NS/k', '1', '--api', a.api]), 'namespace')
    const down = await cli(['members', '--api', '127.0.0.1:1'])
    expect(down.code).to.equal(1)
    expect(down.stderr).to.include('no mycel agent answers')
    // The libp2p port of agent a is taken: one line naming the address and the reason.
    const taken = await cli(['agent', '--data-dir', join(root, 'y'), '--listen', `/ip4/127.0.0.1/tcp/${a.port}`, '--api', '127.0.0.1:0', '--profile', 'test'])
    expect(taken.code, taken.stderr).to.equal(1)
    expect(taken.stderr.trim().split('\n'), taken.stderr).to.have.length(1)
    expect(taken.stderr).to.include(`/ip4/127.0.0.1/tcp/${a.port}`)
    expect(taken.stderr).to.include('address already in use')
    expect(taken.stderr).to.not.include('faultTolerance')
  })

  it('config get prints JSON ("123" is not 123); config status has --json', async () => {
    expect((await cli(['config', 'set', 'app/s', '"123"', '--api', a.api])).code).to.equal(0)
    expect((await cli(['config', 'set', 'app/n', '123', '--api', a.api])).code).to.equal(0)
    expect((await cli(['config', 'get', 'app/s', '--api', a.api])).stdout).to.equal('"123"\n')
    expect((await cli(['config', 'get', 'app/n', '--api', a.api])).stdout).to.equal('123\n')
    expect((await cli(['config', 'get', 'app/s', '--raw', '--api', a.api])).stdout).to.equal('123\n')
    const st = await cli(['config', 'status', '--json', '--api', a.api])
    expect(st.code, st.stderr).to.equal(0)
    expect((JSON.parse(st.stdout) as { namespaces: string[] }).namespaces).to.include('app')
    expect((await cli(['config', 'status', '--api', a.api])).stdout).to.match(/^peer id\s+12D3KooW/)
  })

  it('critical status through a pipe its reader closed ends quietly (no EPIPE crash)', async () => {
    const child = spawn(process.execPath, [CLI, 'critical', 'status', '--api', a.api], { stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout.destroy() // like `| head -0`: the reader is gone before the first line
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    expect(await exited(child), stderr).to.equal(0)
    expect(stderr).to.equal('')
  })

  it('critical status: validators alive/connected per membership and last vote seen, reported apart', async () => {
    type Status = { validatorsAlive: number, validatorsConnected: number, validatorStates: Array<{ peerId: string, member: string, connected: boolean, lastMessageAt: string | null }> }
    const status = async (): Promise<Status> => await a.get('/v1/bft/status')
    const row = (s: Status, id: string) => s.validatorStates.find(v => v.peerId === id)
    // Before any proposal: both up, nobody has voted yet.
    const before = await waitFor(async () => { const s = await status(); return s.validatorsAlive === 2 && row(s, b.peerId)?.connected === true ? s : undefined }, 30_000, 'b alive and connected')
    expect(row(before, b.peerId)?.lastMessageAt).to.equal(null)
    const text = await cli(['critical', 'status', '--api', a.api])
    expect(text.stdout).to.include('2 alive per membership')
    expect(text.stdout).to.include('none yet')
    // A commit needs b's votes.
    const commit = await a.request('POST', '/v1/critical', { key: 'test/k', value: 'v1', timeoutMs: 20_000 })
    expect(commit.status, JSON.stringify(commit.json)).to.equal(200)
    expect(row(await status(), b.peerId)?.lastMessageAt).to.be.a('string')
    // b dies: membership says so, although b voted moments ago.
    await b.kill('SIGKILL')
    const after = await waitFor(async () => { const s = await status(); return row(s, b.peerId)?.member === 'dead' ? s : undefined }, 30_000, 'b dead per membership')
    expect(after.validatorsAlive).to.equal(1)
    expect(row(after, b.peerId)?.connected).to.equal(false)
    expect(row(after, b.peerId)?.lastMessageAt).to.be.a('string')
    expect((await cli(['critical', 'status', '--api', a.api])).stdout).to.include('1 alive per membership')
    // The timeout names who is missing instead of counting the dead as heard from.
    const timeout = await a.request('POST', '/v1/critical', { key: 'test/k', value: 'v2', timeoutMs: 500 })
    expect(timeout.status).to.equal(504)
    expect(timeout.json.error).to.include('1 of 2 validators alive per membership')
    expect(timeout.json.error).to.include(`dead: ${b.peerId}`)
  })

  it('API: an unknown role or a bad region is a 400 at once, not a DHT lookup or a silent default', async () => {
    const started = Date.now()
    const role = await a.request('GET', '/v1/roles/default/notarole')
    expect(role.status).to.equal(400)
    expect(Date.now() - started).to.be.below(2_000)
    expect((await a.request('GET', '/v1/roles?region=BAD%20X')).status).to.equal(400)
    expect((await a.request('GET', '/v1/members?region=BAD%20X')).status).to.equal(400)
  })

  it('init writes only the identity (no region the agent would ignore); id prints an existing data dir\'s peer id', async () => {
    const dir = join(root, 'init')
    const made = await cli(['init', '--data-dir', dir])
    expect(made.code, made.stderr).to.equal(0)
    const peerId = made.stdout.trim()
    expect(await stat(join(dir, 'config.yaml')).then(() => true, () => false)).to.equal(false)
    expect((await cli(['id', '--data-dir', dir])).stdout.trim()).to.equal(peerId)
    expectUsageError(await cli(['init', '--data-dir', dir]), peerId)
    expectUsageError(await cli(['id', '--data-dir', join(root, 'empty')]), 'mycel init')
  })

  it('--dev: a temporary data dir only without --data-dir, removed on stop; non-loopback API only with a token; no genesis and a stopped agent are said plainly', async () => {
    const tmp = join(root, 'tmp')
    await mkdir(tmp)
    const env = { TMPDIR: tmp }
    expectUsageError(await cli(['agent', '--dev', '--api', '0.0.0.0:0'], env), '--api-auth token')
    // The removed escape hatch says what replaced it.
    expectUsageError(await cli(['agent', '--dev', '--api', '0.0.0.0:0', '--api-insecure-remote'], env), 'apiAuth: token')
    const given = await cli(['agent', '--dev', '--data-dir', join(root, 'dev-given'), '--check'], env)
    expect(given.code, given.stderr).to.equal(0)
    expect((JSON.parse(given.stdout) as { dataDir: string }).dataDir).to.equal(join(root, 'dev-given'))
    expect(await readdir(tmp)).to.deep.equal([])
    // --check without --data-dir names the temporary dir a run would make, and leaves none behind.
    const checked = await cli(['agent', '--dev', '--check'], env)
    expect(checked.code, checked.stderr).to.equal(0)
    expect((JSON.parse(checked.stdout) as { dataDir: string }).dataDir.startsWith(join(tmp, 'mycel-dev-'))).to.equal(true)
    expect(await readdir(tmp)).to.deep.equal([])

    const dev = spawn(process.execPath, [CLI, 'agent', '--dev', '--api', '0.0.0.0:0', '--api-auth', 'token'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } })
    let devErr = ''
    dev.stderr.on('data', (d: Buffer) => { devErr += d.toString() })
    try {
      const info = await waitFor(async () => {
        const [d] = await readdir(tmp)
        return d === undefined ? undefined : { dir: join(tmp, d), ...JSON.parse(await readFile(join(tmp, d, 'agent.json'), 'utf8')) as { api: string } }
      }, 60_000, 'dev agent started')
      expect(devErr).to.include('non-loopback')
      const tokenFile = join(info.dir, 'api.token')
      const crit = await cli(['critical', 'status', '--api', info.api, '--token-file', tokenFile])
      expect(crit.code).to.equal(1)
      expect(crit.stderr).to.include('no genesis')

      const watch = spawn(process.execPath, [CLI, 'config', 'watch', 'app', '--api', info.api, '--token-file', tokenFile], { stdio: ['ignore', 'pipe', 'pipe'] })
      let out = ''
      let err = ''
      watch.stdout.on('data', (d: Buffer) => { out += d.toString() })
      watch.stderr.on('data', (d: Buffer) => { err += d.toString() })
      await waitFor(() => out.includes('-- watching app'), 30_000, 'watch started')
      dev.kill('SIGTERM')
      expect(await exited(dev), devErr.slice(-2000)).to.equal(0)
      expect(await exited(watch)).to.equal(1)
      expect(err).to.include('ended the watch of app')
      expect(await readdir(tmp), 'the temporary data dir is removed').to.deep.equal([])
    } finally {
      dev.kill('SIGKILL')
    }
  })
})
