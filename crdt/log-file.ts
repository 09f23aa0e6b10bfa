/**
 * Append-only, CRC-framed log of envelopes: the durable truth of a node's
 * configuration store. One file, appended in the order envelopes were
 * applied, so a prefix of the file always describes a state the node really
 * had; fsync (fdatasync) is what makes a write acknowledged.
 *
 * Layout: 8-byte magic `MYCFGLG1`, then frames of
 * `[u32be length][u32be crc32(payload)][payload]`.
 *
 * Recovery: a crash can only tear the tail (frames after the last fsync may
 * be missing, partial, or zero-filled by the file system). Reading stops at
 * the first bad frame; if no valid frame follows it, the tail is torn and is
 * truncated. A bad frame followed by valid ones is corruption of data that
 * was once durable: we refuse to start rather than silently drop it.
 */
import { closeSync, existsSync, fdatasync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { crc32 } from 'node:zlib'
import { CorruptStoreError } from './errors.js'

const MAGIC = Buffer.from('MYCFGLG1')
const HEADER = 8
/** Frames larger than this are garbage (an envelope is far smaller). */
const MAX_FRAME = 16 * 1024 * 1024

export interface LogRecovery {
  /** Payloads in file order, with the file offset just past each. */
  frames: Array<{ payload: Uint8Array, end: number }>
  /** Bytes cut from a torn tail. */
  truncatedBytes: number
}

export class LogFile {
  private fd: number | undefined
  private size = 0
  private appended = 0
  private synced = 0
  private inflight: Promise<void> | undefined

  private constructor (readonly path: string) {}

  /** Open (creating if needed), recover, and return the frames found. */
  static open (path: string): { log: LogFile, recovery: LogRecovery } {
    mkdirSync(dirname(path), { recursive: true })
    const log = new LogFile(path)
    const fresh = !existsSync(path)
    log.fd = openSync(path, fresh ? 'w+' : 'r+')
    if (fresh || fstatSync(log.fd).size === 0) {
      writeSync(log.fd, MAGIC, 0, MAGIC.length, 0)
      fsyncSync(log.fd)
      syncDir(path)
      log.size = HEADER
      return { log, recovery: { frames: [], truncatedBytes: 0 } }
    }
    const data = readFileSync(path)
    if (data.length < HEADER || !data.subarray(0, HEADER).equals(MAGIC)) {
      closeSync(log.fd)
      throw new CorruptStoreError(`${path} is not a mycel config log`)
    }
    const recovery = scan(data, path)
    log.size = data.length - recovery.truncatedBytes
    if (recovery.truncatedBytes > 0) {
      ftruncateSync(log.fd, log.size)
      fsyncSync(log.fd)
    }
    return { log, recovery }
  }

  /** Bytes in the file (the offset of the next frame). */
  get offset (): number { return this.size }

  /** Append a frame (buffered by the OS until sync). Synchronous so that log order is apply order. */
  append (payload: Uint8Array): number {
    if (this.fd === undefined) throw new Error('log is closed')
    const frame = Buffer.allocUnsafe(8 + payload.byteLength)
    frame.writeUInt32BE(payload.byteLength, 0)
    frame.writeUInt32BE(crc32(payload), 4)
    frame.set(payload, 8)
    let done = 0
    while (done < frame.length) done += writeSync(this.fd, frame, done, frame.length - done, this.size + done)
    this.size += frame.length
    this.appended++
    return this.size
  }

  get closed (): boolean { return this.fd === undefined }

  /**
   * Make everything appended so far durable. Concurrent callers share one
   * fdatasync (group commit); a caller arriving during a sync waits for the
   * next one, which covers its frames. `before` runs right before the
   * fdatasync starts (used to snapshot what the sync will cover).
   */
  async sync (before?: () => void): Promise<void> {
    const target = this.appended
    while (this.synced < target) {
      if (this.inflight === undefined) {
        const fd = this.fd
        if (fd === undefined) throw new Error('log is closed')
        const upto = this.appended
        before?.()
        this.inflight = new Promise<void>((resolve, reject) => {
          fdatasync(fd, err => { if (err !== null) reject(err); else resolve() })
        }).then(() => { this.synced = Math.max(this.synced, upto) }).finally(() => { this.inflight = undefined })
      }
      await this.inflight
    }
  }

  close (): void {
    if (this.fd === undefined) return
    try { fsyncSync(this.fd) } catch {}
    closeSync(this.fd)
    this.fd = undefined
  }
}

function frameAt (data: Buffer, off: number): { payload: Buffer, end: number } | undefined {
  if (off + 8 > data.length) return undefined
  const len = data.readUInt32BE(off)
  if (len === 0 || len > MAX_FRAME || off + 8 + len > data.length) return undefined
  const payload = data.subarray(off + 8, off + 8 + len)
  if (crc32(payload) !== data.readUInt32BE(off + 4)) return undefined
  return { payload, end: off + 8 + len }
}

function scan (data: Buffer, path: string): LogRecovery {
  const frames: LogRecovery['frames'] = []
  let off = HEADER
  while (off < data.length) {
    const f = frameAt(data, off)
    if (f === undefined) break
    frames.push({ payload: new Uint8Array(f.payload), end: f.end })
    off = f.end
  }
  if (off < data.length) {
    for (let probe = off + 1; probe + 8 < data.length; probe++) {
      if (frameAt(data, probe) !== undefined) {
        throw new CorruptStoreError(`${path}: bad frame at offset ${off} followed by valid data at ${probe}; ` +
          'the log is corrupt, not torn. Move it aside to start empty (peers resend what they hold).')
      }
    }
  }
  return { frames, truncatedBytes: data.length - off }
}

/** Write `data` to `path` atomically and durably (temp file, fsync, rename, fsync dir). */
export function writeFileDurably (path: string, data: Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true })
  const tmp = `${path}.tmp`
  const fd = openSync(tmp, 'w')
  try {
    let done = 0
    while (done < data.byteLength) done += writeSync(fd, data, done, data.byteLength - done)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameDurably(tmp, path)
}

function renameDurably (from: string, to: string): void {
  renameSync(from, to)
  syncDir(to)
}

function syncDir (path: string): void {
  const fd = openSync(dirname(path), 'r')
  try { fsyncSync(fd) } catch { /* some file systems refuse directory fsync */ } finally { closeSync(fd) }
}
