/**
 * The one append-only record log of mycel (config envelopes, BFT WAL, BFT
 * blocks, own-sequence watermarks). Layout:
 *
 *   magic (8 bytes, file-format.ts)
 *   then records: u32be length | u32be crc32(payload) | u32be crc32(the 8 bytes before) | payload
 *
 * The header has its own checksum so that a damaged length is caught as
 * damage instead of being mistaken for a record cut short by a crash.
 *
 * Appends go to the OS at once (synchronous, so file order is call order);
 * `sync()` makes them durable with one shared fdatasync (group commit).
 * What a caller acknowledges must have passed a `sync()`.
 *
 * Opening tells a crash from damage. A crash can only leave the tail after
 * the last fdatasync incomplete: fewer bytes than a record header, zero bytes
 * (a file system that grew the file but never wrote the data), or a record
 * whose valid header promises more bytes than the file holds. Such a tail is
 * cut and reported (`cutBytes`); note that a truncation of the file by
 * someone else looks the same, so the cut is reported as "a crash or a
 * truncation", never as "nothing acknowledged was lost". Anything else that
 * fails a check (a header or payload checksum, a length out of range), at the
 * end of the file or before it, is damage: CorruptFileError naming the file,
 * the offset and the recovery step. Nothing is skipped silently.
 *
 * Any I/O error (write, fdatasync, truncate) is a StorageFailedError and
 * the log refuses everything after it: after a failed fsync the kernel may
 * have dropped dirty pages, so the file can no longer be trusted.
 */
