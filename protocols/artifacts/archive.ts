/**
 * Component archives: a plain (uncompressed) tar that is the same bytes for
 * the same directory on any machine, and an unpack that refuses anything a
 * hostile or broken archive could use to write outside its target.
 *
 * Pack: every path of the directory, sorted by its UTF-8 bytes (a parent
 * sorts before its children), as ustar entries (pax for long names) with
 * mtime 0, uid and gid 0, no user or group names, mode 0755 for directories
 * and executable files, 0644 for the others. Only regular files and
 * directories: a symlink, device, fifo or socket is refused (PackError), so
 * the archive never holds anything unpack would refuse, and what a component
 * needs as a link it makes when it starts. Uncompressed, so the content
 * address is of the bytes every node stores and unpacks.
 *
 * Unpack: into a fresh temp directory beside the target, renamed into place
 * only when every entry was written and synced, so nothing half-unpacked is
 * ever visible under the target's name; on any refusal or failure the temp
 * directory is removed. Refused: absolute paths, `..`, `.` and empty
 * segments, a path that repeats an earlier one, every entry that is not a
 * regular file or directory (symlinks, hard links, devices, fifos: nothing
 * unpacked can point anywhere, so no later entry can be written through a
 * link), an entry over the size limit, a total over its limit, too many
 * entries. Modes are normalised as at pack (never setuid, never
 * world-writable); ownership is the unpacking user's.
 */
import { lstat, mkdir, mkdtemp, open, readdir, rename, rm, chmod } from 'node:fs/promises'
import { createReadStream } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import tar from 'tar-stream'
import { syncDir } from '../../lib/durable-file.js'
import { StatusError } from '../../lib/errors.js'
import { DEFAULT_ARCHIVE_LIMITS, type ArchiveLimits } from './constants.js'
import {
  ArchiveTooLargeError, MalformedArchiveError, PackError, UnpackTargetExistsError, UnsafePathError, UnsupportedEntryError
} from './errors.js'

const DIR_MODE = 0o755
const EXEC_MODE = 0o755
const FILE_MODE = 0o644
/** The one timestamp every entry carries: the epoch, so packing at another time gives the same bytes. */
const EPOCH = new Date(0)

interface PackEntry {
  path: string
  type: 'file' | 'directory'
  mode: number
  size: number
}

/** Mode bits an entry gets: executable by anyone if executable by anyone, nothing else. */
function normalMode (mode: number): number {
  return (mode & 0o111) !== 0 ? EXEC_MODE : FILE_MODE
}

function byBytes (a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}

/** Every entry under `root`, checked against the limits, in archive order. */
async function walk (root: string, limits: ArchiveLimits): Promise<PackEntry[]> {
  const out: PackEntry[] = []
  let total = 0
  const visit = async (rel: string): Promise<void> => {
    const names = await readdir(rel === '' ? root : join(root, rel))
    for (const name of names) {
      const path = rel === '' ? name : `${rel}/${name}`
      const st = await lstat(join(root, path))
      if (Buffer.byteLength(path) > limits.maxPathBytes) throw new PackError(`${path}: path longer than ${limits.maxPathBytes} bytes`)
      if (st.isDirectory()) {
        out.push({ path, type: 'directory', mode: DIR_MODE, size: 0 })
        await visit(path)
      } else if (st.isFile()) {
        if (st.size > limits.maxEntryBytes) throw new PackError(`${path}: ${st.size} bytes, more than the ${limits.maxEntryBytes} a file may have`)
        total += st.size
        if (total > limits.maxTotalBytes) throw new PackError(`directory holds more than ${limits.maxTotalBytes} bytes`)
        out.push({ path, type: 'file', mode: normalMode(st.mode), size: st.size })
      } else {
        const kind = st.isSymbolicLink() ? 'a symlink' : 'not a regular file or directory (device, fifo or socket)'
        throw new PackError(`${path} is ${kind}: archives hold only regular files and directories`)
      }
      if (out.length > limits.maxEntries) throw new PackError(`directory holds more than ${limits.maxEntries} entries`)
    }
  }
  await visit('')
  return out.sort((a, b) => byBytes(a.path, b.path))
}

