/**
 * Every node learns every release (release-sync.ts, service.ts `release`):
 * artifact services on several "nodes" (own data dirs) share an in-memory
 * release log standing in for replicated config (`mycel.releases`, with the
 * built-in rule on writes as the config service runs it). Publish on one,
 * the others list the release and `release()` returns it; an untrusted
 * manifest written straight into the log is refused everywhere, counted
 * once per node, and learned once its publisher is trusted; two contents for
 * one version published on two nodes are conflicted on every node,
 * whatever order the entries arrive in; a publish that could not reach the
 * other nodes (config stopped, not a writer) stores nothing; a stored
 * release without an entry gets one at start; trust is checked at use.
 */
import { expect } from 'chai'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import fc from 'fast-check'
import { Registry } from 'prom-client'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { artifactTunables } from '../../../protocols/artifacts/constants.js'
import { ArtifactService } from '../../../protocols/artifacts/service.js'
import { publisherIdOf } from '../../../protocols/artifacts/publisher-key.js'
import { addressArchive, decodeSignedManifest, signManifest } from '../../../protocols/artifacts/signed-manifest.js'
import type { Manifest } from '../../../protocols/artifacts/manifest.js'
import { checkReleaseEntry, releaseEntry } from '../../../protocols/artifacts/release-entry.js'
import type { ReleaseLog } from '../../../protocols/artifacts/release-log.js'
import type { ProviderRouting } from '../../../protocols/artifacts/routing.js'
import { AccessDeniedError, StoreUnavailableError } from '../../../crdt/errors.js'
import { FaultRegistry } from '../../../lib/faults.js'
import { MemoryNetwork } from '../../helpers/memory-host.js'
import { PROPERTY_RUNS } from '../../helpers/wire-evolution.js'

const logger = pino({ level: 'silent' })
const config = artifactTunables.defaults('test')
const MANIFEST: Manifest = { name: 'web-probe', version: '1.0.0', entry: ['./run'] }
const dht: ProviderRouting = { async * provide () {}, async * findProviders () {} }

/** Replicated config's `mycel.releases` in memory: writes run the built-in rule; `deliver` is an entry arriving from a node that did not. */
class MemoryLog implements ReleaseLog {
  readonly data = new Map<string, unknown>()
  stopped = false
  writable = true
  private readonly listeners = new Set<(key: string, value: unknown) => void>()
  check (key: string, value: unknown): void {
    if (this.stopped) throw new StoreUnavailableError('replicated config is stopped')
    if (!this.writable) throw new AccessDeniedError('not a writer of mycel.releases')
    checkReleaseEntry(key, value)
  }

  get (key: string): unknown { return this.data.get(key) }
  async write (key: string, value: unknown): Promise<void> {
    this.check(key, value)
    this.deliver(key, value)
  }

  deliver (key: string, value: unknown): void {
    this.data.set(key, value)
    for (const l of this.listeners) l(key, value)
  }

  remove (key: string): void {
    this.data.delete(key)
    for (const l of this.listeners) l(key, undefined)
  }

  entries (): Array<[string, unknown]> { return [...this.data] }
  onChange (l: (key: string, value: unknown) => void): () => void {
    this.listeners.add(l)
    return () => { this.listeners.delete(l) }
  }
}

/** A trust set that can change, as critical config's `publishers` does. */
function trustOf (ids: string[]): { list: () => string[], onChange: (l: () => void) => () => void, set: (ids: string[]) => void } {
  let current = [...ids]
  const listeners = new Set<() => void>()
  return {
    list: () => [...current],
    onChange: (l) => { listeners.add(l); return () => { listeners.delete(l) } },
    set: (next) => { current = [...next]; for (const l of listeners) l() }
  }
}

function refusal (f: () => unknown): string {
  try { f(); return 'none' } catch (err) { return (err as Error).name }
}

