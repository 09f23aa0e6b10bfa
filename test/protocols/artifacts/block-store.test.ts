/** The block store: verified reads (a corrupt block is deleted and counted), resumable imports, GC of exactly the unreachable. */
import { expect } from 'chai'
import fc from 'fast-check'
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BlockStore } from '../../../protocols/artifacts/block-store.js'
import { blockCid } from '../../../protocols/artifacts/chunks.js'
import { MIN_CHUNK_BYTES } from '../../../protocols/artifacts/constants.js'
import { artifactMetrics } from '../../../protocols/artifacts/metrics.js'
import { PROPERTY_RUNS } from '../../helpers/wire-evolution.js'

function bytesOf (n: number, seed: number): Buffer {
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed * 13) & 0xff
  return b
}

async function collect (source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const out: Uint8Array[] = []
  for await (const c of source) out.push(c)
  return Buffer.concat(out)
}

describe('artifact block store', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'mycel-blocks-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('puts, has and gets a block; refuses bytes that are not the CID', async () => {
    const store = new BlockStore({ dataDir: dir })
    const data = bytesOf(1000, 1)
    const cid = blockCid(data)
    expect(await store.has(cid)).to.equal(false)
    expect(await store.get(cid)).to.equal(undefined)
    await store.put(cid, data)
    expect(await store.has(cid)).to.equal(true)
    expect(Buffer.from((await store.get(cid))!).equals(data)).to.equal(true)
    let err: Error | undefined
    await store.put(cid, bytesOf(1000, 2)).catch(e => { err = e })
    expect(err?.name).to.equal('BlockMismatchError')
  })

  it('a block corrupt on disk reads as missing, is deleted and counted', async () => {
    const metrics = artifactMetrics()
    const store = new BlockStore({ dataDir: dir, metrics })
    const data = bytesOf(500, 3)
    const cid = blockCid(data)
    await store.put(cid, data)
    const flipped = Buffer.from(data)
    flipped[10] ^= 1
    await writeFile(store.blockPath(cid), flipped)
    const before = (await metrics.blockCorruptions.get()).values[0]?.value ?? 0
    expect(await store.get(cid)).to.equal(undefined)
    expect(await store.has(cid)).to.equal(false)
    expect((await metrics.blockCorruptions.get()).values[0]?.value).to.equal(before + 1)
  })

  it('imports an archive and reads it back whole; its index is found by the archive CID', async () => {
    const store = new BlockStore({ dataDir: dir })
    const data = bytesOf(3 * MIN_CHUNK_BYTES + 17, 4)
    const { index, root } = await store.importArchive(data, MIN_CHUNK_BYTES)
    const again = await new BlockStore({ dataDir: dir }).getIndex(index.archive)
    expect(again?.root.toString()).to.equal(root.toString())
    expect(await store.missing(index)).to.deep.equal([])
    expect((await collect(store.read(index))).equals(data)).to.equal(true)
  })

  it('gc keeps exactly the blocks reachable from the archives kept', async function () {
    this.timeout(120_000)
    // Archives that share chunks (equal content at equal offsets), some kept.
    const gen = fc.array(fc.record({ chunks: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 4 }), tail: fc.integer({ min: 0, max: 100 }), keep: fc.boolean() }), { minLength: 1, maxLength: 4 })
    await fc.assert(fc.asyncProperty(gen, async (archives) => {
      await rm(dir, { recursive: true, force: true })
      const store = new BlockStore({ dataDir: dir })
      const imported = []
      for (const a of archives) {
        const data = Buffer.concat([...a.chunks.map(s => bytesOf(MIN_CHUNK_BYTES, s)), bytesOf(a.tail, 9)])
        imported.push({ ...(await store.importArchive(data, MIN_CHUNK_BYTES)), keep: a.keep })
      }
      // A stray block no archive names, and a temp file a crash left.
      const stray = bytesOf(99, 42)
      await store.put(blockCid(stray), stray)
      await writeFile(join(store.blocksDir, `${blockCid(stray).toString()}.tmp-dead`), 'x')
      const kept = imported.filter(a => a.keep)
      const expected = new Set(kept.flatMap(a => [a.root.toString(), ...a.index.chunks.map(String)]))
      await store.gc(kept.map(a => a.index.archive))
      expect(new Set(await readdir(store.blocksDir))).to.deep.equal(expected)
      for (const a of kept) expect((await collect(store.read(a.index))).byteLength).to.equal(a.index.size)
      for (const a of imported.filter(x => !x.keep && !kept.some(k => k.index.archive === x.index.archive))) {
        expect(await store.getIndex(a.index.archive)).to.equal(undefined)
      }
    }), { numRuns: Math.min(PROPERTY_RUNS, 40) })
  })
})
