/**
 * Durable state with real agent processes: one agent per data dir (the
 * lock), fail-stop with an honest /readyz on a damaged WAL or fencing file,
 * and a config log truncated after acknowledged writes (no silent loss, no
 * false "never acknowledged", no reused sequence number).
 */
import { strict as assert } from 'node:assert'
import { spawn, spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm, stat, truncate, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AgentProcess, CLI, freePort, waitFor } from '../../harness/agent-process.js'
import { createIdentity } from '../../daemon/identity.js'
import { createGenesis, genesisToJson } from '../../protocols/bft/genesis.js'
import { writeFileDurable } from '../../lib/durable-file.js'
import { RECORD_HEADER_BYTES } from '../../lib/record-log.js'
import { MAGIC_BYTES } from '../../lib/file-format.js'

const cli = (...args: string[]): { status: number | null, stdout: string, stderr: string } => {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** End offset of the last record of a record log (lib/record-log.ts) whose payload holds `needle`. */
function recordEndOf (file: Buffer, needle: string): number {
  let end: number | undefined
  for (let off = MAGIC_BYTES; off + RECORD_HEADER_BYTES <= file.length;) {
    const next = off + RECORD_HEADER_BYTES + file.readUInt32BE(off)
    if (file.subarray(off + RECORD_HEADER_BYTES, next).includes(needle)) end = next
    off = next
  }
  assert.ok(end !== undefined, `no record holds ${needle}`)
  return end
}

async function readyz (a: AgentProcess): Promise<{ status: number, json: any }> { return await a.request('GET', '/readyz') }

describe('durable state (real agents)', function () {
  this.timeout(240_000)
  const agents: AgentProcess[] = []
  const dirs: string[] = []
  const tmp = async (): Promise<string> => { const d = await mkdtemp(join(tmpdir(), 'mycel-durable-')); dirs.push(d); return d }
  afterEach(async () => {
    await Promise.all(agents.splice(0).map(async a => { await a.cleanup() }))
    await Promise.all(dirs.splice(0).map(async d => { await rm(d, { recursive: true, force: true }) }))
  })

  it('a second agent on the same data dir refuses in one line naming the first; after a SIGKILL a new one starts', async () => {
    const dir = await tmp()
    const a = await AgentProcess.start({ dataDir: dir })
    agents.push(a)
    const pidA = a.child?.pid as number
    const agentJson = await readFile(join(dir, 'agent.json'), 'utf8')
    const second = spawn(process.execPath, [CLI, 'agent', '--data-dir', dir, '--listen', `/ip4/127.0.0.1/tcp/${await freePort()}`, '--api', '127.0.0.1:0', '--profile', 'test'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let stderr = ''
    second.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    const code = await new Promise<number | null>(resolve => second.once('exit', resolve))
    assert.equal(code, 1)
    const lines = stderr.trim().split('\n')
    assert.equal(lines.length, 1, stderr)
    assert.match(lines[0], new RegExp(`^mycel: data dir ${dir} is in use by another mycel agent: pid ${pidA} \\(`))
    // The first one is untouched: still serving, its agent.json not overwritten.
    assert.equal((await a.request('GET', '/healthz')).status, 200)
    assert.equal(await readFile(join(dir, 'agent.json'), 'utf8'), agentJson)
    // A SIGKILLed holder leaves a stale lock; the next agent takes it over.
    await a.kill('SIGKILL')
    const b = await AgentProcess.start({ dataDir: dir, port: a.port })
    agents.push(b)
    assert.equal(b.peerId, a.peerId)
    assert.equal((await b.request('GET', '/healthz')).status, 200)
    // A graceful stop releases the lock.
    await b.stop()
    await assert.rejects(stat(join(dir, 'agent.lock')), { code: 'ENOENT' })
  })

  it('a damaged BFT WAL stops critical config: /readyz 503 names the file and the recovery step, status and critical status say so', async () => {
    const dir = await tmp()
    const id = (await createIdentity(dir)).peerId
    const genesisFile = join(dir, 'genesis.json')
    await writeFileDurable(genesisFile, genesisToJson(createGenesis({ networkId: 'durable', validators: [id], admins: [id] })), 0o644)
    const a = await AgentProcess.start({ dataDir: dir, extraArgs: ['--genesis', genesisFile] })
    agents.push(a)
    const put = await a.request('POST', '/v1/critical', { key: 'acl/app', value: `["${id}"]`, timeoutMs: 30_000 })
    assert.equal(put.status, 200, JSON.stringify(put.json))
    assert.equal((await readyz(a)).status, 200)
    await a.stop()
    const wal = join(dir, 'bft', 'bft-wal.log')
    const bytes = await readFile(wal)
    assert.ok(bytes.length > 100)
    bytes[Math.floor(bytes.length / 2)] ^= 0x01
    await writeFile(wal, bytes)
    await a.spawn()
    const r = await readyz(a)
    assert.equal(r.status, 503)
    assert.equal(r.json.ready, false)
    assert.equal(r.json.stopped.length, 1)
    assert.equal(r.json.stopped[0].component, 'critical')
    assert.equal(r.json.stopped[0].file, wal)
    assert.match(r.json.stopped[0].recovery, /move this file aside/)
    assert.match(r.json.error, /bft-wal\.log/)
    // The rest of the agent answers; critical config itself refuses to pretend.
    assert.equal((await a.request('GET', '/v1/members')).status, 200)
    assert.equal((await a.request('PUT', '/v1/config/app/k', { value: 1 })).status, 200)
    const crit = cli('critical', 'status', '--api', a.api)
    assert.notEqual(crit.status, 0)
    assert.match(crit.stderr, /critical stopped: .*bft-wal\.log.*to recover: stop the agent and move this file aside/)
    const st = cli('status', '--api', a.api)
    assert.equal(st.status, 0, st.stderr)
    assert.match(st.stdout, /STOPPED: +critical: .*bft-wal\.log/)
    assert.match(a.stderr, /component stopped on its durable state/)
  })

  it('garbage in the fencing file stops the roles component instead of being accepted', async () => {
    const dir = await tmp()
    await mkdir(join(dir, 'election'), { recursive: true })
    await writeFile(join(dir, 'election', 'fencing.json'), '{"eu/network": "not a token"')
    const a = await AgentProcess.start({ dataDir: dir })
    agents.push(a)
    const r = await readyz(a)
    assert.equal(r.status, 503)
    assert.equal(r.json.stopped[0].component, 'roles')
    assert.equal(r.json.stopped[0].file, join(dir, 'election', 'fencing.json'))
    assert.equal((await a.request('GET', '/v1/roles')).status, 503)
    // Nothing was written over the damaged file.
    assert.equal(await readFile(join(dir, 'election', 'fencing.json'), 'utf8'), '{"eu/network": "not a token"')
  })

  it('a config log truncated after acknowledged writes: the loss is reported, no sequence number is reused, peers return the writes', async () => {
    const a = await AgentProcess.start()
    agents.push(a)
    const b = await AgentProcess.start({ bootstrap: [a.addr] })
    agents.push(b)
    for (let i = 1; i <= 50; i++) {
      const w = await a.request('PUT', `/v1/config/app/k${i}?waitFor=1`, { value: i })
      assert.equal(w.status, 200, JSON.stringify(w.json))
    }
    await waitFor(async () => (await b.request('GET', '/v1/config/app/k50')).status === 200, 30_000, 'k50 on b')
    await b.stop()
    await a.stop()
    // The tester's cut: 5 bytes off the end of k50's record, and with it
    // whatever a logged after k50 (a role holder's own writes in other
    // namespaces, which come at a time of their own: cutting the file's last
    // 5 bytes would sometimes take one of those instead of k50).
    const log = join(a.dataDir, 'config', 'envelopes.log')
    await truncate(log, recordEndOf(await readFile(log), 'k50') - 5)
    await a.spawn()
    await waitFor(() => a.stderr.includes('lost acknowledged writes of ours'), 30_000, 'loss reported')
    assert.doesNotMatch(a.stderr, /never acknowledged/)
    assert.equal((await a.request('GET', '/v1/config/app/k50')).status, 404)
    const refused = await a.request('PUT', '/v1/config/app/new', { value: 'x' })
    assert.equal(refused.status, 503)
    assert.match(refused.json.error, /seq 50\.\.50 are missing/)
    // The peer that holds k50 comes back: a gets it, then writes continue at seq 51.
    await b.spawn()
    await waitFor(async () => (await a.request('GET', '/v1/config/app/k50')).status === 200, 60_000, 'k50 back on a')
    const ok = await waitFor(async () => { const r = await a.request('PUT', '/v1/config/app/new?waitFor=1', { value: 'x' }); return r.status === 200 ? r : undefined }, 30_000, 'write accepted again')
    assert.equal(ok?.json.seq, 51)
    await waitFor(async () => (await b.request('GET', '/v1/config/app/new')).status === 200, 30_000, 'new write on b (no equivocation)')
    const st = await b.get('/v1/config')
    assert.equal(st.versionVector.app[a.peerId], 51)
  })
})