async function rejection (p: Promise<unknown>): Promise<Error & { status?: number }> {
  return await p.then(() => { throw new Error('expected a refusal') }, (err: Error & { status?: number }) => err)
}

async function counted (s: ArtifactService, reason: string): Promise<number> {
  return (await s.metrics.manifestsRefused.get()).values.find(x => x.labels.reason === reason)?.value ?? 0
}

describe('releases reach every node (mycel.releases)', function () {
  this.timeout(60_000)
  let root: string
  let net: MemoryNetwork
  let key: PrivateKey
  let publisher: string
  let other: PrivateKey
  let n = 0
  const running: ArtifactService[] = []

  before(async () => {
    key = await generateKeyPair('Ed25519')
    publisher = publisherIdOf(key)
    other = await generateKeyPair('Ed25519')
  })

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'mycel-releases-'))
    net = new MemoryNetwork()
  })

  afterEach(async () => {
    for (const s of running.splice(0)) await s.stop()
    await rm(root, { recursive: true, force: true })
  })

  /** A node: its own data dir (`name`), the shared log, a trust set. */
  async function node (name: string, log: ReleaseLog | undefined, publishers: { list: () => string[], onChange?: (l: () => void) => () => void } = trustOf([publisher]), faults = new FaultRegistry()): Promise<ArtifactService> {
    const host = net.host(peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString())
    const s = new ArtifactService({ dataDir: join(root, name), logger, registry: new Registry(), signal: new AbortController().signal, faults, rpc: host, dht },
      { config, publishers, releases: log, now: () => 1_700_000_000_000 + n++ })
    await s.start()
    running.push(s)
    return s
  }

  async function signed (manifest: Manifest = MANIFEST, signer = key, archive: Uint8Array = randomBytes(100)): Promise<{ signed: Uint8Array, archive: Uint8Array }> {
    return { signed: await signManifest(manifest, await addressArchive(archive), signer, publisherIdOf(signer)), archive }
  }

  function entryOf (s: Uint8Array): { key: string, value: { signed: string } } {
    return releaseEntry(decodeSignedManifest(s).manifest, s)
  }

  it('publish on one node: the entry is written once the manifest is durable; every other node lists it and release() returns it', async () => {
    const log = new MemoryLog()
    const [a, b, c] = [await node('a', log), await node('b', log), await node('c', log)]
    const r = await signed()
    const out = await a.publish(r.signed, r.archive)
    const { key: k, value } = entryOf(r.signed)
    expect(log.get(k)).to.deep.equal(value)
    for (const s of [b, c]) {
      await s.settled()
      expect(s.list().map(x => [x.name, x.version, x.publisher, x.archive.cid])).to.deep.equal([['web-probe', '1.0.0', publisher, out.archive.cid]])
      const got = s.release('web-probe', '1.0.0')
      expect(Buffer.from(got.signed).equals(r.signed)).to.equal(true)
      expect(got.manifest.archive).to.deep.equal(out.archive)
      expect((await s.metrics.manifestsLearned.get()).values[0]?.value).to.equal(1)
    }
    // The publishing node learned nothing new from its own entry, and a retry writes nothing more.
    expect((await a.metrics.manifestsLearned.get()).values[0]?.value ?? 0).to.equal(0)
    expect((await a.publish(r.signed, r.archive)).known).to.equal(true)
    expect(log.data.size).to.equal(1)
    // Durable on the learning node: a restart without the log still lists it.
    await b.stop()
    const again = await node('b', undefined)
    expect(again.list().map(x => x.version)).to.deep.equal(['1.0.0'])
    expect(refusal(() => again.release('web-probe', '2.0.0'))).to.equal('UnknownReleaseError')
  })

  it('a node started after the publish reads the release at start', async () => {
    const log = new MemoryLog()
    const a = await node('a', log)
    const r = await signed()
    await a.publish(r.signed, r.archive)
    const late = await node('late', log)
    expect(late.list().map(x => x.name)).to.deep.equal(['web-probe'])
  })

  it('an untrusted manifest written straight into the namespace is refused on every node and counted once; trusting its publisher later lets it in', async () => {
    const log = new MemoryLog()
    const trustB = trustOf([publisher])
    const [a, b] = [await node('a', log), await node('b', log, trustB)]
    const r = await signed(MANIFEST, other)
    const { key: k, value } = entryOf(r.signed)
    await log.write(k, value) // as `mycel config set mycel.releases …` would: the rule passes, trust is not its business
    for (const s of [a, b]) {
      await s.settled()
      expect(s.list()).to.deep.equal([])
      expect(await counted(s, 'untrusted')).to.equal(1)
      expect(refusal(() => s.release('web-probe', '1.0.0'))).to.equal('UntrustedPublisherError')
    }
    // Looked at again (another entry, the same value again): still counted once.
    const good = await signed({ ...MANIFEST, version: '2.0.0' })
    await a.publish(good.signed, good.archive)
    log.deliver(k, value)
    await b.settled()
    expect(await counted(b, 'untrusted')).to.equal(1)
    expect(b.list().map(x => x.version)).to.deep.equal(['2.0.0'])

    trustB.set([publisher, publisherIdOf(other)])
    await b.settled()
    expect(b.list().map(x => [x.version, x.publisher])).to.deep.equal([['1.0.0', publisherIdOf(other)], ['2.0.0', publisher]])
    expect(b.release('web-probe', '1.0.0').manifest.publisher).to.equal(publisherIdOf(other))
    expect(await counted(b, 'untrusted')).to.equal(1)
  })

  it('a forged entry from a node without the rule is refused and counted; it never reaches the store', async () => {
    const log = new MemoryLog()
    const a = await node('a', log)
    const r = await signed()
    const { key: k, value } = entryOf(r.signed)
    log.deliver(k.replace('1.0.0', '1.0.1'), value)
    log.deliver(k, { signed: value.signed.slice(0, -8) + 'AAAAAAAA' })
    await a.settled()
    expect(await counted(a, 'invalid') + await counted(a, 'signature')).to.equal(2)
    expect(a.list()).to.deep.equal([])
    expect(await readdir(join(root, 'a', 'artifacts', 'manifests')).catch(() => [])).to.deep.equal([])
  })

  it('two contents for one version published on two nodes: conflicted on every node, refused at use and counted, whatever the order', async () => {
    const [logA, logB] = [new MemoryLog(), new MemoryLog()]
    const [a, b] = [await node('a', logA), await node('b', logB)]
    const one = await signed()
    const two = await signed()
    await a.publish(one.signed, one.archive)
    await b.publish(two.signed, two.archive)
    // Replication: each log receives the other's entry.
    for (const [from, to] of [[logA, logB], [logB, logA]] as const) for (const [k, v] of [...from.data]) to.deliver(k, v)
    const merged = new MemoryLog()
    for (const [k, v] of [...logB.data].reverse()) merged.deliver(k, v)
    const c = await node('c', merged)
    for (const s of [a, b, c]) {
      await s.settled()
      expect(refusal(() => s.release('web-probe', '1.0.0')), 'release').to.equal('ManifestConflictError')
      expect(s.list().map(x => x.conflict)).to.deep.equal([true])
      expect(await counted(s, 'conflict')).to.equal(1)
    }
    // A third content is refused at publish, on a node that never held either.
    const three = await signed()
    expect((await rejection(c.publish(three.signed, three.archive))).name).to.equal('ManifestConflictError')
    // An untrusted fourth content does not change the verdict, nor make one where there is none.
    const untrusted = await signed({ ...MANIFEST, version: '3.0.0' }, other)
    const ok = await signed({ ...MANIFEST, version: '3.0.0' })
    await c.publish(ok.signed, ok.archive)
    const u = entryOf(untrusted.signed)
    merged.deliver(u.key, u.value)
    await c.settled()
    expect(Buffer.from(c.release('web-probe', '3.0.0').signed).equals(ok.signed)).to.equal(true)
  })

  it('the verdict on a version is the same on every node whatever order its entries arrive in (fast-check)', async () => {
    const contents = [await signed(), await signed(), await signed(MANIFEST, other)]
    // The same content signed again by another trusted publisher is not a conflict.
    const second = await generateKeyPair('Ed25519')
    const resigned = { signed: await signManifest(MANIFEST, decodeSignedManifest(contents[0]!.signed).manifest.archive, second, publisherIdOf(second)), archive: contents[0]!.archive }
    const all = [...contents, resigned].map(r => entryOf(r.signed))
    const trusted = [publisher, publisherIdOf(second)]
    let run = 0
    await fc.assert(fc.asyncProperty(fc.shuffledSubarray(all, { minLength: 1 }), async (entries) => {
      const outcomes: string[] = []
      for (const order of [entries, [...entries].reverse()]) {
        const log = new MemoryLog()
        const s = await node(`p${run++}`, log, trustOf(trusted))
        for (const e of order) log.deliver(e.key, e.value)
        await s.settled()
        outcomes.push(refusal(() => s.release('web-probe', '1.0.0')))
        await s.stop()
      }
      expect(outcomes[1]).to.equal(outcomes[0])
      const distinct = new Set(entries.filter(e => e !== all[2]).map(e => decodeSignedManifest(Buffer.from(e.value.signed, 'base64')).manifest.archive.cid))
      expect(outcomes[0]).to.equal(distinct.size > 1 ? 'ManifestConflictError' : distinct.size === 1 ? 'none' : 'UntrustedPublisherError')
    }), { numRuns: Math.max(1, Math.floor(PROPERTY_RUNS / 20)) })
  })

  it('a publish that could not reach the other nodes is refused before anything is stored (config stopped: 503; not a writer: 403)', async () => {
    const log = new MemoryLog()
    const a = await node('a', log)
    const r = await signed()
    log.stopped = true
    const stopped = await rejection(a.publish(r.signed, r.archive))
    expect([stopped.name, stopped.status]).to.deep.equal(['StoreUnavailableError', 503])
    log.stopped = false
    log.writable = false
    const denied = await rejection(a.publish(r.signed, r.archive))
    expect([denied.name, denied.status]).to.deep.equal(['AccessDeniedError', 403])
    expect(a.list()).to.deep.equal([])
    const list = async (d: string): Promise<string[]> => await readdir(join(root, 'a', 'artifacts', d)).catch(() => [])
    expect([await list('manifests'), await list('blocks')]).to.deep.equal([[], []])
    log.writable = true
    expect((await a.publish(r.signed, r.archive)).known).to.equal(false)
    expect(log.data.size).to.equal(1)
  })

  it('a stored release without an entry (published before, or its entry write failed) gets one at start', async () => {
    const alone = await node('a', undefined)
    const r = await signed()
    await alone.publish(r.signed, r.archive)
    await alone.stop()
    const log = new MemoryLog()
    await node('a', log)
    const { key: k, value } = entryOf(r.signed)
    expect(log.get(k)).to.deep.equal(value)
  })

  it('trust is checked at use: a release whose publisher is no longer trusted is refused, and listed still', async () => {
    const log = new MemoryLog()
    const trust = trustOf([publisher])
    const a = await node('a', log, trust)
    const r = await signed()
    await a.publish(r.signed, r.archive)
    expect(refusal(() => a.release('web-probe', '1.0.0'))).to.equal('none')
    trust.set([])
    expect(refusal(() => a.release('web-probe', '1.0.0'))).to.equal('UntrustedPublisherError')
    expect(a.list().map(x => x.version)).to.deep.equal(['1.0.0'])
    await a.stop()
    expect(refusal(() => a.release('web-probe', '1.0.0'))).to.equal('ArtifactServiceStoppedError')
  })
})
