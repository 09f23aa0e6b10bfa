/**
 * The node's own log store: the agent's pino lines, as written, in rotating
 * files `<dir>/agent.log` (live), `agent.log.1` (newest rotated) …
 * `agent.log.<files-1>`. Bounded on disk (files × maxFileBytes: a batch that
 * would overflow the live file rotates it first) and in memory (lines
 * waiting to be written: maxPendingBytes, then dropped and counted). We own
 * the writer, so rotation is a rename (no copytruncate loss, unlike the
 * components' logs, host/rotating-log.ts).
 *
 * Lines are written in batches (one write per flushDelayMs), never with a
 * synchronous write on the logging path. A write that fails drops its batch
 * (counted): the store must never take the agent down, and stderr still has
 * every line. Nothing here logs through the logger it stores (that would feed
 * itself).
 */
import { mkdir, open, rename, stat, type FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import type { FollowQueue } from './follow-queue.js'
import { closeFile, linesOf, openNow, type OpenedFile } from './file-lines.js'
import { agentLine, type LogLine } from './line.js'
import type { LogsConfig } from './constants.js'
import type { LogsMetrics } from './metrics.js'
import type { LogSource } from './source.js'

export const STORE_FILE = 'agent.log'

export interface LogStoreInit {
  /** Where the files live (`<dataDir>/logs`). */
  dir: string
  /** This node's peer id, put on every served line. */
  node: string
  /** The served `component` of these lines. */
  component: string
  config: Pick<LogsConfig, 'maxFileBytes' | 'files' | 'maxPendingBytes' | 'flushDelayMs'>
  metrics: LogsMetrics
}

export class LogStore implements LogSource {
  private fh?: FileHandle
  /** Bytes in the live file. */
  private size = 0
  /** Bytes of the rotated files, newest first (for the disk gauge). */
  private rotated: number[] = []
  private pending: string[] = []
  private pendingBytes = 0
  /** The batch being written: still served from memory until it is in the file. */
  private inflight: string[] = []
  private timer?: ReturnType<typeof setTimeout>
  private writing: Promise<void> = Promise.resolve()
  private readonly followers = new Set<FollowQueue>()
  private running = false

  constructor (private readonly init: LogStoreInit) {}

  private path (i: number): string {
    return join(this.init.dir, i === 0 ? STORE_FILE : `${STORE_FILE}.${i}`)
  }

  async start (): Promise<void> {
    if (this.running) return
    await mkdir(this.init.dir, { recursive: true, mode: 0o750 })
    this.fh = await open(this.path(0), 'a', 0o640)
    this.size = (await this.fh.stat()).size
    // A crash mid-write leaves a torn last line: end it, so the first line of
    // this run is not glued onto it (the torn one is then skipped alone as unparsable).
    if (this.size > 0 && !(await endsWithNewline(this.path(0), this.size))) {
      await this.fh.write('\n')
      this.size += 1
    }
    this.rotated = []
    for (let i = 1; i < this.init.config.files; i++) this.rotated.push(await stat(this.path(i)).then(s => s.size, () => 0))
    this.gauge()
    this.running = true
    if (this.pending.length > 0) this.schedule()
  }

  async stop (): Promise<void> {
    if (!this.running) return
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    await this.flush()
    this.running = false
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    await this.fh?.close().catch(() => {})
    this.fh = undefined
    for (const f of this.followers) f.close()
    this.followers.clear()
  }

  /** One pino line (a trailing newline is ignored). Never throws, never waits. */
  append (raw: string): void {
    const line = raw.endsWith('\n') ? raw.slice(0, -1) : raw
    if (line.length === 0) return
    const bytes = Buffer.byteLength(line) + 1
    if (this.pendingBytes + bytes > this.init.config.maxPendingBytes) {
      this.init.metrics.dropped.inc({ reason: 'pending_full' })
      return
    }
    this.pending.push(line)
    this.pendingBytes += bytes
    if (this.followers.size > 0) {
      const parsed = agentLine(line, this.init.node, this.init.component)
      if (parsed !== undefined) {
        for (const f of this.followers) {
          if (f.closed) this.followers.delete(f)
          else f.push(parsed)
        }
      }
    }
    if (this.running) this.schedule()
  }

  /** Write what is pending now (also waits for a write in progress). */
  async flush (): Promise<void> {
    this.writing = this.writing.then(async () => { await this.writeBatch() })
    await this.writing
  }

  open (since: number, follow?: FollowQueue): AsyncIterable<LogLine> {
    // Everything below happens in this tick: the files as they are, the lines
    // not yet in them, and the follower's first line all split at one instant.
    const files: OpenedFile[] = []
    for (let i = this.init.config.files - 1; i >= 0; i--) {
      const f = openNow(this.path(i))
      if (f === undefined) continue
      // The live file may hold part of the batch being written: read only what was written before it.
      if (i === 0 && this.fh !== undefined) f.end = Math.min(f.end, this.size)
      files.push(f)
    }
    const memory = [...this.inflight, ...this.pending]
    if (follow !== undefined) this.followers.add(follow)
    const { node, component } = this.init
    return (async function * () {
      try {
        while (files.length > 0) {
          const f = files.shift()!
          // Lines are stamped before they are written, so a file last written before `since` holds none of the range.
          if (f.mtimeMs < since) { closeFile(f); continue }
          for await (const { text } of linesOf(f)) {
            const l = agentLine(text, node, component)
            if (l !== undefined) yield l
          }
        }
        for (const text of memory) {
          const l = agentLine(text, node, component)
          if (l !== undefined) yield l
        }
      } finally {
        for (const f of files) closeFile(f)
      }
    })()
  }

  private schedule (): void {
    if (this.timer !== undefined) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.flush()
    }, this.init.config.flushDelayMs)
    this.timer.unref?.()
  }

  private async writeBatch (): Promise<void> {
    if (!this.running || this.pending.length === 0) return
    // A rotation that failed half-way left no live file open: open it again (the batch is dropped if that fails too).
    if (this.fh === undefined) this.fh = await open(this.path(0), 'a', 0o640).catch(() => undefined)
    if (this.fh === undefined) {
      this.init.metrics.dropped.inc({ reason: 'write_failed' }, this.pending.length)
      this.pending = []
      this.pendingBytes = 0
      return
    }
    this.inflight = this.pending
    const bytes = this.pendingBytes
    this.pending = []
    this.pendingBytes = 0
    try {
      if (this.size > 0 && this.size + bytes > this.init.config.maxFileBytes) await this.rotate()
      const text = this.inflight.join('\n') + '\n'
      await this.fh.write(text)
      this.size += bytes
      this.init.metrics.stored.inc(this.inflight.length)
      this.init.metrics.storedBytes.inc(bytes)
    } catch {
      this.init.metrics.dropped.inc({ reason: 'write_failed' }, this.inflight.length)
    } finally {
      this.inflight = []
      this.gauge()
    }
  }

  /** Shift the rotated files (the oldest falls off), move the live one to `.1`, start an empty live file. */
  private async rotate (): Promise<void> {
    const n = this.init.config.files
    await this.fh?.close()
    this.fh = undefined
    for (let i = n - 1; i >= 1; i--) {
      await rename(this.path(i - 1), this.path(i)).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') throw err })
    }
    this.rotated = [this.size, ...this.rotated].slice(0, n - 1)
    this.size = 0
    this.fh = await open(this.path(0), 'a', 0o640)
    this.init.metrics.rotations.inc()
  }

  private gauge (): void {
    this.init.metrics.diskBytes.set(this.size + this.rotated.reduce((a, b) => a + b, 0))
  }
}

/** Whether the file's byte at `size - 1` is a newline. */
async function endsWithNewline (path: string, size: number): Promise<boolean> {
  const fh = await open(path, 'r')
  try {
    const { bytesRead, buffer } = await fh.read(Buffer.alloc(1), 0, 1, size - 1)
    return bytesRead === 1 && buffer[0] === 0x0a
  } finally { await fh.close() }
}
