/**
 * Admission and bad input at the process level: network keys, bad config,
 * garbage on the libp2p port, CLI errors.
 */
import { expect } from 'chai'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdtemp, rm, stat, writeFile, readFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AgentProcess, CLI, waitFor } from '../../harness/agent-process.js'

const run = promisify(execFile)

async function cli (args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { timeout: 30_000 })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number, stdout: string, stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

describe('agent admission and bad input', function () {
  this.timeout(120_000)
  const cleanup: AgentProcess[] = []
  const dirs: string[] = []
  after(async () => {
    await Promise.all(cleanup.map(async a => { await a.cleanup() }))
    await Promise.all(dirs.map(async d => { await rm(d, { recursive: true, force: true }) }))
  })
  const tempDir = async (prefix: string): Promise<string> => {
    const d = await mkdtemp(join(tmpdir(), prefix))
    dirs.push(d)
    return d
  }

  it('keeps out a peer with the wrong network key', async () => {
    const dir = await tempDir('mycel-psk-')
    const keyA = join(dir, 'a.key')
    const keyB = join(dir, 'b.key')
    expect((await cli(['keygen', '--network-key', keyA])).code).to.equal(0)
    expect((await cli(['keygen', '--network-key', keyB])).code).to.equal(0)
    expect(((await stat(keyA)).mode & 0o777)).to.equal(0o600)
    expect((await readFile(keyA, 'utf8')).startsWith('/key/swarm/psk/1.0.0/')).to.equal(true)

    const a = await AgentProcess.start({ extraArgs: ['--network-key', keyA] })
    cleanup.push(a)
    const b = await AgentProcess.start({ extraArgs: ['--network-key', keyA], bootstrap: [a.addr] })
    cleanup.push(b)
    const intruder = await AgentProcess.start({ extraArgs: ['--network-key', keyB], bootstrap: [a.addr] })
    cleanup.push(intruder)
    const noKey = await AgentProcess.start({ bootstrap: [a.addr] })
    cleanup.push(noKey)

    await waitFor(async () => (await a.members()).filter(m => m.state === 'alive').length === 2, 20_000, 'a and b to join')
    // Give the intruders several redial rounds (test profile: 100 ms .. 2 s).
    await waitFor(async () => intruder.stderr.length > 0 && (await intruder.get('/v1/status')).uptimeSeconds >= 4, 20_000, 'intruder redial window')
    for (const view of [await a.members(), await b.members()]) {
      expect(view.map(m => m.peerId)).to.not.include(intruder.peerId)
      expect(view.map(m => m.peerId)).to.not.include(noKey.peerId)
    }
    expect((await intruder.members()).map(m => m.peerId)).to.deep.equal([intruder.peerId])
    expect((await intruder.get('/v1/status')).connections).to.equal(0)
  })

  it('survives garbage bytes on its libp2p port', async () => {
    const a = await AgentProcess.start()
    cleanup.push(a)
    for (let i = 0; i < 20; i++) {
      await new Promise<void>((resolve) => {
        const s = connect(a.port, '127.0.0.1', () => {
          s.write(Buffer.from(Array.from({ length: 1 + i * 97 }, (_, j) => (j * 31 + i) & 0xff)))
          s.end()
        })
        s.on('error', () => resolve())
        s.on('close', () => resolve())
      })
    }
    expect((await a.get('/healthz')).status).to.equal('ok')
    expect(a.exitCode).to.equal(null)
  })

  it('refuses a bad config file with exit code 2, naming the key, writing nothing', async () => {
    const dir = await tempDir('mycel-badcfg-')
    const cfg = join(dir, 'mycel.yaml')
    await writeFile(cfg, 'region: ok\nlisten: 42\n')
    const dataDir = join(dir, 'data')
    const r = await cli(['agent', '--config', cfg, '--data-dir', dataDir])
    expect(r.code).to.equal(2)
    expect(r.stderr).to.include('listen')
    expect(await stat(dataDir).then(() => true, () => false)).to.equal(false)

    const r2 = await cli(['agent', '--profile', 'moon', '--data-dir', dataDir])
    expect(r2.code).to.equal(2)
    expect(r2.stderr).to.include('profile')
    const r3 = await cli(['agent', '--no-such-flag'])
    expect(r3.code).to.equal(2)
  })

  it('init creates a 0600 identity and refuses to overwrite it without --force', async () => {
    const dir = await tempDir('mycel-init-')
    const first = await cli(['init', '--data-dir', dir, '--json'])
    expect(first.code).to.equal(0)
    const id = JSON.parse(first.stdout) as { peerId: string }
    expect(id.peerId).to.match(/^12D3KooW/)
    expect(((await stat(join(dir, 'identity.key'))).mode & 0o777)).to.equal(0o600)
    const again = await cli(['init', '--data-dir', dir])
    expect(again.code).to.equal(2)
    expect(again.stderr).to.include('--force')
    const forced = await cli(['init', '--data-dir', dir, '--force'])
    expect(forced.code).to.equal(0)
    expect(forced.stdout.trim()).to.not.equal(id.peerId)
  })

  it('members/status print a table or JSON, and a one-line error when no agent answers', async () => {
    const a = await AgentProcess.start()
    cleanup.push(a)
    const table = await cli(['members', '--api', a.api])
    expect(table.code).to.equal(0)
    expect(table.stdout).to.match(/^PEER ID\s+STATE/)
    expect(table.stdout).to.include(a.peerId)
    const json = await cli(['status', '--api', a.api, '--json'])
    expect(JSON.parse(json.stdout).peerId).to.equal(a.peerId)
    const down = await cli(['members', '--api', '127.0.0.1:1'])
    expect(down.code).to.equal(1)
    expect(down.stderr.trim().split('\n')).to.have.length(1)
    expect(down.stderr).to.include('no mycel agent answers')
  })
})
