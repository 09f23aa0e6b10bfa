/**
 * Artifact transfer over the in-memory network: a fetch from several
 * providers, a lying provider (caught, counted, fetched elsewhere), a fetch
 * stopped half-way and resumed over the same store, garbage requests.
 */
import { expect } from 'chai'
import fc from 'fast-check'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { BlockStore } from '../../../protocols/artifacts/block-store.js'
import { CBOR_CODEC, blockCid, encodeIndex } from '../../../protocols/artifacts/chunks.js'
import { artifactTunables, type ArtifactConfig } from '../../../protocols/artifacts/constants.js'
import { ArtifactFetcher } from '../../../protocols/artifacts/fetcher.js'
import { artifactMetrics } from '../../../protocols/artifacts/metrics.js'
import type { ProviderRouting } from '../../../protocols/artifacts/routing.js'
import { ArtifactServer } from '../../../protocols/artifacts/server.js'
import { ARTIFACT_PROTOCOL, decodeResponse, encodeRequest } from '../../../protocols/artifacts/transfer.js'
import { encodeCbor } from '../../../wire/codec.js'
import { requestMany } from '../../../wire/rpc.js'
import { MemoryNetwork, type MemoryHost } from '../../helpers/memory-host.js'
import { PROPERTY_RUNS } from '../../helpers/wire-evolution.js'

const logger = pino({ level: 'silent' })

/** Provider records in a map: what the DHT would hold. */
class FakeRouting {
  readonly records = new Map<string, PeerId[]>()
  for (self: PeerId): ProviderRouting {
    const records = this.records
    return {
      async * provide (key: CID) { records.set(key.toString(), [...(records.get(key.toString()) ?? []), self]) },
      async * findProviders (key: CID) {
        yield { name: 'PROVIDER', providers: (records.get(key.toString()) ?? []).map(id => ({ id })) }
      }
    }
  }
}

/** Serves every chunk with one bit flipped (the index is served as it is). */
class LyingStore extends BlockStore {
  override async get (cid: CID): Promise<Uint8Array | undefined> {
    const b = await super.get(cid)
    if (b === undefined || cid.code !== raw.code) return b
    const bad = Buffer.from(b)
    bad[0] ^= 1
    return bad
  }
}

interface Node {
  id: string
  host: MemoryHost
  store: BlockStore
  server: ArtifactServer
  fetcher: ArtifactFetcher
  metrics: ReturnType<typeof artifactMetrics>
}

