/** CLI output helpers: JSON for machines, aligned tables for people, one-line errors. */

export function printJson (value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n')
}

export interface Column<T> {
  header: string
  value: (row: T) => string
}

export function printTable<T> (rows: T[], columns: Array<Column<T>>): void {
  const cells = rows.map(r => columns.map(c => c.value(r)))
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map(row => row[i].length)))
  const line = (vals: string[]): string => vals.map((v, i) => i === vals.length - 1 ? v : v.padEnd(widths[i])).join('  ').trimEnd()
  process.stdout.write(line(columns.map(c => c.header)) + '\n')
  for (const row of cells) process.stdout.write(line(row) + '\n')
}

/** Print `mycel: message` to stderr and exit with `code` (2: usage/config, 1: runtime). */
export function fail (message: string, code = 1): never {
  process.stderr.write(`mycel: ${message}\n`)
  process.exit(code)
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
