/**
 * The cost benchmark's table: one row per measure, mycel beside its anchor
 * measured in the same run, their ratio, the goal and whether it is met.
 * Printed as Markdown so a run pastes straight into docs/performance.md.
 */

/** A goal a row is judged by: its text for the table and the test. */
export interface Goal {
  text: string
  met: (mycel: number, anchor: number | undefined) => boolean
}

/** A measured value, or why there is none (e.g. "failed", "not run"). */
export type Cell = number | string

export interface RatioRow {
  measure: string
  /** Unit printed after each value ("%", "MB", "s"). */
  unit: string
  mycel: Cell
  /** The anchor's value; "—" where the row has no anchor. */
  anchor: Cell
  goal?: Goal
  /** Decimals of the values (the ratio always has 2). */
  digits?: number
}

/** mycel ÷ anchor, or undefined when either is missing or the anchor is 0. */
export function ratioOf (mycel: Cell, anchor: Cell): number | undefined {
  if (typeof mycel !== 'number' || typeof anchor !== 'number' || anchor === 0) return undefined
  return mycel / anchor
}

/** At most `k` times the anchor's value. */
export function atMostTimesAnchor (k: number, anchorName: string): Goal {
  return { text: k === 1 ? `≤ ${anchorName}'s` : `≤ ${k}× ${anchorName}'s`, met: (m, a) => a !== undefined && m <= k * a }
}

/** At most `limit` (in the row's unit). */
export function atMost (limit: number, unit: string): Goal {
  return { text: `≤ ${limit}${unitSuffix(unit)}`, met: m => m <= limit }
}

/** Every one of `goals`. */
export function allOf (...goals: Goal[]): Goal {
  return { text: goals.map(g => g.text).join(' and '), met: (m, a) => goals.every(g => g.met(m, a)) }
}

function unitSuffix (unit: string): string {
  return unit === '' ? '' : unit === '%' ? ' %' : ` ${unit}`
}

function formatCell (c: Cell, unit: string, digits: number): string {
  return typeof c === 'number' ? `${c.toFixed(digits)}${unitSuffix(unit)}` : c
}

/** The cells of a row: measure, mycel, anchor, ratio, goal, met?. */
export function rowCells (r: RatioRow): string[] {
  const digits = r.digits ?? 2
  const ratio = ratioOf(r.mycel, r.anchor)
  let met = '—'
  if (r.goal !== undefined) {
    met = typeof r.mycel === 'number' ? (r.goal.met(r.mycel, typeof r.anchor === 'number' ? r.anchor : undefined) ? 'yes' : 'no') : 'no'
  }
  return [r.measure, formatCell(r.mycel, r.unit, digits), formatCell(r.anchor, r.unit, digits),
    ratio !== undefined ? `${ratio.toFixed(2)}×` : '—', r.goal?.text ?? '—', met]
}

/** A Markdown table, columns padded so it also reads in a terminal. */
export function formatRatioTable (rows: RatioRow[], anchorName: string): string {
  const header = ['measure', 'mycel', anchorName, 'ratio', 'goal', 'met?']
  const body = rows.map(rowCells)
  const widths = header.map((h, i) => Math.max(h.length, ...body.map(cells => cells[i].length)))
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`
  return [line(header), `|${widths.map(w => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n') + '\n'
}
