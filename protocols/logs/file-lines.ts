/**
 * Lines of log files read as streams (never a whole file in memory), from
 * descriptors opened at one instant: a rotation that renames the files
 * meanwhile does not change what a query reads.
 */
import { closeSync, createReadStream, fstatSync, openSync } from 'node:fs'
import { createInterface } from 'node:readline'

export interface OpenedFile {
  fd: number
  /** Read up to this byte (exclusive); the rest was written after the query began. */
  end: number
  mtimeMs: number
  /** Byte offset where the read starts (0: the whole file). */
  start?: number
}

/** Open `path` for reading now; undefined when it does not exist. */
export function openNow (path: string): OpenedFile | undefined {
  let fd: number
  try { fd = openSync(path, 'r') } catch { return undefined }
  try {
    const st = fstatSync(fd)
    return { fd, end: st.size, mtimeMs: st.mtimeMs }
  } catch {
    closeSync(fd)
    return undefined
  }
}

export function closeFile (f: OpenedFile): void {
  try { closeSync(f.fd) } catch {}
}

/** The lines of [start, end) of an opened file, with the byte offset each starts at; closes the descriptor when done or abandoned. */
export async function * linesOf (f: OpenedFile): AsyncGenerator<{ text: string, offset: number }> {
  const start = f.start ?? 0
  if (f.end <= start) { closeFile(f); return }
  const stream = createReadStream('', { fd: f.fd, start, end: f.end - 1, autoClose: true, encoding: 'utf8' })
  const rl = createInterface({ input: stream, crlfDelay: Infinity })
  let offset = start
  try {
    for await (const text of rl) {
      const at = offset
      offset += Buffer.byteLength(text) + 1
      if (text.length > 0) yield { text, offset: at }
    }
  } finally {
    rl.close()
    stream.destroy()
  }
}