/**
 * Pack `dir` into the deterministic tar described above. The directory is
 * walked and checked first (PackError before any byte is produced); the
 * returned stream then reads the files. A file whose size changes while it
 * is packed fails the stream.
 */
export async function packDirectory (dir: string, limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS): Promise<AsyncIterable<Uint8Array>> {
  const root = resolve(dir)
  let entries: PackEntry[]
  try {
    entries = await walk(root, limits)
  } catch (err) {
    if ((err as Error).name === PackError.name) throw err
    throw new PackError(`cannot read ${root}: ${(err as Error).message}`, { cause: err })
  }
  const pack = tar.pack()
  const feed = async (): Promise<void> => {
    for (const e of entries) {
      const header: tar.Header = { ...HEADER_BASE, name: e.path, type: e.type, mode: e.mode, size: e.size }
      let settle!: (err?: Error | null) => void
      const written = new Promise<void>((resolve, reject) => { settle = err => err == null ? resolve() : reject(err) })
      const sink = pack.entry(header, settle)
      if (e.type === 'file') {
        for await (const chunk of createReadStream(join(root, e.path))) {
          if (!sink.write(chunk as Buffer)) await drained(sink)
        }
      }
      sink.end(undefined)
      await written
    }
    pack.finalize()
  }
  feed().catch(err => pack.destroy(err as Error))
  return pack as AsyncIterable<Uint8Array>
}

/** Fields every header has alike: nothing of the machine, the user or the time packed. */
const HEADER_BASE = { mtime: EPOCH, uid: 0, gid: 0, uname: '', gname: '', linkname: '', devmajor: 0, devminor: 0 }

/** Resolves when `w` wants more, or is gone. */
async function drained (w: { once: (event: string, fn: () => void) => unknown, off: (event: string, fn: () => void) => unknown }): Promise<void> {
  await new Promise<void>(resolve => {
    const done = (): void => { w.off('drain', done); w.off('close', done); resolve() }
    w.once('drain', done)
    w.once('close', done)
  })
}

/** What an unpack wrote. */
export interface UnpackResult {
  entries: number
  /** Sum of the file sizes, bytes. */
  bytes: number
}

/** The segments of a safe relative entry path, or UnsafePathError. */
function safeSegments (name: string, isDir: boolean, limits: ArchiveLimits): string[] {
  const path = isDir && name.endsWith('/') ? name.slice(0, -1) : name
  const show = JSON.stringify(name.slice(0, 200))
  if (Buffer.byteLength(path) > limits.maxPathBytes) throw new UnsafePathError(`entry ${show}: path longer than ${limits.maxPathBytes} bytes`)
  if (path.includes('\0')) throw new UnsafePathError(`entry ${show}: NUL in path`)
  if (path.startsWith('/')) throw new UnsafePathError(`entry ${show}: absolute path`)
  const segments = path.split('/')
  for (const s of segments) {
    if (s === '..') throw new UnsafePathError(`entry ${show}: ".." leaves the target directory`)
    if (s === '' || s === '.') throw new UnsafePathError(`entry ${show}: empty or "." path segment`)
  }
  return segments
}

const ENTRY_KINDS: Record<string, string> = {
  symlink: 'a symlink',
  link: 'a hard link',
  'character-device': 'a character device',
  'block-device': 'a block device',
  fifo: 'a fifo'
}

/**
 * Unpack a tar (bytes, or a stream of them) into `target`, which must not
 * exist; its parent is created if needed. Throws UnsafePathError,
 * UnsupportedEntryError, ArchiveTooLargeError, MalformedArchiveError,
 * UnpackTargetExistsError, or a file system error (disk full, permissions)
 * as it is; in every case nothing is left behind.
 */
