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
 *
 * The file is a checksummed single record (lib/sealed-file.ts, `MYCELIN1`)
 * holding the number in decimal; the first layout (the bare number and a
 * newline) is still read and replaced on the next write. A damaged file is
 * refused (CorruptFileError naming it): starting lower than a previous run
 * would leave the node dead in everyone's view. A failed write throws
 * StorageFailedError before the incarnation is used.
 */
import { join } from 'node:path'
import { CorruptFileError } from '../../lib/errors.js'
import type { FileFormat } from '../../lib/file-format.js'
import { readSealedSync, writeSealedSync } from '../../lib/sealed-file.js'

export interface IncarnationStore {
  /** The incarnation to start this run with (already persisted). */
  start: () => number
  /** Make `inc` durable before it is used (a no-op while within the current reservation). */
  save: (inc: number) => void
}

/** Incarnations reserved per disk write. */
export const RESERVE_BLOCK = 64

export const INCARNATION_FILE = join('membership', 'incarnation')

export const INCARNATION_FORMAT: FileFormat = {
  magic: 'MYCELIN1',
  name: 'incarnation reservation',
  recovery: 'stop the agent and move this file aside: the node then restarts its incarnation at 0, and peers keep it dead ' +
    'until it refutes their newer claims after a push-pull (a few seconds to minutes)'
}

export function fileIncarnationStore (dataDir: string): IncarnationStore {
  const file = join(dataDir, INCARNATION_FILE)
  const write = (inc: number): void => { writeSealedSync(INCARNATION_FORMAT, file, Buffer.from(String(inc))) }
  let reserved = -1
  return {
    start: () => {
      let stored = -1
      // First layout: the number and a newline.
      const read = readSealedSync(INCARNATION_FORMAT, file, (data) => /^[0-9]+\n?$/.test(Buffer.from(data).toString('latin1')) ? data : undefined)
      if (read !== undefined) {
        const text = Buffer.from(read.payload).toString('latin1').trim()
        const n = Number(text)
        if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(n)) throw new CorruptFileError(file, `${INCARNATION_FORMAT.name} does not hold a number`, INCARNATION_FORMAT.recovery)
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
