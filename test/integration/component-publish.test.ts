/**
 * `mycel component publish` end to end on one real agent, through the real
 * CLI: a publisher key, an agent that trusts it (`--publisher`), a small
 * component directory published and listed; the same directory signed by an
 * untrusted key refused with one line; a broken manifest refused before the
 * agent is asked (exit 2, naming the key); the release still listed after a
 * restart.
 */
import { expect } from 'chai'
import { execFile } from 'node:child_process'
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AgentProcess, CLI } from '../../harness/agent-process.js'

interface Run { code: number | null, stdout: string, stderr: string }

async function cli (args: string[]): Promise<Run> {
  return await new Promise(resolve => {
    execFile(process.execPath, [CLI, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : (typeof err.code === 'number' ? err.code : null), stdout, stderr })
    })
  })
}

describe('mycel component publish (one real agent)', function () {
  this.timeout(120_000)
  let dir: string
  let agent: AgentProcess | undefined

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mycel-publish-'))
  })

  after(async () => {
    await agent?.cleanup()
    await rm(dir, { recursive: true, force: true })
  })

  it('publishes a directory signed by a trusted key and lists it; refuses an untrusted key and a broken manifest', async () => {
    const key = join(dir, 'publisher.key')
    const keygen = await cli(['publisher', 'keygen', '--out', key])
    expect(keygen.code, keygen.stderr).to.equal(0)
    const publisher = keygen.stdout.trim()
    const other = join(dir, 'other.key')
    expect((await cli(['publisher', 'keygen', '--out', other])).code).to.equal(0)

    const app = join(dir, 'hello')
    await mkdir(join(app, 'bin'), { recursive: true })
    await writeFile(join(app, 'mycel.component.yaml'), 'name: hello\nversion: 1.0.0\nentry: ["./bin/run"]\n')
    await writeFile(join(app, 'bin', 'run'), '#!/bin/sh\necho hello\n')
    await chmod(join(app, 'bin', 'run'), 0o755)

    agent = await AgentProcess.start({ extraArgs: ['--publisher', publisher] })

    const pub = await cli(['component', 'publish', app, '--key', key, '--api', agent.api])
    expect(pub.code, pub.stderr).to.equal(0)
    expect(pub.stdout).to.match(/^hello@1\.0\.0 published: archive b[a-z2-7]+ \(\d+ bytes\)\n$/)

    const list = await cli(['component', 'list', '--json', '--api', agent.api])
    expect(list.code, list.stderr).to.equal(0)
    const listed = JSON.parse(list.stdout) as { components: Array<{ name: string, version: string, publisher: string, archive: { cid: string, size: number } }> }
    expect(listed.components.map(c => [c.name, c.version, c.publisher])).to.deep.equal([['hello', '1.0.0', publisher]])
    expect(pub.stdout).to.include(listed.components[0]?.archive.cid)

    // Publishing the same directory again is the same release: accepted, nothing new.
    const again = await cli(['component', 'publish', app, '--key', key, '--api', agent.api, '--json'])
    expect(again.code, again.stderr).to.equal(0)
    expect(JSON.parse(again.stdout)).to.include({ name: 'hello', version: '1.0.0', known: true })

    const untrusted = await cli(['component', 'publish', app, '--key', other, '--api', agent.api])
    expect(untrusted.code).to.not.equal(0)
    expect(untrusted.stderr.trim().split('\n')).to.have.length(1)
    expect(untrusted.stderr).to.match(/^mycel: .*not trusted/)

    const broken = join(dir, 'broken')
    await mkdir(broken)
    await writeFile(join(broken, 'mycel.component.yaml'), 'name: hello\nversion: 1.0.0\nentry: ["./run"]\nhelth: {}\n')
    const bad = await cli(['component', 'publish', broken, '--key', key, '--api', agent.api])
    expect(bad.code).to.equal(2)
    expect(bad.stderr.trim().split('\n')).to.have.length(1)
    expect(bad.stderr).to.include('"helth"')

    const usage = await cli(['component', 'publish', app, '--api', agent.api])
    expect(usage.code).to.equal(2)
    expect(usage.stderr.trim().split('\n')).to.have.length(1)

    // The manifest is durable: a restarted agent still lists it.
    expect(await agent.stop()).to.equal(0)
    await agent.spawn()
    const after = await cli(['component', 'list', '--api', agent.api])
    expect(after.code, after.stderr).to.equal(0)
    expect(after.stdout).to.match(/^NAME +VERSION/)
    expect(after.stdout).to.include('hello')
    expect(after.stdout).to.include('1.0.0')
  })
})