async function until (cond: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

async function counter (c: { get: () => Promise<{ values: Array<{ value: number }> }> }): Promise<number> {
  return (await c.get()).values.reduce((a, v) => a + v.value, 0)
}

describe('artifact transfer (in-memory network)', function () {
  this.timeout(60_000)
  let dir: string
  let net: MemoryNetwork
  let routing: FakeRouting
  const nodes: Node[] = []
  const config: ArtifactConfig = artifactTunables.defaults('test')

  async function node (opts: { lying?: boolean, dataDir?: string, config?: Partial<ArtifactConfig>, store?: BlockStore } = {}): Promise<Node> {
    const id = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    const host = net.host(id.toString())
    const dataDir = opts.dataDir ?? await mkdtemp(join(dir, 'node-'))
    const metrics = artifactMetrics()
    const store = opts.store ?? (opts.lying === true ? new LyingStore({ dataDir, metrics }) : new BlockStore({ dataDir, metrics }))
    const cfg = { ...config, ...opts.config }
    const server = new ArtifactServer({ logger, host }, { config: cfg, store, metrics })
    await server.start()
    const fetcher = new ArtifactFetcher({ peerId: id.toString(), logger, signal: new AbortController().signal, host, routing: routing.for(id) },
      { config: cfg, store, metrics })
    const n = { id: id.toString(), host, store, server, fetcher, metrics }
    nodes.push(n)
    return n
  }

  /** Random bytes: no two chunks alike, so chunk counts are exact. */
  function archive (n: number): Buffer {
    return randomBytes(n)
  }

  async function collect (source: AsyncIterable<Uint8Array>): Promise<Buffer> {
    const out: Uint8Array[] = []
    for await (const c of source) out.push(c)
    return Buffer.concat(out)
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mycel-artifact-'))
    net = new MemoryNetwork()
    routing = new FakeRouting()
  })

  afterEach(async () => {
    for (const n of nodes.splice(0)) { await n.server.stop(); n.host.stop() }
    await rm(dir, { recursive: true, force: true })
  })

  it('fetches from the publisher and a DHT provider, verifies, and then provides', async () => {
    const pub = await node()
    const other = await node()
    const data = archive(20 * config.chunkBytes + 123)
    const { index } = await pub.store.importArchive(data, config.chunkBytes)
    await other.store.importArchive(data, config.chunkBytes)
    await pub.fetcher.provide(index.archive)
    await other.fetcher.provide(index.archive)
    const me = await node()
    const r = await me.fetcher.fetch({ archive: index.archive, size: data.byteLength, peers: [pub.id] })
    expect(r.fetchedChunks).to.equal(index.chunks.length)
    expect(r.reusedChunks).to.equal(0)
    expect((await collect(me.store.read(r.index))).equals(data)).to.equal(true)
    expect(await counter(me.metrics.bytesFetched)).to.equal(data.byteLength)
    // Both providers served: the fetch spreads over them.
    expect(await counter(pub.metrics.bytesServed)).to.be.greaterThan(0)
    expect(await counter(other.metrics.bytesServed)).to.be.greaterThan(0)
    const served = await counter(pub.metrics.bytesServed) + await counter(other.metrics.bytesServed)
    // Chunks plus one index block.
    expect(served).to.equal(data.byteLength + (await pub.store.get(r.root))!.byteLength)
    expect(routing.records.get(index.archive)?.map(String)).to.include(me.id)
    expect((await me.metrics.fetchDuration.get()).values.find(v => v.metricName?.endsWith('_count') === true && v.labels.result === 'ok')?.value).to.equal(1)
  })

  it('a lying provider is caught, counted and dropped; its chunks come from elsewhere', async () => {
    const liar = await node({ lying: true })
    const honest = await node()
    const data = archive(12 * config.chunkBytes)
    const { index } = await honest.store.importArchive(data, config.chunkBytes)
    await liar.store.importArchive(data, config.chunkBytes)
    const me = await node()
    // The liar is named first, so it is asked before anyone else.
    const r = await me.fetcher.fetch({ archive: index.archive, peers: [liar.id, honest.id] })
    expect(r.liars).to.deep.equal([liar.id])
    expect(await counter(me.metrics.verificationFailures)).to.be.at.least(1)
    expect((await collect(me.store.read(r.index))).equals(data)).to.equal(true)
    expect(r.fetchedChunks).to.equal(index.chunks.length)
  })

  it('an index that lies (another archive\'s chunks under this archive\'s CID) is dropped, its provider blamed, the index fetched elsewhere', async () => {
    const liar = await node()
    const honest = await node()
    const data = archive(6 * config.chunkBytes)
    const { index } = await honest.store.importArchive(data, config.chunkBytes)
    // Same size, other bytes: every chunk verifies against its CID, the whole is not the archive.
    const other = await liar.store.importArchive(archive(data.byteLength), config.chunkBytes)
    const forged = encodeIndex({ ...other.index, archive: index.archive })
    const forgedRoot = blockCid(forged, CBOR_CODEC)
    await liar.store.put(forgedRoot, forged)
    await liar.store.putRoot(index.archive, forgedRoot)
    const me = await node()
    const r = await me.fetcher.fetch({ archive: index.archive, size: data.byteLength, peers: [liar.id, honest.id] })
    expect(r.liars).to.deep.equal([liar.id])
    expect(await counter(me.metrics.indexRejections)).to.equal(1)
    expect(r.root.toString()).to.equal((await honest.store.getIndex(index.archive))?.root.toString())
    expect((await collect(me.store.read(r.index))).equals(data)).to.equal(true)
  })

  it('a fetch stopped half-way continues over the same store, fetching only the missing chunks', async () => {
    const pub = await node()
    const data = archive(16 * config.chunkBytes + 5)
    const { index } = await pub.store.importArchive(data, config.chunkBytes)
    const dataDir = await mkdtemp(join(dir, 'resumer-'))
    const stop = new AbortController()
    // Abort after the fifth chunk is stored.
    class StoppingStore extends BlockStore {
      puts = 0
      override async put (cid: CID, bytes: Uint8Array): Promise<void> {
        await super.put(cid, bytes)
        if (cid.code === raw.code && ++this.puts === 5) stop.abort(new Error('stopped'))
      }
    }
    const first = await node({ dataDir, store: new StoppingStore({ dataDir }), config: { windowPerProvider: 1, wantPerRequest: 1 } })
    let err: Error | undefined
    await first.fetcher.fetch({ archive: index.archive, peers: [pub.id], signal: stop.signal }).catch(e => { err = e })
    expect(err).to.not.equal(undefined)
    first.host.stop()
    const held = (await first.store.listBlocks()).length - 1 // less the index block
    expect(held).to.be.within(5, index.chunks.length - 1)
    const servedBefore = await counter(pub.metrics.bytesServed)
    const second = await node({ dataDir })
    const r = await second.fetcher.fetch({ archive: index.archive, peers: [pub.id] })
    expect(r.reusedChunks).to.equal(held)
    expect(r.fetchedChunks).to.equal(index.chunks.length - held)
    // The index came from disk: only the missing chunks were served.
    const servedAfter = await counter(pub.metrics.bytesServed)
    expect(servedAfter - servedBefore).to.equal(r.fetchedBytes)
    expect((await collect(second.store.read(r.index))).equals(data)).to.equal(true)
  })

  it('a chunk corrupted on disk after a fetch is fetched again', async () => {
    const pub = await node()
    const data = archive(4 * config.chunkBytes)
    const { index } = await pub.store.importArchive(data, config.chunkBytes)
    const me = await node()
    await me.fetcher.fetch({ archive: index.archive, peers: [pub.id] })
    await writeFile(me.store.blockPath(index.chunks[2]), Buffer.alloc(config.chunkBytes))
    const r = await me.fetcher.fetch({ archive: index.archive, peers: [pub.id] })
    expect(r.fetchedChunks).to.equal(1)
    expect(await counter(me.metrics.blockCorruptions)).to.equal(1)
    expect((await collect(me.store.read(r.index))).equals(data)).to.equal(true)
  })

  it('a fetcher announces itself at the index; a partial holder serves what it holds to the next fetcher', async () => {
    const pub = await node()
    const data = archive(20 * config.chunkBytes)
    const { index, root } = await pub.store.importArchive(data, config.chunkBytes)
    const stop = new AbortController()
    const keep = index.chunks.length - 3
    class StoppingStore extends BlockStore {
      puts = 0
      override async put (cid: CID, bytes: Uint8Array): Promise<void> {
        await super.put(cid, bytes)
        if (cid.code === raw.code && ++this.puts === keep) stop.abort(new Error('stopped'))
      }
    }
    const bDir = await mkdtemp(join(dir, 'partial-'))
    const b = await node({ dataDir: bDir, store: new StoppingStore({ dataDir: bDir }), config: { windowPerProvider: 1, wantPerRequest: 1 } })
    let err: Error | undefined
    await b.fetcher.fetch({ archive: index.archive, peers: [pub.id], signal: stop.signal }).catch(e => { err = e })
    expect(err).to.not.equal(undefined)
    // Stopped short of the archive, yet in the DHT: it holds the index.
    expect(routing.records.get(index.archive)?.map(String)).to.deep.equal([b.id])
    const held = (await b.store.listBlocks()).length - 1
    expect(held).to.be.within(keep, index.chunks.length - 1)
    const servedByPubBefore = await counter(pub.metrics.bytesServed)
    // C is given the publisher; B it finds in the DHT.
    const c = await node()
    const r = await c.fetcher.fetch({ archive: index.archive, size: data.byteLength, peers: [pub.id] })
    expect((await collect(c.store.read(r.index))).equals(data)).to.equal(true)
    expect(r.liars).to.deep.equal([])
    const fromB = await counter(b.metrics.bytesServed)
    const fromPub = await counter(pub.metrics.bytesServed) - servedByPubBefore
    expect(fromB).to.be.greaterThan(0)
    expect(fromB + fromPub).to.equal(data.byteLength + (await pub.store.get(root))!.byteLength)
  })

  it('a provider\'s missing is "not yet": the chunk is asked again after lackingRetryMs, no sooner, and the fetch completes', async () => {
    const data = archive(6 * config.chunkBytes)
    const holdMs = 3.5 * config.lackingRetryMs
    let hidden = ''
    let asked = 0
    let until = 0
    class LateStore extends BlockStore {
      override async get (cid: CID): Promise<Uint8Array | undefined> {
        if (cid.toString() === hidden) {
          asked++
          if (Date.now() < until) return undefined
        }
        return await super.get(cid)
      }
    }
    const pubDir = await mkdtemp(join(dir, 'late-'))
    const pub = await node({ dataDir: pubDir, store: new LateStore({ dataDir: pubDir }) })
    const { index } = await pub.store.importArchive(data, config.chunkBytes)
    hidden = index.chunks[3].toString()
    const me = await node()
    const t0 = Date.now()
    until = t0 + holdMs
    const r = await me.fetcher.fetch({ archive: index.archive, peers: [pub.id] })
    const elapsed = Date.now() - t0
    expect((await collect(me.store.read(r.index))).equals(data)).to.equal(true)
    expect(elapsed).to.be.at.least(holdMs)
    // Asked once, then once per expiry until it had it: never more often (no busy loop).
    expect(asked).to.be.within(2, Math.ceil(elapsed / config.lackingRetryMs) + 1)
  })

  it('with every upload slot taken another peer is choked: its chunks "missing" at once, the index still served; both fetches complete', async () => {
    // One slot, and a slow uplink so the first fetch holds it while the second peer asks.
    const pub = await node({ config: { uploadSlots: 1, serveBytesPerSecond: 8 * config.chunkBytes, bucketBurstBytes: config.chunkBytes } })
    const data = archive(16 * config.chunkBytes)
    const { index } = await pub.store.importArchive(data, config.chunkBytes)
    const a = await node()
    const first = a.fetcher.fetch({ archive: index.archive, peers: [pub.id] })
    await until(async () => await counter(pub.metrics.bytesServed) > 2 * config.chunkBytes)
    const b = await node()
    const raw = await requestMany(b.host, pub.host.peerId, ARTIFACT_PROTOCOL, encodeRequest({ want: [index.chunks[0].bytes, index.chunks[1].bytes], index: index.archive }), {
      timeoutMs: 5_000, maxBytes: 1 << 20, maxFrames: 4
    })
    const frames = raw.map(f => decodeResponse(f))
    expect(frames.map(f => f.t)).to.deep.equal(['index', 'missing'])
    expect((frames[1] as { cids: Uint8Array[] }).cids).to.have.length(2)
    expect(await counter(pub.metrics.requestsChoked)).to.be.at.least(1)
    // Choked is "not yet": b completes once a slot frees (or from a, which holds chunks by then).
    const second = b.fetcher.fetch({ archive: index.archive, peers: [pub.id] })
    const [ra, rb] = await Promise.all([first, second])
    expect((await collect(a.store.read(ra.index))).equals(data)).to.equal(true)
    expect((await collect(b.store.read(rb.index))).equals(data)).to.equal(true)
  })

  it('a slot held for slotRotateMs while another peer waits goes to that peer: the holder is choked at its next request', async () => {
    const rotate = 300
    const pub = await node({ config: { uploadSlots: 1, slotRotateMs: rotate, serveBytesPerSecond: 4 * config.chunkBytes, bucketBurstBytes: config.chunkBytes } })
    const data = archive(12 * config.chunkBytes)
    const { index } = await pub.store.importArchive(data, config.chunkBytes)
    const a = await node()
    const b = await node()
    const ask = async (from: Node, chunks: number[]): Promise<string[]> => (await requestMany(from.host, pub.host.peerId, ARTIFACT_PROTOCOL,
      encodeRequest({ want: chunks.map(i => index.chunks[i].bytes) }), { timeoutMs: 10_000, maxBytes: 4 << 20, maxFrames: 16 })).map(f => decodeResponse(f).t)
    // a takes the only slot with a slow request (8 chunks at 4 chunks/s).
    const long = ask(a, [0, 1, 2, 3, 4, 5, 6, 7])
    await until(async () => await counter(pub.metrics.bytesServed) > 0)
    expect(await ask(b, [8])).to.deep.equal(['missing'], 'b choked: the slot is a\'s')
    const t0 = Date.now()
    await until(async () => Date.now() - t0 > rotate)
    // A waiting fetcher asks again every lackingRetryMs: still choked, still waiting.
    expect(await ask(b, [8])).to.deep.equal(['missing'])
    expect(await ask(a, [9])).to.deep.equal(['missing'], 'a held its slot past slotRotateMs while b waited: choked')
    expect((await long).filter(t => t === 'block')).to.have.length(8, 'its requests in flight finish')
    expect(await ask(b, [8])).to.deep.equal(['block', 'missing'], 'the freed slot serves b')
  })

  it('a chunk no provider ever gets: ArtifactUnavailableError after stallTimeoutMs, asked once per lackingRetryMs meanwhile', async () => {
    const data = archive(4 * config.chunkBytes)
    let hidden = ''
    let asked = 0
    class HoleStore extends BlockStore {
      override async get (cid: CID): Promise<Uint8Array | undefined> {
        if (cid.toString() === hidden) { asked++; return undefined }
        return await super.get(cid)
      }
    }
    const pubDir = await mkdtemp(join(dir, 'hole-'))
    const pub = await node({ dataDir: pubDir, store: new HoleStore({ dataDir: pubDir }) })
    const { index } = await pub.store.importArchive(data, config.chunkBytes)
    hidden = index.chunks[1].toString()
    const stallTimeoutMs = 5 * config.lackingRetryMs
    const me = await node({ config: { stallTimeoutMs } })
    const t0 = Date.now()
    let err: Error | undefined
    await me.fetcher.fetch({ archive: index.archive, peers: [pub.id] }).catch(e => { err = e })
    const elapsed = Date.now() - t0
    expect(err?.name).to.equal('ArtifactUnavailableError')
    expect(elapsed).to.be.at.least(stallTimeoutMs)
    expect(asked).to.be.within(2, Math.ceil(elapsed / config.lackingRetryMs) + 1)
  })

  it('no provider: ArtifactUnavailableError', async () => {
    const data = archive(config.chunkBytes)
    const pub = await node()
    const { index } = await pub.store.importArchive(data, config.chunkBytes)
    pub.host.stop()
    const me = await node()
    let err: Error | undefined
    await me.fetcher.fetch({ archive: index.archive, peers: [pub.id] }).catch(e => { err = e })
    expect(err?.name).to.equal('ArtifactUnavailableError')
  })

  it('garbage requests are answered with an error or dropped; the server keeps serving', async () => {
    const pub = await node()
    const data = archive(3 * config.chunkBytes)
    const { index } = await pub.store.importArchive(data, config.chunkBytes)
    const client = await node()
    const structured = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.anything().map(v => { try { return encodeCbor(v) } catch { return Uint8Array.of(0) } }),
      fc.array(fc.uint8Array({ maxLength: 70 }), { maxLength: 80 }).map(want => encodeCbor({ v: 1, want })),
      fc.string().map(s => encodeCbor({ v: 1, want: [], index: s })),
      fc.constant(encodeCbor({ v: 2, want: [] })),
      fc.constant(new Uint8Array(10_000))
    )
    await fc.assert(fc.asyncProperty(structured, async (body) => {
      const frames = await requestMany(client.host, pub.host.peerId, ARTIFACT_PROTOCOL, body, { timeoutMs: 5_000, maxBytes: 4 * 1024 * 1024, maxFrames: 100 })
        .catch(() => [] as Uint8Array[])
      for (const f of frames) {
        const msg = decodeResponse(f)
        if (msg.t === 'block') expect(index.chunks.map(String)).to.include(CID.decode(msg.cid).toString())
      }
    }), { numRuns: Math.min(PROPERTY_RUNS, 100) })
    expect(await counter(pub.metrics.requestsRejected)).to.be.greaterThan(0)
    // An unknown block is reported missing, not an error.
    const unknown = blockCid(Uint8Array.of(1, 2, 3))
    const frames = await requestMany(client.host, pub.host.peerId, ARTIFACT_PROTOCOL, encodeRequest({ want: [unknown.bytes] }), { timeoutMs: 5_000, maxBytes: 1 << 20, maxFrames: 10 })
    expect(frames.map(f => decodeResponse(f).t)).to.deep.equal(['missing'])
    const r = await client.fetcher.fetch({ archive: index.archive, peers: [pub.id] })
    expect((await collect(client.store.read(r.index))).equals(data)).to.equal(true)
  })
})