import { closeSync, fdatasync, fdatasyncSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { crc32 } from './checksum.js'
import { readFileIfExistsSync, writeFileDurableSync } from './durable-file.js'
import { CorruptFileError, storageFailed, type FailStopError } from './errors.js'
import { MAGIC_BYTES, damagedMagic, hasMagic, magicOf, unknownHeader, type FileFormat } from './file-format.js'

/** Record header: length, payload CRC, header CRC. */
export const RECORD_HEADER_BYTES = 12

export interface RecordLogFormat extends FileFormat {
  /** Largest record, bytes; a larger length on read is damage. */
  maxRecordBytes: number
}

/** Records of a file in an older layout, to be rewritten in the current one. */
export interface LegacyRecords {
  records: Uint8Array[]
  /** Bytes of a torn tail the old layout's rules cut. */
  cutBytes: number
  /** Which layout, for the log line. */
  layout: string
}

export interface RecordLogOptions {
  /**
   * Reader of an older layout of this file (a file without our header):
   * its records, or undefined when the bytes are not that layout either.
   * Throws CorruptFileError for that layout damaged. Never called for a
   * header with a few damaged bytes, but a header damaged further (a bad
   * sector) does reach it: the file is rewritten from what it returns
   * before open() returns, so it returns records only when the bytes are
   * certainly that layout.
   */
  legacy?: (data: Buffer, path: string) => LegacyRecords | undefined
  /** Mode of a new file. */
  mode?: number
}

export interface RecordLogOpened {
  log: RecordLog
  /** Payloads in file order, with the file offset just past each. */
  records: Array<{ payload: Uint8Array, end: number }>
  /** Bytes of an incomplete last record that were cut (a crash mid-append, or a truncation). */
  cutBytes: number
  /** Offset where the cut bytes started. */
  cutAt: number
  /** Set when the file was in an older layout and has been rewritten in the current one. */
  convertedFrom?: string
}

type Frame = { ok: true, payload: Uint8Array, end: number } | { ok: false, torn: boolean, why: string }

export class RecordLog {
  private fd: number | undefined
  private size = 0
  private appended = 0
  private synced = 0
  private inflight: Promise<void> | undefined
  private failed: FailStopError | undefined

  private constructor (readonly path: string, readonly format: RecordLogFormat, private readonly mode: number) {}

  /** Open (creating it with its header if absent), check every record, cut a torn tail. */
  static open (path: string, format: RecordLogFormat, opts: RecordLogOptions = {}): RecordLogOpened {
    const log = new RecordLog(path, format, opts.mode ?? 0o600)
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
    } catch (err) { throw storageFailed(path, 'mkdir', err) }
    const data = readFileIfExistsSync(path)
    if (data === undefined || data.length === 0) {
      // A new log; or an empty file, which only an older layout creates (ours starts with the header).
      writeFileDurableSync(path, magicOf(format), log.mode)
      log.openFd()
      log.size = MAGIC_BYTES
      return { log, records: [], cutBytes: 0, cutAt: MAGIC_BYTES }
    }
    if (!hasMagic(data, format)) {
      const old = opts.legacy !== undefined && !damagedMagic(data, format) ? opts.legacy(data, path) : undefined
      if (old === undefined) throw unknownHeader(path, data, format)
      const records = log.replaceWith(old.records)
      return { log, records, cutBytes: old.cutBytes, cutAt: data.length - old.cutBytes, convertedFrom: old.layout }
    }
    const { records, cutAt } = scan(data, path, format)
    log.openFd()
    log.size = cutAt
    if (cutAt < data.length) {
      try {
        ftruncateSync(log.fd as number, cutAt)
        fsyncSync(log.fd as number)
      } catch (err) { log.close(); throw storageFailed(path, 'truncate', err) }
    }
    return { log, records, cutBytes: data.length - cutAt, cutAt }
  }

  /** Bytes in the file: the offset of the next record. */
  get offset (): number { return this.size }

  get closed (): boolean { return this.fd === undefined }

  /** Append a record (not yet durable); returns the offset just past it. */
  append (payload: Uint8Array): number {
    const fd = this.usable()
    if (payload.byteLength === 0 || payload.byteLength > this.format.maxRecordBytes) {
      throw new RangeError(`${this.format.name} record of ${payload.byteLength} bytes (1..${this.format.maxRecordBytes})`)
    }
    const frame = encodeFrame(payload)
    try {
      let done = 0
      while (done < frame.length) done += writeSync(fd, frame, done, frame.length - done, this.size + done)
    } catch (err) {
      throw this.fail(storageFailed(this.path, 'append', err))
    }
    this.size += frame.length
    this.appended++
    return this.size
  }

  /**
   * Make every append so far durable. Concurrent callers share one
   * fdatasync; a caller arriving during one waits for the next, which
   * covers its records. `before` runs right before an fdatasync starts (to
   * note what it will cover).
   */
  async sync (before?: () => void): Promise<void> {
    const target = this.appended
    while (this.synced < target) {
      if (this.inflight === undefined) {
        const fd = this.usable()
        const upto = this.appended
        before?.()
        this.inflight = new Promise<void>((resolve, reject) => {
          fdatasync(fd, err => { if (err !== null) reject(err); else resolve() })
        }).then(() => { this.synced = Math.max(this.synced, upto) }, (err: unknown) => {
          throw this.fail(storageFailed(this.path, 'fdatasync', err))
        }).finally(() => { this.inflight = undefined })
      }
      await this.inflight
    }
    if (this.failed !== undefined) throw this.failed
  }

  /** Make every append so far durable now, blocking (for use at open, before anything is served). */
  syncNow (): void {
    const fd = this.usable()
    try {
      fdatasyncSync(fd)
    } catch (err) {
      throw this.fail(storageFailed(this.path, 'fdatasync', err))
    }
    this.synced = this.appended
  }

  /**
   * Replace the whole file with `payloads` (temp file, fsync, rename, fsync
   * dir): a crash leaves the old file or the new one. Callers must not
   * append while it runs.
   */
  async rewrite (payloads: Uint8Array[]): Promise<void> {
    this.usable()
    while (this.inflight !== undefined) await this.inflight.catch(() => {})
    this.replaceWith(payloads)
  }

  /** rewrite(), blocking, when no sync can be in flight (at open). */
  rewriteNow (payloads: Uint8Array[]): void {
    this.usable()
    if (this.inflight !== undefined) throw new Error(`${this.path}: rewriteNow while an fdatasync is in flight`)
    this.replaceWith(payloads)
  }

  close (): void {
    if (this.fd === undefined) return
    // Best effort: a caller that needs durability has called sync().
    try { fsyncSync(this.fd) } catch {}
    try { closeSync(this.fd) } catch {}
    this.fd = undefined
  }

  private replaceWith (payloads: Uint8Array[]): Array<{ payload: Uint8Array, end: number }> {
    const parts: Uint8Array[] = [magicOf(this.format)]
    const out: Array<{ payload: Uint8Array, end: number }> = []
    let end = MAGIC_BYTES
    for (const p of payloads) {
      const f = encodeFrame(p)
      parts.push(f)
      end += f.length
      out.push({ payload: p, end })
    }
    if (this.fd !== undefined) { try { closeSync(this.fd) } catch {} this.fd = undefined }
    try {
      writeFileDurableSync(this.path, Buffer.concat(parts), this.mode)
    } catch (err) { throw this.fail(storageFailed(this.path, 'rewrite', err)) }
    this.openFd()
    this.size = end
    this.synced = this.appended
    return out
  }

  private openFd (): void {
    try {
      this.fd = openSync(this.path, 'r+')
      if (fstatSync(this.fd).size < MAGIC_BYTES) throw new Error('file shorter than its header')
    } catch (err) { throw this.fail(storageFailed(this.path, 'open', err)) }
  }

  private usable (): number {
    if (this.failed !== undefined) throw this.failed
    if (this.fd === undefined) throw new Error(`${this.path}: ${this.format.name} is closed`)
    return this.fd
  }

  private fail (err: FailStopError): FailStopError {
    this.failed ??= err
    return err
  }
}

