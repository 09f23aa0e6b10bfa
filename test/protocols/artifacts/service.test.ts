/**
 * The artifact service on one node: publish stores the blocks and the
 * manifest durably and announces the archive; every refusal is named,
 * counted and leaves nothing stored; a restart reads the manifests back; a
 * damaged manifest file stops the service (fail-stop) instead of being
 * skipped.
 */
import { expect } from 'chai'
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { z } from 'zod'
import { Registry } from 'prom-client'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { artifactTunables } from '../../../protocols/artifacts/constants.js'
import { ArtifactService } from '../../../protocols/artifacts/service.js'
import { publisherIdOf } from '../../../protocols/artifacts/publisher-key.js'
import { addressArchive, signManifest } from '../../../protocols/artifacts/signed-manifest.js'
import type { Manifest } from '../../../protocols/artifacts/manifest.js'
import type { ProviderRouting } from '../../../protocols/artifacts/routing.js'
import { decodeCbor, encodeCbor } from '../../../wire/codec.js'
import { publisherTrust } from '../../../policy/publisher-trust.js'
import { FaultRegistry } from '../../../lib/faults.js'
import { MemoryNetwork, type MemoryHost } from '../../helpers/memory-host.js'

const logger = pino({ level: 'silent' })
const config = artifactTunables.defaults('test')

const MANIFEST: Manifest = { name: 'web-probe', version: '1.0.0', entry: ['./run'] }

/** Records provide() calls: what the DHT would be told. */
function fakeDht (): ProviderRouting & { provided: string[] } {
  const provided: string[] = []
  return {
    provided,
    async * provide (key: CID) { provided.push(key.toString()) },
    async * findProviders () {}
  }
}

async function errorName (p: Promise<unknown>): Promise<string> {
  try { await p } catch (err) { return (err as Error).name }
  return 'none'
}

