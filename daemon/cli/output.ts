/**
 * CLI output: the one writer every command prints through. JSON for
 * machines, aligned tables for people.
 *
 * A reader that stops early (`mycel critical status | head -4`) closes the
 * pipe; the next write fails with EPIPE. That is the reader's choice, not a
 * failure of ours: the command stops quietly with exit 0 instead of dying on
 * an unhandled 'error' event.
 */

let pipeClosed = false

/** Exit code when the reader closed our stdout: it got what it wanted. */
const EXIT_READER_GONE = 0

/** Install once, before any output: EPIPE on stdout ends the command quietly; stderr errors are ignored (nowhere left to report them). */
export function guardOutput (): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') {
      pipeClosed = true
      process.exit(EXIT_READER_GONE)
    }
    process.stderr.write(`mycel: cannot write output: ${err.message}\n`)
    process.exit(1)
  })
  process.stderr.on('error', () => {})
}

/** Write to stdout; a no-op once the reader has gone. */
export function print (text: string): void {
  if (pipeClosed) return
  process.stdout.write(text)
}

export function printJson (value: unknown): void {
  print(JSON.stringify(value, null, 2) + '\n')
}

export interface Column<T> {
  header: string
  value: (row: T) => string
}

export function printTable<T> (rows: T[], columns: Array<Column<T>>): void {
  const cells = rows.map(r => columns.map(c => c.value(r)))
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map(row => row[i].length)))
  const line = (vals: string[]): string => vals.map((v, i) => i === vals.length - 1 ? v : v.padEnd(widths[i])).join('  ').trimEnd()
  print([columns.map(c => c.header), ...cells].map(line).join('\n') + '\n')
}

/** Human duration like 3d4h, 5m12s, 42s. */
export function ago (iso: string | number): string {
  const ms = Date.now() - (typeof iso === 'number' ? iso : Date.parse(iso))
  if (!Number.isFinite(ms)) return '-'
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`
}

/** Shorten a peer id for tables: first 6 and last 6 characters. */
export function shortId (id: string): string {
  return id.length <= 16 ? id : `${id.slice(0, 6)}…${id.slice(-6)}`
}
