/**
 * Every node learns every release, with three real agent processes (issue
 * 13): a directory published on one agent through the real CLI is listed
 * by `mycel component list` on the two others (replicated config,
 * `mycel.releases`); a manifest signed by a key no agent trusts, written
 * straight into the namespace through the config API, is refused on all
 * three and counted in their /metrics.
 */
import { expect } from 'chai'
import { execFile } from 'node:child_process'
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { AgentProcess, CLI, startCluster, waitFor } from '../../harness/agent-process.js'
import { publisherIdOf } from '../../protocols/artifacts/publisher-key.js'
import { archiveCid, decodeSignedManifest, signManifest } from '../../protocols/artifacts/signed-manifest.js'
import { releaseEntry, RELEASES_NAMESPACE } from '../../protocols/artifacts/release-entry.js'

interface Run { code: number | null, stdout: string, stderr: string }

async function cli (args: string[]): Promise<Run> {
  return await new Promise(resolve => {
    execFile(process.execPath, [CLI, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : (typeof err.code === 'number' ? err.code : null), stdout, stderr })
    })
  })
}

async function listed (a: AgentProcess): Promise<Array<{ name: string, version: string, publisher: string, archive: { cid: string } }>> {
  const r = await cli(['component', 'list', '--json', '--api', a.api])
  expect(r.code, r.stderr).to.equal(0)
  return (JSON.parse(r.stdout) as { components: Array<{ name: string, version: string, publisher: string, archive: { cid: string } }> }).components
}

async function refusedUntrusted (a: AgentProcess): Promise<number> {
  const text = await (await fetch(`http://${a.api}/metrics`)).text()
  const line = text.split('\n').find(l => l.startsWith('mycel_component_manifests_refused_total{reason="untrusted"}'))
  return line === undefined ? 0 : Number(line.split(' ').at(-1))
}

describe('component releases reach every node (3 real agents)', function () {
  this.timeout(180_000)
  let dir: string
  let agents: AgentProcess[] = []
  let publisher: string
  let key: string

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mycel-releases-'))
    key = join(dir, 'publisher.key')
    const keygen = await cli(['publisher', 'keygen', '--out', key])
    expect(keygen.code, keygen.stderr).to.equal(0)
    publisher = keygen.stdout.trim()
    agents = await startCluster(3, { extraArgs: ['--publisher', publisher] })
    await waitFor(async () => {
      const views = await Promise.all(agents.map(async a => await a.members()))
      return views.every(v => v.filter(m => m.state === 'alive').length === agents.length)
    }, 60_000, 'all three agents alive to each other')
  })

  after(async () => {
    await Promise.all(agents.map(async a => { await a.cleanup() }))
    await rm(dir, { recursive: true, force: true })
  })

  it('published on one agent, listed on the others', async () => {
    const app = join(dir, 'hello')
    await mkdir(join(app, 'bin'), { recursive: true })
    await writeFile(join(app, 'mycel.component.yaml'), 'name: hello\nversion: 1.0.0\nentry: ["./bin/run"]\n')
    await writeFile(join(app, 'bin', 'run'), '#!/bin/sh\necho hello\n')
    await chmod(join(app, 'bin', 'run'), 0o755)
    const pub = await cli(['component', 'publish', app, '--key', key, '--api', agents[0]!.api, '--json'])
    expect(pub.code, pub.stderr).to.equal(0)
    const cid = (JSON.parse(pub.stdout) as { archive: { cid: string } }).archive.cid
    for (const a of agents.slice(1)) {
      const got = await waitFor(async () => { const l = await listed(a); return l.length > 0 ? l : undefined }, 30_000, `hello@1.0.0 on ${a.peerId}`)
      expect(got.map(c => [c.name, c.version, c.publisher, c.archive.cid])).to.deep.equal([['hello', '1.0.0', publisher, cid]])
    }
  })

  it('an untrusted manifest written straight into mycel.releases is refused on every agent and counted', async () => {
    const other = await generateKeyPair('Ed25519')
    const signed = await signManifest({ name: 'evil', version: '1.0.0', entry: ['./run'] }, { cid: archiveCid(new Uint8Array(32).fill(1)), size: 10 }, other, publisherIdOf(other))
    const { key: k, value } = releaseEntry(decodeSignedManifest(signed).manifest, signed)
    const put = await agents[1]!.request('PUT', `/v1/config/${RELEASES_NAMESPACE}/${encodeURIComponent(k)}?waitFor=2`, { value })
    expect(put.status, JSON.stringify(put.json)).to.equal(200)
    for (const a of agents) {
      await waitFor(async () => await refusedUntrusted(a) === 1, 30_000, `the refusal counted on ${a.peerId}`)
      expect((await listed(a)).map(c => c.name)).to.deep.equal(['hello'])
    }
    // The namespace's rule refuses what is not a manifest signed by the publisher it names, at the writer.
    const forged = await agents[1]!.request('PUT', `/v1/config/${RELEASES_NAMESPACE}/${encodeURIComponent(k.replace('1.0.0', '1.0.1'))}`, { value })
    expect(forged.status).to.equal(422)
  })
})
