/**
 * The one way mycel replaces a durable file: write a temp file beside it,
 * fsync it, rename it over the old one, fsync the directory. A crash at any
 * point leaves either the old or the new content, never a torn one, and
 * once this returns the new content survives a power loss.
 *
 * Every failure is a StorageFailedError naming the file: its owner stops
 * (fail-stop) instead of carrying on with state it could not persist. The
 * readers here keep that rule: a file that is absent is `undefined`, one
 * that cannot be read is a StorageFailedError.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs'
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises'
import { dirname } from 'node:path'
import { storageFailed } from './errors.js'

/** Directory mode for directories this layer creates (the data dir holds a private key). */
const DIR_MODE = 0o700

/** Errors of a directory fsync that mean "this file system does not do that", not "it failed". */
const DIR_SYNC_UNSUPPORTED = new Set(['EINVAL', 'ENOTSUP', 'EOPNOTSUPP', 'EISDIR'])

function tempPath (path: string): string { return `${path}.tmp-${process.pid}` }

/** Replace `path` with `data` atomically and durably. */
export async function writeFileDurable (path: string, data: Uint8Array | string, mode = 0o600): Promise<void> {
  const tmp = tempPath(path)
  try {
    await mkdir(dirname(path), { recursive: true, mode: DIR_MODE })
    const fh = await open(tmp, 'w', mode)
    try {
      await fh.writeFile(data)
      await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, path)
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => {})
    throw storageFailed(path, 'durable write', err)
  }
  await syncDir(dirname(path))
}

/** Synchronous twin of writeFileDurable, for owners whose callers cannot wait (incarnation, log rewrite). */
export function writeFileDurableSync (path: string, data: Uint8Array | string, mode = 0o600): void {
  const tmp = tempPath(path)
  try {
    mkdirSync(dirname(path), { recursive: true, mode: DIR_MODE })
    const fd = openSync(tmp, 'w', mode)
    try {
      const bytes = typeof data === 'string' ? Buffer.from(data) : data
      let done = 0
      while (done < bytes.byteLength) done += writeSync(fd, bytes, done, bytes.byteLength - done)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, path)
  } catch (err) {
    rmSync(tmp, { force: true })
    throw storageFailed(path, 'durable write', err)
  }
  syncDirSync(dirname(path))
}

/** The bytes of `path`; undefined when it does not exist. */
export async function readFileIfExists (path: string): Promise<Buffer | undefined> {
  try {
    return await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw storageFailed(path, 'read', err)
  }
}

/** Synchronous twin of readFileIfExists. */
export function readFileIfExistsSync (path: string): Buffer | undefined {
  try {
    return readFileSync(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw storageFailed(path, 'read', err)
  }
}

/** fsync a directory, so a rename or a file creation in it is durable. */
export async function syncDir (dir: string): Promise<void> {
  try {
    const fh = await open(dir, 'r')
    try { await fh.sync() } finally { await fh.close() }
  } catch (err) {
    if (DIR_SYNC_UNSUPPORTED.has((err as NodeJS.ErrnoException).code ?? '')) return
    throw storageFailed(dir, 'directory fsync', err)
  }
}

export function syncDirSync (dir: string): void {
  try {
    const fd = openSync(dir, 'r')
    try { fsyncSync(fd) } finally { closeSync(fd) }
  } catch (err) {
    if (DIR_SYNC_UNSUPPORTED.has((err as NodeJS.ErrnoException).code ?? '')) return
    throw storageFailed(dir, 'directory fsync', err)
  }
}
