/**
 * An exclusive lock on a directory, held for a process's life: the lock
 * file is created with O_EXCL and names its holder
 * `{pid, bootId, startTime, cmdline, since}`.
 *
 * A lock whose holder is gone is stale and is taken over: the holder's pid
 * does not exist, or it exists but is another process (its start time in
 * /proc/<pid>/stat differs, or the machine has rebooted since: another
 * boot id). The start time is what makes pid reuse safe, which matters in
 * containers where an agent is pid 1 after every restart. A zombie (exited,
 * not yet reaped by its parent) holds nothing. Without /proc (not Linux) a
 * live pid counts as the holder.
 *
 * Taking over a stale lock happens under a short-lived guard file, so two
 * processes finding the same stale lock cannot both take it: only the
 * guard holder removes the stale file, and only if it still holds what was
 * judged stale; the new lock is then created with O_EXCL as usual. The
 * guard names its holder too and is judged by the same rule (age only while
 * it is unreadable), so a live guard holder is never robbed of it, however
 * long it is descheduled. What files alone cannot close: a process that
 * dies inside the guard (a few system calls) leaves a guard that two later
 * processes may both judge stale, and the slower one's unlink can remove the
 * faster one's fresh guard. Without flock(2) in Node.js this is the
 * residue; it needs a death and a three-way race within microseconds.
 */
import { closeSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { sleep } from './clock.js'
import { DataDirLockedError } from './errors.js'

export const LOCK_FILE = 'agent.lock'
const GUARD_SUFFIX = '.takeover'
/** A lock or guard file this young with unreadable content may be mid-write by its creator, ms. */
const YOUNG_MS = 2_000
/** Pause between attempts while another process writes or takes over the lock, ms. */
const RETRY_MS = 20
/** Attempts before giving up (about 5 s). */
const MAX_ATTEMPTS = 250

export interface LockHolder {
  pid: number
  /** /proc/sys/kernel/random/boot_id: which boot of the machine. */
  bootId?: string
  /** Field 22 of /proc/<pid>/stat: clock ticks after boot when the process started. */
  startTime?: string
  /** The holder's command line, for the message. */
  cmdline?: string
  since: string
}

function readText (path: string): string | undefined {
  try { return readFileSync(path, 'utf8') } catch { return undefined }
}

/** Read once: the boot id cannot change while this process runs (the adoption poll asks for it every second). */
let cachedBootId: { value: string | undefined } | undefined

export function bootId (): string | undefined {
  cachedBootId ??= { value: readText('/proc/sys/kernel/random/boot_id')?.trim() }
  return cachedBootId.value
}

/** Fields of /proc/<pid>/stat after the command name (which is in parentheses and may contain spaces). */
function statFields (pid: number | 'self'): string[] | undefined {
  const stat = readText(`/proc/${pid}/stat`)
  return stat === undefined ? undefined : stat.slice(stat.lastIndexOf(')') + 2).split(' ')
}

/** Field 22 (starttime); index 19 after the name. */
export function startTimeOf (pid: number | 'self'): string | undefined { return statFields(pid)?.[19] }

function cmdlineOf (pid: number | 'self'): string | undefined {
  return readText(`/proc/${pid}/cmdline`)?.split('\0').filter(Boolean).join(' ')
}

export function currentHolder (): LockHolder {
  return { pid: process.pid, bootId: bootId(), startTime: startTimeOf('self'), cmdline: cmdlineOf('self') ?? process.argv.join(' '), since: new Date().toISOString() }
}

/** Is the process named in `h` still running? */
export function holderAlive (h: LockHolder): boolean {
  const boot = bootId()
  if (h.bootId !== undefined && boot !== undefined && h.bootId !== boot) return false
  try {
    process.kill(h.pid, 0)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false
    // EPERM: a process with that pid exists (another user's); judged below.
  }
  const fields = statFields(h.pid)
  if (fields === undefined) return true // no /proc: a live pid counts as the holder
  // Field 3, the state: a zombie (Z) or dead (X) process holds nothing.
  if (fields[0] === 'Z' || fields[0] === 'X') return false
  return h.startTime === undefined || fields[19] === h.startTime
}

function parseHolder (text: string | undefined): LockHolder | undefined {
  if (text === undefined) return undefined
  try {
    const h = JSON.parse(text) as LockHolder
    return Number.isSafeInteger(h.pid) && h.pid > 0 ? h : undefined
  } catch { return undefined }
}

function ageMs (path: string): number {
  try { return Date.now() - statSync(path).mtimeMs } catch { return Infinity }
}

function createExclusive (path: string, content: string): boolean {
  let fd: number
  try {
    fd = openSync(path, 'wx', 0o600)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw err
  }
  try { writeSync(fd, content) } finally { closeSync(fd) }
  return true
}

function describe (h: LockHolder): string {
  return `pid ${h.pid}${h.cmdline !== undefined ? ` (${h.cmdline.length > 120 ? h.cmdline.slice(0, 117) + '...' : h.cmdline})` : ''}, since ${h.since}`
}

export class DirLock {
  private released = false
  private readonly onExit = (): void => { this.release() }

  private constructor (readonly path: string, readonly holder: LockHolder) {
    // A process that exits without stop() (a start failure, process.exit) leaves no lock behind.
    process.once('exit', this.onExit)
  }

  /**
   * Take the lock of `dir`, taking over a stale one. Throws
   * DataDirLockedError naming the live holder.
   */
  static async acquire (dir: string, what = 'data dir'): Promise<DirLock> {
    // A first start creates the data dir (owner only: it will hold the identity key).
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const path = join(dir, LOCK_FILE)
    const guard = path + GUARD_SUFFIX
    const me = currentHolder()
    const mine = JSON.stringify(me) + '\n'
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (createExclusive(path, mine)) return new DirLock(path, me)
      const text = readText(path)
      if (text === undefined) continue // removed meanwhile: try again at once
      const holder = parseHolder(text)
      if (holder !== undefined && holderAlive(holder)) {
        throw new DataDirLockedError(`${what} ${dir} is in use by another mycel agent: ${describe(holder)}; stop it first or use another --data-dir`)
      }
      if (holder === undefined && ageMs(path) < YOUNG_MS) { await sleep(RETRY_MS); continue }
      // Stale (or unreadable and old): take it over under the guard.
      if (!createExclusive(guard, mine)) {
        // Another process is taking over; its guard is stale only if that process is gone
        // (or, unreadable, it is not young). Undefined text: released meanwhile.
        const guardText = readText(guard)
        if (guardText !== undefined) {
          const g = parseHolder(guardText)
          const age = ageMs(guard)
          if (g !== undefined ? !holderAlive(g) : Number.isFinite(age) && age >= YOUNG_MS) try { unlinkSync(guard) } catch {}
        }
        await sleep(RETRY_MS)
        continue
      }
      try {
        if (readText(path) === text) unlinkSync(path)
      } finally {
        try { unlinkSync(guard) } catch {}
      }
    }
    throw new DataDirLockedError(`${what} ${dir}: could not take ${path} (another process keeps changing it)`)
  }

  /** Remove the lock if it is still ours. Safe to call twice. */
  release (): void {
    if (this.released) return
    this.released = true
    process.removeListener('exit', this.onExit)
    const h = parseHolder(readText(this.path))
    if (h?.pid === this.holder.pid && h.startTime === this.holder.startTime) {
      try { unlinkSync(this.path) } catch {}
    }
  }
}