export async function unpackArchive (source: Uint8Array | AsyncIterable<Uint8Array>, target: string,
  limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS): Promise<UnpackResult> {
  const dest = resolve(target)
  if (await lstat(dest).then(() => true, () => false)) throw new UnpackTargetExistsError(`${dest} exists already`)
  const parent = dirname(dest)
  await mkdir(parent, { recursive: true })
  const tmp = await mkdtemp(join(parent, `.${basename(dest)}.unpack-`))
  try {
    const result = await extractInto(source, tmp, limits)
    // mkdtemp made it 0700; the unpacked root is a directory like any other
    // (a component user other than the agent's must be able to enter it).
    await chmod(tmp, DIR_MODE)
    await rename(tmp, dest)
    await syncDir(parent)
    return result
  } catch (err) {
    await rm(tmp, { recursive: true, force: true })
    throw err
  }
}

async function extractInto (source: Uint8Array | AsyncIterable<Uint8Array>, root: string, limits: ArchiveLimits): Promise<UnpackResult> {
  const extract = tar.extract()
  const feeding = pipeline(Readable.from(source instanceof Uint8Array ? [source] : source), extract)
  // A refusal below destroys the extractor, which fails the feeding too: that
  // failure is the refusal's echo, not news.
  feeding.catch(() => {})
  const seen = new Set<string>()
  const dirs = new Set<string>([root])
  let count = 0
  let total = 0
  try {
    for await (const entry of extract) {
      const h = entry.header
      count++
      if (count > limits.maxEntries) throw new ArchiveTooLargeError(`more than ${limits.maxEntries} entries`)
      if (h.type !== 'file' && h.type !== 'directory') {
        throw new UnsupportedEntryError(`entry ${JSON.stringify(h.name.slice(0, 200))} is ${ENTRY_KINDS[h.type ?? ''] ?? `of type ${String(h.type)}`}: only regular files and directories are unpacked`)
      }
      const segments = safeSegments(h.name, h.type === 'directory', limits)
      const rel = segments.join('/')
      if (seen.has(rel)) throw new UnsafePathError(`entry ${JSON.stringify(rel)} appears twice`)
      seen.add(rel)
      const path = join(root, ...segments)
      await mkdirs(root, segments.slice(0, -1), dirs)
      if (h.type === 'directory') {
        await mkdir(path, { recursive: true, mode: DIR_MODE })
        await chmod(path, DIR_MODE)
        dirs.add(path)
        entry.resume()
        continue
      }
      const size = h.size ?? 0
      if (size > limits.maxEntryBytes) throw new ArchiveTooLargeError(`entry ${JSON.stringify(rel)}: ${size} bytes, more than ${limits.maxEntryBytes}`)
      total += size
      if (total > limits.maxTotalBytes) throw new ArchiveTooLargeError(`files total more than ${limits.maxTotalBytes} bytes`)
      const mode = normalMode(h.mode ?? 0)
      // 'wx': never opens anything that exists (no overwrite, no following a link).
      const fh = await open(path, 'wx', mode)
      try {
        for await (const chunk of entry) await fh.write(chunk as Uint8Array)
        await fh.chmod(mode)
        await fh.sync()
      } finally {
        await fh.close()
      }
    }
    await feeding
  } catch (err) {
    extract.destroy()
    throw classify(err)
  }
  for (const d of dirs) await syncDir(d)
  return { entries: count, bytes: total }
}

/** Create the parents of an entry that came without its directory entries (other tar tools omit them). */
async function mkdirs (root: string, segments: string[], dirs: Set<string>): Promise<void> {
  let path = root
  for (const s of segments) {
    path = join(path, s)
    if (dirs.has(path)) continue
    await mkdir(path, { mode: DIR_MODE }).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err
    })
    dirs.add(path)
  }
}

/** Our refusals and file system errors pass as they are; anything else is the tar parser's: malformed. */
function classify (err: unknown): unknown {
  const e = err as NodeJS.ErrnoException
  if (err instanceof StatusError) return err
  if (e?.code === 'ENOTDIR' || e?.code === 'EEXIST' || e?.code === 'EISDIR') {
    return new MalformedArchiveError(`entries conflict (a file where a directory is, or the reverse): ${e.message}`, { cause: err })
  }
  if (typeof e?.code === 'string' && e.syscall !== undefined) return err
  return new MalformedArchiveError(`not a valid tar archive: ${(err as Error)?.message ?? String(err)}`, { cause: err })
}
