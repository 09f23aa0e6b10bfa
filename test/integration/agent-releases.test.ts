/**
 * Publishing wired into one in-process agent (daemon/agent.ts): a publish
 * writes the release's entry into replicated config (`mycel.releases`,
 * readable through the config API); once the config component is stopped
 * on a fault, a publish is refused with 503 naming replicated config, and
 * nothing is stored.
 */
import { strict as assert } from 'node:assert'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { Agent } from '../../daemon/agent.js'
import { defaults, resolveConfig } from '../../daemon/config.js'
import { encodeRelease, RELEASE_CONTENT_TYPE } from '../../daemon/api/release-body.js'
import { StorageFailedError } from '../../lib/errors.js'
import { publisherIdOf } from '../../protocols/artifacts/publisher-key.js'
import { addressArchive, decodeSignedManifest, signManifest } from '../../protocols/artifacts/signed-manifest.js'
import { releaseEntry, RELEASES_NAMESPACE } from '../../protocols/artifacts/release-entry.js'

describe('agent: releases in replicated config (in process)', function () {
  this.timeout(60_000)
  let dir: string
  let agent: Agent | undefined
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'mycel-agent-releases-')) })
  after(async () => {
    await agent?.stop({ leave: false })
    await rm(dir, { recursive: true, force: true })
  })

  it('a publish writes the entry; with config stopped on a fault it is refused with 503 and stores nothing', async () => {
    const key = await generateKeyPair('Ed25519')
    const publisher = publisherIdOf(key)
    const cfg = resolveConfig(defaults(), { dataDir: dir, listen: ['/ip4/127.0.0.1/tcp/0'], api: '127.0.0.1:0', profile: 'test', bootstrap: [], publishers: [publisher] })
    agent = new Agent(cfg, pino({ level: 'silent' }))
    const status = await agent.start()
    const publish = async (version: string): Promise<{ status: number, json: any, signed: Uint8Array }> => {
      const archive = randomBytes(64)
      const signed = await signManifest({ name: 'hello', version, entry: ['./run'] }, await addressArchive(archive), key, publisher)
      const res = await fetch(`http://${status.api}/v1/components`, { method: 'POST', headers: { 'content-type': RELEASE_CONTENT_TYPE }, body: encodeRelease(signed, archive) })
      return { status: res.status, json: await res.json(), signed }
    }
    const get = async (path: string): Promise<{ status: number, json: any }> => {
      const res = await fetch(`http://${status.api}${path}`)
      return { status: res.status, json: await res.json() }
    }

    const ok = await publish('1.0.0')
    assert.equal(ok.status, 201, JSON.stringify(ok.json))
    const { key: k, value } = releaseEntry(decodeSignedManifest(ok.signed).manifest, ok.signed)
    const entry = await get(`/v1/config/${RELEASES_NAMESPACE}/${encodeURIComponent(k)}`)
    assert.equal(entry.status, 200)
    assert.deepEqual(entry.json.value, value)

    agent.faults.report('config', new StorageFailedError(join(dir, 'config', 'log'), 'fdatasync failed: EIO'))
    await new Promise(resolve => setImmediate(resolve))
    const manifests = await readdir(join(dir, 'artifacts', 'manifests'))
    const refused = await publish('2.0.0')
    assert.equal(refused.status, 503)
    assert.match(refused.json.error, /replicated config is stopped/)
    assert.deepEqual(await readdir(join(dir, 'artifacts', 'manifests')), manifests)
    assert.deepEqual((await get('/v1/components')).json.components.map((c: { version: string }) => c.version), ['1.0.0'])
  })
})
