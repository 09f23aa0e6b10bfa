/**
 * A component's stdout and stderr, bounded on disk: `<name>.log` and up to
 * `files - 1` older copies `<name>.log.1` (newest) ... `<name>.log.<files-1>`.
 *
 * The component writes to the file itself (an O_APPEND descriptor it
 * inherits), not through a pipe to the agent: a pipe would break when the
 * agent dies, and the component must outlive the agent. So rotation is
 * logrotate's `copytruncate`: copy the live file to `.1` (after shifting the
 * older ones), then truncate it; the component's appends continue at the
 * new end. What it writes between the copy and the truncate is lost (a few
 * lines at most, once per rotation) — the price of not owning its stdout.
 * The size is checked periodically, so the live file may outgrow the cap by
 * what the component writes in one check interval.
 */
import { closeSync, constants, openSync } from 'node:fs'
import { copyFile, rename, stat, truncate } from 'node:fs/promises'

export class RotatingLog {
  /** A rotation in progress: a check that comes meanwhile skips (two would shift the same files). */
  private busy = false

  constructor (readonly path: string, readonly maxBytes: number, readonly files: number) {}

  /** A descriptor for the child's stdout/stderr (append mode); the caller closes it once the child has it. */
  openForChild (): number {
    // O_NOFOLLOW: never write (or chown) through a link someone planted under the log's name.
    return openSync(this.path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o640)
  }

  /** Rotate when the live file has grown past `maxBytes`; true when it did. */
  async rotateIfNeeded (): Promise<boolean> {
    if (this.busy) return false
    this.busy = true
    try {
      let size: number
      try { size = (await stat(this.path)).size } catch { return false }
      if (size <= this.maxBytes) return false
      await this.rotate()
      return true
    } finally {
      this.busy = false
    }
  }

  async rotate (): Promise<void> {
    for (let i = this.files - 1; i >= 2; i--) {
      try { await rename(`${this.path}.${i - 1}`, `${this.path}.${i}`) } catch (err) { if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err }
    }
    if (this.files > 1) await copyFile(this.path, `${this.path}.1`)
    await truncate(this.path, 0)
  }
}

/** Close a descriptor handed to a child (ignoring one already closed). */
export function closeQuietly (fd: number): void {
  try { closeSync(fd) } catch {}
}