function encodeFrame (payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(RECORD_HEADER_BYTES + payload.byteLength)
  frame.writeUInt32BE(payload.byteLength, 0)
  frame.writeUInt32BE(crc32(payload), 4)
  frame.writeUInt32BE(crc32(frame.subarray(0, 8)), 8)
  frame.set(payload, RECORD_HEADER_BYTES)
  return frame
}

function allZero (data: Buffer, from: number): boolean {
  for (let i = from; i < data.length; i++) if (data[i] !== 0) return false
  return true
}

function readFrame (data: Buffer, off: number, max: number): Frame {
  if (data.length - off < RECORD_HEADER_BYTES) return { ok: false, torn: true, why: 'incomplete record header' }
  if (allZero(data, off)) return { ok: false, torn: true, why: 'zero-filled tail' }
  const len = data.readUInt32BE(off)
  if (crc32(data.subarray(off, off + 8)) !== data.readUInt32BE(off + 8)) return { ok: false, torn: false, why: 'record header fails its checksum' }
  if (len === 0 || len > max) return { ok: false, torn: false, why: `record length ${len} out of range` }
  const end = off + RECORD_HEADER_BYTES + len
  if (end > data.length) return { ok: false, torn: true, why: 'incomplete record' }
  const payload = data.subarray(off + RECORD_HEADER_BYTES, end)
  if (crc32(payload) !== data.readUInt32BE(off + 4)) return { ok: false, torn: false, why: 'record fails its checksum' }
  return { ok: true, payload: new Uint8Array(payload), end }
}

function scan (data: Buffer, path: string, format: RecordLogFormat): { records: RecordLogOpened['records'], cutAt: number } {
  const records: RecordLogOpened['records'] = []
  let off = MAGIC_BYTES
  while (off < data.length) {
    const f = readFrame(data, off, format.maxRecordBytes)
    if (!f.ok) {
      if (f.torn) break
      throw new CorruptFileError(path, `${format.name} damaged at offset ${off} (${f.why}, record ${records.length + 1})`, format.recovery)
    }
    records.push({ payload: f.payload, end: f.end })
    off = f.end
  }
  return { records, cutAt: off }
}
