/**
 * Artifact distribution over real libp2p nodes in one process (loopback TCP,
 * yamux, noise, our kad-dht): a 20 MB archive imported on one node and
 * fetched by three others at once, each finding providers in the DHT and
 * the publisher by name; every copy verified; bytes fetched and served add
 * up. Prints throughput, CPU per MB (process.cpuUsage covers all four
 * nodes, since they share the process) and the MB each node served
 * (publisher vs fetchers: the fetchers serve each other what they hold).
 *
 *   flock /tmp/mycel-heavy.lock npx mocha test/integration/artifact-transfer.test.ts
 *
 * MYCEL_ARTIFACT_MB sets the size; MYCEL_ARTIFACT_UNCAPPED=1 lifts the lan
 * serving cap (64 MiB/s per node) to measure the protocol alone.
 */
import { strict as assert } from 'node:assert'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createNode, type MycelNode } from '../../daemon/node.js'
import { libp2pTunables } from '../../daemon/profiles.js'
import {
  ArtifactFetcher, ArtifactServer, BlockStore, artifactMetrics, artifactTunables, type ArtifactMetrics
} from '../../protocols/artifacts/index.js'
import { waitFor } from '../../harness/agent-process.js'

const logger = pino({ level: 'silent' })
const MB = Number(process.env.MYCEL_ARTIFACT_MB ?? 20)

interface Peer {
  node: MycelNode
  id: string
  store: BlockStore
  server: ArtifactServer
  fetcher: ArtifactFetcher
  metrics: ArtifactMetrics
}

async function total (c: { get: () => Promise<{ values: Array<{ value: number }> }> }): Promise<number> {
  return (await c.get()).values.reduce((a, v) => a + v.value, 0)
}

describe('artifact distribution over real libp2p (4 in-process nodes)', function () {
  this.timeout(180_000)
  const peers: Peer[] = []
  let dir: string
  const shutdown = new AbortController()
  const config = artifactTunables.create('lan', process.env.MYCEL_ARTIFACT_UNCAPPED === '1' ? { serveBytesPerSecond: 0 } : {})

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mycel-artifact-it-'))
    for (let i = 0; i < 4; i++) {
      const key = await generateKeyPair('Ed25519')
      const node = await createNode({ privateKey: key, listen: ['/ip4/127.0.0.1/tcp/0'], profile: libp2pTunables.defaults('test') })
      await node.start()
      const id = peerIdFromPrivateKey(key).toString()
      // Separate registries would be separate processes; here one metrics object per node.
      const metrics = artifactMetrics()
      const store = new BlockStore({ dataDir: join(dir, `n${i}`), metrics })
      const server = new ArtifactServer({ logger, host: node }, { config, store, metrics })
      await server.start()
      const fetcher = new ArtifactFetcher({ peerId: id, logger, signal: shutdown.signal, host: node, routing: node.services.dht }, { config, store, metrics })
      peers.push({ node, id, store, server, fetcher, metrics })
    }
    for (let i = 1; i < peers.length; i++) {
      for (let j = 0; j < i; j++) await peers[i].node.dial(peers[j].node.getMultiaddrs()[0])
    }
    await waitFor(() => peers.every(p => (p.node.services.dht as unknown as { routingTable: { size: number } }).routingTable.size >= peers.length - 1), 30_000, 'routing tables')
  })

  after(async () => {
    shutdown.abort()
    for (const p of peers) await p.server.stop()
    await Promise.all(peers.map(async p => { await p.node.stop() }))
    await rm(dir, { recursive: true, force: true })
  })

  it(`publishes ${MB} MB on one node; three fetch it at once, verified; bytes fetched and served add up`, async () => {
    const data = randomBytes(MB * 1024 * 1024)
    const [pub, ...others] = peers
    const { index, root } = await pub.store.importArchive(data, config.chunkBytes)
    await pub.fetcher.provide(index.archive)
    const indexBytes = (await pub.store.get(root))!.byteLength

    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    const results = await Promise.all(others.map(async p => await p.fetcher.fetch({ archive: index.archive, size: data.byteLength, peers: [pub.id] })))
    const seconds = (performance.now() - t0) / 1000
    const cpu = process.cpuUsage(cpu0)

    for (const [i, r] of results.entries()) {
      const p = others[i]
      assert.equal(r.index.archive, index.archive)
      assert.equal(r.fetchedChunks, index.chunks.length)
      assert.deepEqual(r.liars, [])
      const chunks: Uint8Array[] = []
      for await (const c of p.store.read(r.index)) chunks.push(c)
      assert.ok(Buffer.concat(chunks).equals(data), `node ${i + 1} holds the archive`)
      assert.equal(await total(p.metrics.bytesFetched), data.byteLength)
    }
    const served = (await Promise.all(peers.map(async p => await total(p.metrics.bytesServed)))).reduce((a, b) => a + b, 0)
    // Every chunk byte fetched was served by someone, and each fetcher got one index.
    assert.equal(served, others.length * (data.byteLength + indexBytes))
    // Once done, a fetcher is a provider: the DHT names it.
    const found = new Set<string>()
    for await (const ev of peers[1].node.services.dht.findProviders((await import('multiformats/cid')).CID.parse(index.archive), { signal: AbortSignal.timeout(10_000) })) {
      if (ev.name === 'PROVIDER') for (const p of ev.providers) found.add(p.id.toString())
      if (found.size >= 2) break
    }
    assert.ok(found.size >= 2, `providers found: ${[...found].join(', ')}`)

    const mbMoved = (others.length * data.byteLength) / (1024 * 1024)
    const cpuMs = (cpu.user + cpu.system) / 1000
    // Fetchers announce themselves at the index and serve what they hold: the publisher serves less than all of it.
    const servedBy = await Promise.all(peers.map(async p => (await total(p.metrics.bytesServed) / (1024 * 1024)).toFixed(1)))
    console.log(`      ${MB} MB to ${others.length} nodes: ${seconds.toFixed(2)} s wall, ${(mbMoved / seconds).toFixed(1)} MB/s aggregate, ` +
      `CPU ${cpuMs.toFixed(0)} ms = ${(cpuMs / mbMoved).toFixed(1)} ms per MB moved (all 4 nodes, one process); ` +
      `served MB: publisher ${servedBy[0]}, fetchers ${servedBy.slice(1).join('/')}; ` +
      `serve cap ${config.serveBytesPerSecond === 0 ? 'none' : `${config.serveBytesPerSecond / (1024 * 1024)} MiB/s`}`)
  })
})
