/**
 * Durable own incarnation. SWIM only lets a member's own alive record win
 * over an accusation if its incarnation is higher, so a node restarted with
 * the same identity must come back above anything it ever signed: otherwise
 * the cluster keeps it dead (or left) until a push-pull shows it the old
 * claim and it refutes. We persist the incarnation in `<dataDir>/membership/
 * incarnation` before any record carrying it is signed, with write-to-temp,
 * fsync, rename and directory fsync, so a crash leaves the old or the new
 * value, never a torn one.
 *
 * What is stored is a *reservation*: the highest incarnation this run may
 * use without writing again (HiLo allocation). A bump within the reservation
 * costs no disk I/O; crossing it writes a new reservation RESERVE_BLOCK
 * higher. A restart starts at stored + 1, above anything the previous run
 * could have signed. Refuting a suspicion therefore never waits for an
 * fsync, which on a busy disk can take longer than the suspicion itself.
 *
 * Why not a wall-clock incarnation: it depends on clocks never stepping back
 * and on fewer than one bump per second over a node's life; a counter on disk
 * needs neither. Without a data dir (tests, `--dev`), we fall back to the
 * clock in seconds, which is still above anything a previous run in the past
 * started with unless it refuted more than once per second.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { IncarnationStoreError } from './errors.js'

export interface IncarnationStore {
  /** The incarnation to start this run with (already persisted). */
  start: () => number
  /** Make `inc` durable before it is used (a no-op while within the current reservation). */
  save: (inc: number) => void
}

/** Incarnations reserved per disk write. */
export const RESERVE_BLOCK = 64

export function fileIncarnationStore (dataDir: string): IncarnationStore {
  const dir = join(dataDir, 'membership')
  const file = join(dir, 'incarnation')
  const write = (inc: number): void => {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const tmp = `${file}.tmp`
    const fd = openSync(tmp, 'w', 0o600)
    try {
      writeSync(fd, `${inc}\n`)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, file)
    const dfd = openSync(dir, 'r')
    try { fsyncSync(dfd) } catch { /* some filesystems refuse fsync on directories */ } finally { closeSync(dfd) }
  }
  let reserved = -1
  return {
    start: () => {
      let stored = -1
      let text: string | undefined
      try {
        text = readFileSync(file, 'utf8')
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new IncarnationStoreError(`cannot read ${file}: ${(err as Error).message}`)
      }
      if (text !== undefined) {
        const n = Number(text.trim())
        if (!Number.isSafeInteger(n) || n < 0) throw new IncarnationStoreError(`${file} does not hold an incarnation number`)
        stored = n
      }
      const inc = stored + 1
      reserved = inc + RESERVE_BLOCK
      write(reserved)
      return inc
    },
    save: (inc: number) => {
      if (inc <= reserved) return
      reserved = inc + RESERVE_BLOCK
      write(reserved)
    }
  }
}

export function clockIncarnationStore (now: () => number = Date.now): IncarnationStore {
  return { start: () => Math.floor(now() / 1000), save: () => {} }
}
