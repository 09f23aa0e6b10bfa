/**
 * Blocks on disk: `<dataDir>/artifacts/blocks/<cid>`, one file per block, and
 * `<dataDir>/artifacts/roots/<archive cid>` holding the CID of that archive's
 * index block (written once the index is accepted; a fetch that resumes
 * starts from it).
 *
 * Every read re-hashes the block: a file whose bytes are not what its name
 * says (a torn write, a bad disk, a hand edit) is deleted, counted and
 * reported missing, so it is fetched again and never served or unpacked.
 * That is also why a fetched block is written temp file + rename without
 * fsync: a block lost or torn by a crash is only a block to fetch again, and
 * an fsync per 256 KiB block would multiply the cost of a fetch. An imported
 * archive (a publish) is the exception: the publisher may be its only holder
 * and acknowledges it once the durable manifest is written, so importArchive
 * fsyncs every block and the root, and their directories, before it returns.
 *
 * GC keeps the blocks reachable from the archives it is given (their root,
 * index and chunks) and deletes everything else, including roots of other
 * archives and temp files left by a crash.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, open, readdir, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { CID } from 'multiformats/cid'
import { readFileIfExists, syncDir } from '../../lib/durable-file.js'
import { artifactMetrics, type ArtifactMetrics } from './metrics.js'
import { CBOR_CODEC, decodeIndex, parseBlockCid, readArchive, splitArchive, verifyBlock, type ArchiveIndex } from './chunks.js'
import { isArchiveCid } from './signed-manifest.js'
import { BlockMismatchError, InvalidIndexError } from './errors.js'

const TEMP_MARK = '.tmp-'

export interface BlockStoreInit {
  dataDir: string
  metrics?: ArtifactMetrics
}

/** An archive's index as the store holds it. */
export interface StoredIndex {
  root: CID
  index: ArchiveIndex
}

/** What a GC removed and kept. */
export interface GcResult {
  deletedBlocks: number
  deletedBytes: number
  keptBlocks: number
  deletedRoots: number
}

export class BlockStore {
  readonly blocksDir: string
  readonly rootsDir: string
  private readonly metrics: ArtifactMetrics
  /** Temp files of writes in progress: GC leaves them alone. */
  private readonly writing = new Set<string>()

  constructor (init: BlockStoreInit) {
    this.blocksDir = join(init.dataDir, 'artifacts', 'blocks')
    this.rootsDir = join(init.dataDir, 'artifacts', 'roots')
    this.metrics = init.metrics ?? artifactMetrics()
  }

  /** Whether a file for the block exists (not verified: `get` does that). */
  async has (cid: CID): Promise<boolean> {
    return await stat(this.blockPath(cid)).then(s => s.isFile(), () => false)
  }

  /** The block's bytes, verified; undefined if absent or corrupt (then deleted and counted). */
  async get (cid: CID): Promise<Uint8Array | undefined> {
    const path = this.blockPath(cid)
    const data = await readFileIfExists(path)
    if (data === undefined) return undefined
    if (verifyBlock(cid, data)) return data
    this.metrics.blockCorruptions.inc()
    await rm(path, { force: true })
    return undefined
  }

  /**
   * Store a block; BlockMismatchError unless `data` is what `cid` names.
   * `sync`: fsync the file before the rename (the caller syncs the directory).
   */
  async put (cid: CID, data: Uint8Array, sync = false): Promise<void> {
    if (!verifyBlock(cid, data)) throw new BlockMismatchError(`block bytes do not hash to ${cid.toString()}`)
    await this.writeAtomic(this.blocksDir, this.blockPath(cid), data, sync)
  }

  /** Record that `root` is the index of `archive` (the index block must be stored already). */
  async putRoot (archive: string, root: CID, sync = false): Promise<void> {
    await this.writeAtomic(this.rootsDir, this.rootPath(archive), root.toString(), sync)
  }

  async deleteRoot (archive: string): Promise<void> {
    await rm(this.rootPath(archive), { force: true })
  }

  /** The archive's index, if its root is recorded and the index block is intact. */
  async getIndex (archive: string): Promise<StoredIndex | undefined> {
    if (!isArchiveCid(archive)) return undefined
    const text = await readFileIfExists(this.rootPath(archive))
    if (text === undefined) return undefined
    const root = parseBlockCid(text.toString('utf8').trim())
    const data = root?.code === CBOR_CODEC ? await this.get(root) : undefined
    if (root === undefined || data === undefined) return undefined
    try {
      const index = decodeIndex(data)
      return index.archive === archive ? { root, index } : undefined
    } catch (err) {
      if (err instanceof InvalidIndexError) return undefined
      throw err
    }
  }

