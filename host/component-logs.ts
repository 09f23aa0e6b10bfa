/**
 * The components' logs as log sources (protocols/logs/source.ts), read where
 * the supervisor writes them (`<dataDir>/host/logs/<name>.log`, rotated by
 * copytruncate to `.1`, `.2`, …: host/rotating-log.ts), never copied.
 *
 * A component line may carry no time of its own (plain text). Such a line is
 * stamped with when the agent first saw it: every `pollMs` the live files
 * are looked at, and the offset where new bytes began is marked with the
 * time ("marks"); a line's stamp is the last mark at or before it. Lines
 * already in a file when the agent started (or in a rotated file it never
 * watched) get the file's modification time, an upper bound. JSON lines with
 * a `time` and text lines starting with an RFC 3339 time keep their own.
 * The marks live in memory, bounded (coarser when many).
 *
 * Followers get new complete lines at each poll. The live file is read only
 * up to the last newline seen at the last poll, so a line being written is
 * neither cut in two nor served twice.
 */
import { watch, type FSWatcher } from 'node:fs'
import { mkdir, open, readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { componentLine, FollowQueue, linesOf, openNow, closeFile, type LogLine, type LogSource, type OpenedFile } from '../protocols/logs/index.js'

/** Marks kept per file; beyond it every other one is dropped (stamps get coarser, memory stays bounded). */
const MAX_MARKS = 1_024
/** Rotated copies looked for (the host keeps logFiles − 1 of them). */
const MAX_ROTATED = 9
/** Largest growth read for followers in one poll, bytes; more is skipped (a gap) rather than held in memory. */
const MAX_POLL_READ = 4 * 1024 * 1024
/** A watched directory is still read every this many polls, for filesystems whose watch misses events. */
const RESCAN_POLLS = 30

interface Mark { offset: number, t: number }

class ComponentLog implements LogSource {
  /** Marks of the live file, then of `.1`, `.2`, … (shifted at each rotation seen). */
  private marks: Mark[][] = [[]]
  /** End of the last complete line of the live file seen. */
  private seen = -1
  private readonly followers = new Set<FollowQueue>()

  constructor (private readonly path: string, private readonly node: string, readonly name: string) {}

  private file (i: number): string { return i === 0 ? this.path : `${this.path}.${i}` }

  /** Look at the live file: mark new bytes with `now`, feed followers, notice a rotation. */
  async poll (now: number): Promise<void> {
    let size: number
    let mtime: number
    try { const s = await stat(this.path); size = s.size; mtime = s.mtimeMs } catch { return }
    if (this.seen < 0) {
      // First look: what is there was written before we watched; its mtime bounds it.
      this.marks[0] = [{ offset: 0, t: Math.round(Math.min(mtime, now)) }]
      this.seen = await lastNewline(this.path, 0, size)
      return
    }
    if (size < this.seen) {
      // copytruncate: the live file was copied to .1 and emptied.
      this.marks = [[{ offset: 0, t: now }], ...this.marks].slice(0, MAX_ROTATED + 1)
      this.seen = 0
    }
    if (size <= this.seen) return
    const marks = this.marks[0]
    marks.push({ offset: this.seen, t: now })
    if (marks.length > MAX_MARKS) this.marks[0] = marks.filter((_, i) => i % 2 === 0)
    const from = this.seen
    const end = await lastNewline(this.path, from, size)
    if (end <= from) return
    this.seen = end
    const live = [...this.followers].filter(f => !f.closed)
    if (live.length === 0) { this.followers.clear(); return }
    if (end - from > MAX_POLL_READ) return // a burst larger than a follower can be sent: skipped
    const f = openNow(this.path)
    if (f === undefined) return
    f.start = from
    f.end = end
    for await (const { text } of linesOf(f)) {
      const line = componentLine(text, this.node, this.name, now)
      for (const q of live) q.push(line)
    }
  }

  open (since: number, follow?: FollowQueue): AsyncIterable<LogLine> {
    const files: Array<{ f: OpenedFile, marks: Mark[] }> = []
    for (let i = MAX_ROTATED; i >= 0; i--) {
      const f = openNow(this.file(i))
      if (f === undefined) continue
      if (i === 0) f.end = Math.max(0, Math.min(f.end, this.seen))
      files.push({ f, marks: this.marks[i] ?? [] })
    }
    if (follow !== undefined) this.followers.add(follow)
    const { node, name } = this
    return (async function * () {
      try {
        while (files.length > 0) {
          const { f, marks } = files.shift()!
          if (f.mtimeMs < since) { closeFile(f); continue }
          let m = 0
          for await (const { text, offset } of linesOf(f)) {
            while (m + 1 < marks.length && marks[m + 1].offset <= offset) m++
            const stamp = marks.length > 0 && marks[m].offset <= offset ? marks[m].t : Math.round(f.mtimeMs)
            yield componentLine(text, node, name, stamp)
          }
        }
      } finally {
        for (const { f } of files) closeFile(f)
      }
    })()
  }
}

/** The offset just past the last newline in [from, size) of `path` (from when there is none). */
async function lastNewline (path: string, from: number, size: number): Promise<number> {
  if (size <= from) return from
  const fh = await open(path, 'r')
  try {
    const chunk = 64 * 1024
    let end = size
    while (end > from) {
      const start = Math.max(from, end - chunk)
      const buf = Buffer.alloc(end - start)
      await fh.read(buf, 0, buf.length, start)
      const i = buf.lastIndexOf(0x0a)
      if (i >= 0) return start + i + 1
      end = start
    }
    return from
  } finally {
    await fh.close()
  }
}

/**
 * Every component's log under `dir`, looked at while started. The directory
 * is watched (inotify through `fs.watch`): a write or a new file schedules a
 * look, at most one per `pollMs`, and nothing runs while no component
 * writes. Polling every `pollMs` whatever happened was the largest periodic
 * cost of an idle agent with no components at all (a readdir a second,
 * ~0.5 % of a core under load, docs/performance.md). A rescan every
 * `RESCAN_POLLS` polls covers filesystems whose watch misses events (network
 * mounts); where no watch can be made (inotify limits), it polls as before.
 */
export class ComponentLogs {
  private readonly logs = new Map<string, ComponentLog>()
  private timer?: ReturnType<typeof setTimeout>
  private rescan?: ReturnType<typeof setInterval>
  private watcher?: FSWatcher
  private running = false
  /** A look is under way; `again` asks for one more after it. */
  private busy = false
  private again = false
  private lastLook = 0

  constructor (private readonly init: { dir: string, node: string, pollMs: number }) {}

  sources (): LogSource[] { return [...this.logs.values()] }

  /** Whether the directory is watched (false: polled every `pollMs`). */
  get watching (): boolean { return this.watcher !== undefined }

  async start (): Promise<void> {
    if (this.running) return
    this.running = true
    // The supervisor's mode (host/supervisor.ts): this part starts first, and a later mkdir keeps an existing dir's mode.
    await mkdir(this.init.dir, { recursive: true, mode: 0o750 }).catch(() => {})
    try {
      this.watcher = watch(this.init.dir, { persistent: false }, () => { this.kick() })
      this.watcher.on('error', () => { this.unwatch(); this.kick() })
    } catch {
      this.watcher = undefined
    }
    this.rescan = setInterval(() => { this.kick() }, this.init.pollMs * RESCAN_POLLS)
    this.rescan.unref?.()
    await this.look()
  }

  stop (): void {
    this.running = false
    this.unwatch()
    clearInterval(this.rescan)
    this.rescan = undefined
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
  }

  private unwatch (): void {
    this.watcher?.close()
    this.watcher = undefined
  }

  /** Something may have changed: look now, or `pollMs` after the last look, once. */
  private kick (): void {
    if (!this.running || this.timer !== undefined) return
    // A look under way takes the change in after it (one more look), without a timer per write.
    if (this.busy) { this.again = true; return }
    const wait = Math.max(0, this.lastLook + this.init.pollMs - Date.now())
    this.timer = setTimeout(() => { this.timer = undefined; void this.look() }, wait)
    this.timer.unref?.()
  }

  private async look (): Promise<void> {
    if (this.busy) { this.again = true; return }
    this.busy = true
    this.lastLook = Date.now()
    try {
      const names = await readdir(this.init.dir).catch(() => [] as string[])
      for (const file of names) {
        if (!file.endsWith('.log') || this.logs.has(file)) continue
        this.logs.set(file, new ComponentLog(join(this.init.dir, file), this.init.node, file.slice(0, -'.log'.length)))
      }
      const now = Date.now()
      for (const log of this.logs.values()) await log.poll(now).catch(() => {})
    } finally {
      this.busy = false
      // Unwatched: poll on. Watched: a change during this look asks for another.
      if (this.again || this.watcher === undefined) { this.again = false; this.kick() }
    }
  }
}
