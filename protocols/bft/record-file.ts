/**
 * An append-only file of length-prefixed records, fsynced on every append.
 * Used by the vote WAL and the block store. A crash can leave a torn last
 * record; `readAll` drops it (it was never acknowledged, since append
 * resolves only after fsync) and truncates the file back to the last whole
 * record. Corruption before the tail is reported, never skipped.
 */
import { mkdir, open, readFile, truncate, type FileHandle } from 'node:fs/promises'
import { dirname } from 'node:path'
import { writeFileDurable } from '../../daemon/identity.js'
import { CorruptStateError } from './errors.js'

const HEADER = 4
/** Largest record accepted when reading back, bytes. */
const MAX_RECORD = 16 * 1024 * 1024

export class RecordFile {
  private fh?: FileHandle
  private tail: Promise<void> = Promise.resolve()

  constructor (readonly path: string) {}

  async readAll (): Promise<Uint8Array[]> {
    let buf: Buffer
    try {
      buf = await readFile(this.path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw err
    }
    const out: Uint8Array[] = []
    let off = 0
    while (off + HEADER <= buf.length) {
      const len = buf.readUInt32BE(off)
      if (len > MAX_RECORD) throw new CorruptStateError(`${this.path}: record at ${off} claims ${len} bytes`)
      if (off + HEADER + len > buf.length) break
      out.push(new Uint8Array(buf.subarray(off + HEADER, off + HEADER + len)))
      off += HEADER + len
    }
    if (off < buf.length) await truncate(this.path, off)
    return out
  }

  /**
   * Append a record; with `sync` (the default) resolve only once it is on
   * disk (fdatasync). Without, it survives a process crash (page cache) but
   * not a power loss until the next `sync()`. Appends are serialised.
   */
  async append (record: Uint8Array, sync = true): Promise<void> {
    const run = this.tail.then(async () => {
      if (this.fh === undefined) {
        await mkdir(dirname(this.path), { recursive: true })
        this.fh = await open(this.path, 'a', 0o600)
      }
      const frame = Buffer.alloc(HEADER + record.byteLength)
      frame.writeUInt32BE(record.byteLength, 0)
      frame.set(record, HEADER)
      await this.fh.write(frame)
      if (sync) await this.fh.datasync()
    })
    this.tail = run.catch(() => {})
    await run
  }

  /** Make every earlier append durable. */
  async sync (): Promise<void> {
    const run = this.tail.then(async () => { await this.fh?.datasync() })
    this.tail = run.catch(() => {})
    await run
  }

  /** Atomically replace the whole file (write temp, fsync, rename). */
  async rewrite (records: Uint8Array[]): Promise<void> {
    const run = this.tail.then(async () => {
      await this.fh?.close()
      this.fh = undefined
      const frames = records.map(r => {
        const f = Buffer.alloc(HEADER + r.byteLength)
        f.writeUInt32BE(r.byteLength, 0)
        f.set(r, HEADER)
        return f
      })
      await writeFileDurable(this.path, Buffer.concat(frames))
    })
    this.tail = run.catch(() => {})
    await run
  }

  async close (): Promise<void> {
    await this.tail
    await this.fh?.close()
    this.fh = undefined
  }
}