  /** Chunks of `index` without a block file, in archive order, each once (an archive may repeat a chunk). */
  async missing (index: ArchiveIndex): Promise<CID[]> {
    const present = new Set(await this.listBlocks())
    const out = new Map<string, CID>()
    for (const c of index.chunks) if (!present.has(c.toString())) out.set(c.toString(), c)
    return [...out.values()]
  }

  /**
   * Store an archive this node has (a publisher's pack): its chunks, index
   * and root, durably (file and directory fsyncs) before it resolves, since
   * no peer may have it yet. Returns the index; the archive CID is `index.archive`.
   */
  async importArchive (source: Uint8Array | AsyncIterable<Uint8Array>, chunkSize: number): Promise<StoredIndex> {
    const split = await splitArchive(source, chunkSize, async (cid, data) => { await this.put(cid, data, true) })
    await this.put(split.root, split.indexBlock, true)
    // One directory fsync makes every block rename above durable, before the root names them.
    await syncDir(this.blocksDir)
    await this.putRoot(split.index.archive, split.root, true)
    await syncDir(this.rootsDir)
    return { root: split.root, index: split.index }
  }

  /** The archive's bytes, verified chunk by chunk and whole (chunks.ts readArchive). */
  read (index: ArchiveIndex): AsyncGenerator<Uint8Array> {
    return readArchive(async cid => await this.get(cid), index)
  }

  /**
   * Delete every block and root not reachable from `keep` (archive CIDs: the
   * coordinator passes the deployed and previous versions, and any fetch in
   * progress). An archive in `keep` without an intact index keeps nothing.
   */
  async gc (keep: Iterable<string>): Promise<GcResult> {
    const reachable = new Set<string>()
    const keptRoots = new Set<string>()
    for (const archive of keep) {
      const stored = await this.getIndex(archive)
      if (stored === undefined) continue
      keptRoots.add(archive)
      reachable.add(stored.root.toString())
      for (const c of stored.index.chunks) reachable.add(c.toString())
    }
    let deletedRoots = 0
    for (const name of await listDir(this.rootsDir)) {
      const path = join(this.rootsDir, name)
      if (keptRoots.has(name) || this.writing.has(path)) continue
      await rm(path, { force: true })
      deletedRoots++
    }
    const result: GcResult = { deletedBlocks: 0, deletedBytes: 0, keptBlocks: 0, deletedRoots }
    for (const name of await listDir(this.blocksDir)) {
      const path = join(this.blocksDir, name)
      if (reachable.has(name)) { result.keptBlocks++; continue }
      if (this.writing.has(path)) continue
      const size = await stat(path).then(s => s.size, () => 0)
      await rm(path, { force: true })
      if (!name.includes(TEMP_MARK)) result.deletedBlocks++
      result.deletedBytes += size
    }
    return result
  }

  /** Names (CID strings) of the block files, temp files excluded. */
  async listBlocks (): Promise<string[]> {
    return (await listDir(this.blocksDir)).filter(n => !n.includes(TEMP_MARK))
  }

  blockPath (cid: CID): string { return join(this.blocksDir, cid.toString()) }

  private rootPath (archive: string): string {
    // The name is a path segment: only a canonical archive CID may become one.
    if (!isArchiveCid(archive)) throw new InvalidIndexError(`not an archive CID: ${JSON.stringify(archive.slice(0, 100))}`)
    return join(this.rootsDir, archive)
  }

  private async writeAtomic (dir: string, path: string, data: Uint8Array | string, sync: boolean): Promise<void> {
    // A unique temp name: two writes of one block (two fetches, a fetch and
    // an import) never share a temp file; the last rename wins with equal bytes.
    const tmp = `${path}${TEMP_MARK}${randomBytes(6).toString('hex')}`
    this.writing.add(tmp)
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 })
      if (sync) {
        const fh = await open(tmp, 'w', 0o600)
        try {
          await fh.writeFile(data)
          await fh.sync()
        } finally {
          await fh.close()
        }
      } else {
        await writeFile(tmp, data, { mode: 0o600 })
      }
      await rename(tmp, path)
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => {})
      throw err
    } finally {
      this.writing.delete(tmp)
    }
  }
}

async function listDir (dir: string): Promise<string[]> {
  try {
    return await readdir(dir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
}