describe('artifact service (publish, one node)', function () {
  this.timeout(30_000)
  let dir: string
  let net: MemoryNetwork
  let host: MemoryHost
  let key: PrivateKey
  let publisher: string
  let registry: Registry
  let faults: FaultRegistry
  let dht: ReturnType<typeof fakeDht>
  const services: ArtifactService[] = []

  function service (trusted: string[] = [publisher]): ArtifactService {
    registry = new Registry()
    const s = new ArtifactService({
      dataDir: dir, logger, registry, signal: new AbortController().signal, faults, rpc: host, dht
    }, { config, publishers: publisherTrust({ configured: trusted }), now: () => 1_700_000_000_000 })
    services.push(s)
    return s
  }

  async function release (manifest: Manifest = MANIFEST, archive: Uint8Array = randomBytes(3 * config.chunkBytes + 7), signer = key): Promise<{ signed: Uint8Array, archive: Uint8Array }> {
    return { signed: await signManifest(manifest, await addressArchive(archive), signer, publisherIdOf(signer)), archive }
  }

  async function refused (s: ArtifactService, reason: string): Promise<number> {
    const v = (await s.metrics.manifestsRefused.get()).values.find(x => x.labels.reason === reason)
    return v?.value ?? 0
  }

  async function stored (): Promise<{ manifests: string[], blocks: string[] }> {
    const list = async (d: string): Promise<string[]> => await readdir(join(dir, 'artifacts', d)).catch(() => [])
    return { manifests: await list('manifests'), blocks: await list('blocks') }
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mycel-artifact-service-'))
    net = new MemoryNetwork()
    key = await generateKeyPair('Ed25519')
    publisher = publisherIdOf(key)
    host = net.host(peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString())
    faults = new FaultRegistry()
    dht = fakeDht()
  })

  afterEach(async () => {
    for (const s of services.splice(0)) await s.stop()
    host.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('publishes: blocks and manifest stored, listed, announced; a retry of the same release is known', async () => {
    const s = service()
    await s.start()
    const r = await release()
    const cid = (await addressArchive(r.archive)).cid
    const out = await s.publish(r.signed, r.archive)
    expect(out).to.deep.equal({ name: 'web-probe', version: '1.0.0', publisher, archive: { cid, size: r.archive.byteLength }, publishedAt: 1_700_000_000_000, known: false })
    expect(s.list()).to.deep.equal([{ name: 'web-probe', version: '1.0.0', publisher, archive: { cid, size: r.archive.byteLength }, publishedAt: new Date(1_700_000_000_000).toISOString() }])
    expect((await stored()).manifests).to.deep.equal(['web-probe@1.0.0.manifest'])
    // The archive reads back whole from the blocks.
    const index = await s.blocks.getIndex(cid)
    const chunks: Uint8Array[] = []
    for await (const c of s.blocks.read(index!.index)) chunks.push(c)
    expect(Buffer.concat(chunks).equals(r.archive)).to.equal(true)
    await s.stop()
    expect(dht.provided).to.include(cid)
    await s.start()
    expect((await s.publish(r.signed, r.archive)).known).to.equal(true)
    expect((await s.metrics.manifestsPublished.get()).values[0]?.value).to.equal(1)
  })

  it('refuses an untrusted publisher, a bad signature, a hash mismatch and other content for a known version: counted, nothing stored', async () => {
    const s = service()
    await s.start()
    const other = await generateKeyPair('Ed25519')
    const untrusted = await release(MANIFEST, undefined, other)
    expect(await errorName(s.publish(untrusted.signed, untrusted.archive))).to.equal('UntrustedPublisherError')
    expect(await refused(s, 'untrusted')).to.equal(1)

    // A signature over other bytes: flip a byte of the signature.
    const good = await release()
    const envelope = decodeCbor(good.signed, z.object({ v: z.literal(1), manifest: z.instanceof(Uint8Array), sig: z.instanceof(Uint8Array) }))
    const sig = Buffer.from(envelope.sig)
    sig[0] ^= 1
    expect(await errorName(s.publish(encodeCbor({ ...envelope, sig }), good.archive))).to.equal('ManifestSignatureError')
    expect(await refused(s, 'signature')).to.equal(1)

    const tampered = Buffer.from(good.archive)
    tampered[5] ^= 1
    expect(await errorName(s.publish(good.signed, tampered))).to.equal('ArchiveMismatchError')
    expect(await refused(s, 'archive_mismatch')).to.equal(1)
    expect(await stored()).to.deep.equal({ manifests: [], blocks: [] })

    await s.publish(good.signed, good.archive)
    const before = await stored()
    const conflict = await release()
    expect(await errorName(s.publish(conflict.signed, conflict.archive))).to.equal('ManifestConflictError')
    expect(await refused(s, 'conflict')).to.equal(1)
    expect(await stored()).to.deep.equal(before)
    expect(s.list()).to.have.length(1)
    expect(dht.provided).to.have.length(1)
  })

  it('refuses an archive over the limit (413)', async () => {
    const s = new ArtifactService({ dataDir: dir, logger, registry: new Registry(), signal: new AbortController().signal, faults, rpc: host, dht },
      { config, publishers: publisherTrust({ configured: [publisher] }), maxArchiveBytes: 1000 })
    services.push(s)
    await s.start()
    const r = await release(MANIFEST, randomBytes(1001))
    expect(await errorName(s.publish(r.signed, r.archive))).to.equal('ArchiveTooLargeError')
    expect(await refused(s, 'too_large')).to.equal(1)
  })

  it('reads the manifests back after a restart', async () => {
    const s = service()
    await s.start()
    const a = await release()
    const b = await release({ ...MANIFEST, version: '1.1.0' })
    await s.publish(a.signed, a.archive)
    await s.publish(b.signed, b.archive)
    const listed = s.list()
    await s.stop()
    const again = service()
    await again.start()
    expect(again.list()).to.deep.equal(listed)
    expect(again.versions('web-probe').map(r => r.version)).to.deep.equal(['1.0.0', '1.1.0'])
    // The version check holds across the restart.
    const conflict = await release()
    expect(await errorName(again.publish(conflict.signed, conflict.archive))).to.equal('ManifestConflictError')
  })

  it('a version that looks like a temp file name survives a restart; a crash-left temp file is removed; an unknown file is fail-stop', async () => {
    const s = service()
    await s.start()
    const odd = await release({ ...MANIFEST, version: '1.0.0-x.tmp-1' })
    await s.publish(odd.signed, odd.archive)
    await s.stop()
    const manifests = join(dir, 'artifacts', 'manifests')
    await writeFile(join(manifests, 'web-probe@1.0.0-x.tmp-1.manifest.tmp-4242'), 'half written')
    const again = service()
    await again.start()
    expect(again.list().map(r => r.version)).to.deep.equal(['1.0.0-x.tmp-1'])
    expect(await readdir(manifests)).to.deep.equal(['web-probe@1.0.0-x.tmp-1.manifest'])
    await again.stop()
    await writeFile(join(manifests, 'notes.txt'), 'hello')
    expect(await errorName(service().start())).to.equal('CorruptFileError')
  })

  for (const [what, damage] of [
    ['a flipped byte', (b: Buffer) => { b[b.length - 10] ^= 1; return b }],
    ['a cut-short file', (b: Buffer) => b.subarray(0, b.length - 3)],
    ['another release under this name', undefined]
  ] as const) {
    it(`a damaged manifest file (${what}) is fail-stop at start, never skipped`, async () => {
      const s = service()
      await s.start()
      const a = await release()
      const b = await release({ ...MANIFEST, version: '2.0.0' })
      await s.publish(a.signed, a.archive)
      await s.publish(b.signed, b.archive)
      await s.stop()
      const path = join(dir, 'artifacts', 'manifests', 'web-probe@1.0.0.manifest')
      if (damage === undefined) await writeFile(path, await readFile(join(dir, 'artifacts', 'manifests', 'web-probe@2.0.0.manifest')))
      else await writeFile(path, damage(await readFile(path)))
      const err = await service().start().then(() => undefined, (e: unknown) => e as Error & { file?: string })
      expect(err?.name).to.equal('CorruptFileError')
      expect(err?.file).to.equal(path)
    })
  }

  it('a manifest that cannot be persisted is not acknowledged, and reports the fault', async () => {
    const s = service()
    await s.start()
    // A directory where the manifest file must go: the durable write fails.
    await mkdir(join(dir, 'artifacts', 'manifests', 'web-probe@1.0.0.manifest', 'x'), { recursive: true })
    const r = await release()
    expect(await errorName(s.publish(r.signed, r.archive))).to.equal('StorageFailedError')
    expect(faults.get('artifacts')?.component).to.equal('artifacts')
  })
})
