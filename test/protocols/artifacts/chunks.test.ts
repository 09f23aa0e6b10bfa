/** Archives as blocks: any size splits and reassembles to the same bytes; every chunk and the whole are verified. */
import { expect } from 'chai'
import fc from 'fast-check'
import type { CID } from 'multiformats/cid'
import { addressArchive } from '../../../protocols/artifacts/signed-manifest.js'
import {
  CBOR_CODEC, blockCid, chunkCount, decodeIndex, encodeIndex, readArchive, rechunk, splitArchive, verifyBlock
} from '../../../protocols/artifacts/chunks.js'
import { MIN_CHUNK_BYTES } from '../../../protocols/artifacts/constants.js'
import { PROPERTY_RUNS } from '../../helpers/wire-evolution.js'

async function collect (source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const out: Uint8Array[] = []
  for await (const c of source) out.push(c)
  return Buffer.concat(out)
}

/** Split `data` into a map of blocks; the stream is cut into pieces of `piece` bytes, as a file read would. */
async function split (data: Uint8Array, chunkSize: number, piece: number) {
  const blocks = new Map<string, Uint8Array>()
  const pieces = async function * () { for (let i = 0; i < data.byteLength; i += piece) yield data.subarray(i, i + piece) }
  const s = await splitArchive(pieces(), chunkSize, async (cid, bytes) => { blocks.set(cid.toString(), Uint8Array.from(bytes)) })
  return { ...s, blocks, get: async (cid: CID) => blocks.get(cid.toString()) }
}

describe('artifact chunks', () => {
  const cs = MIN_CHUNK_BYTES
  // Sizes around the chunk boundaries, and 0.
  const size = fc.oneof(fc.constantFrom(0, 1, cs - 1, cs, cs + 1, 2 * cs, 3 * cs - 1, 3 * cs + 1), fc.integer({ min: 0, max: 5 * cs }))

  it('split then reassemble gives the same bytes, the archive CID and an index that round-trips', async function () {
    this.timeout(120_000)
    await fc.assert(fc.asyncProperty(size, fc.integer({ min: 1, max: 3 * cs }), fc.integer({ min: 0, max: 255 }), async (n, piece, seed) => {
      const data = Buffer.alloc(n)
      for (let i = 0; i < n; i++) data[i] = (i * 31 + seed) & 0xff
      const s = await split(data, cs, piece)
      expect(s.index.size).to.equal(n)
      expect(s.index.chunks).to.have.length(chunkCount(n, cs))
      expect(s.index.archive).to.equal((await addressArchive(data)).cid)
      for (const [i, c] of s.index.chunks.entries()) {
        const block = s.blocks.get(c.toString())
        expect(block?.byteLength).to.equal(Math.min(cs, n - i * cs))
        expect(verifyBlock(c, block!)).to.equal(true)
      }
      expect(s.root.equals(blockCid(s.indexBlock, CBOR_CODEC))).to.equal(true)
      const back = decodeIndex(s.indexBlock)
      expect(back.archive).to.equal(s.index.archive)
      expect(back.chunks.map(String)).to.deep.equal(s.index.chunks.map(String))
      expect(Buffer.from(encodeIndex(back)).equals(s.indexBlock)).to.equal(true)
      expect((await collect(readArchive(s.get, s.index))).equals(data)).to.equal(true)
    }), { numRuns: Math.min(PROPERTY_RUNS, 60) })
  })

  it('rechunk cuts any stream into full chunks and one short tail', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 20 }), fc.integer({ min: 1, max: 50 }), async (pieces, k) => {
      const out: Uint8Array[] = []
      for await (const c of rechunk(pieces, k)) out.push(Uint8Array.from(c))
      const all = Buffer.concat(pieces)
      expect(Buffer.concat(out).equals(all)).to.equal(true)
      expect(out.length).to.equal(Math.ceil(all.byteLength / k))
      for (const c of out.slice(0, -1)) expect(c.byteLength).to.equal(k)
    }), { numRuns: PROPERTY_RUNS })
  })

  it('an index that lies (chunks swapped) fails reassembly with ArchiveMismatchError', async () => {
    const data = Buffer.alloc(3 * cs)
    for (let i = 0; i < data.length; i++) data[i] = i % 251
    const s = await split(data, cs, 1000)
    const lie = { ...s.index, chunks: [s.index.chunks[1], s.index.chunks[0], s.index.chunks[2]] }
    let err: Error | undefined
    await collect(readArchive(s.get, lie)).catch(e => { err = e })
    expect(err?.name).to.equal('ArchiveMismatchError')
  })

  it('a missing chunk is BlockMissingError', async () => {
    const s = await split(Buffer.alloc(2 * cs, 7), cs, cs)
    const s2 = await split(Buffer.alloc(cs, 8), cs, cs)
    let err: Error | undefined
    await collect(readArchive(s.get, { ...s.index, chunks: [s.index.chunks[0], s2.index.chunks[0]] })).catch(e => { err = e })
    // the second chunk's bytes are not in s's blocks
    expect(err?.name).to.equal('BlockMissingError')
  })

  it('refuses an index whose chunk count does not match its size, or whose fields are garbage', async () => {
    const s = await split(Buffer.alloc(2 * cs + 1, 1), cs, cs)
    const wrong = encodeIndex({ ...s.index, size: cs })
    expect(() => decodeIndex(wrong)).to.throw().with.property('name', 'InvalidIndexError')
    expect(() => decodeIndex(Uint8Array.of(1, 2, 3))).to.throw().with.property('name', 'InvalidIndexError')
    const rootAsChunk = encodeIndex({ ...s.index, chunks: [s.index.chunks[0], s.index.chunks[1], s.root] })
    expect(() => decodeIndex(rootAsChunk)).to.throw().with.property('name', 'InvalidIndexError')
  })
})
