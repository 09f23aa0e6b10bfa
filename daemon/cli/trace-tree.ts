/**
 * `mycel trace`'s presentation: the span lines of one trace, gathered from
 * every node's log store, as a tree by parent with timings (docs/tracing.md).
 *
 * A span line is a log line with msg `span` (wire/tracing.ts) plus the
 * `node` the log store stamped on it. Lines that are not spans of the trace,
 * or lack a field the tree needs, are skipped; a span whose parent was not
 * found (the API caller's own span, a node that did not answer, a line the
 * store already rotated away) is shown as a root, so a partial answer is
 * still a readable one. Offsets are from the earliest span's start; they
 * compare clocks of different nodes, so they are as good as those clocks.
 */

export interface TraceSpan {
  node: string
  trace: string
  span: string
  parent?: string
  name: string
  hop: string
  /** Unix ms the span started (the line's `start`). */
  startMs: number
  durationMs: number
  ok: boolean
  error?: string
  /** Every other field of the line that says what the hop was about (ns, key, seq, origin, …). */
  attrs: Record<string, string | number | boolean>
}

/** A span in the tree: its depth and its start relative to the trace's first span. */
export interface TreeRow extends TraceSpan {
  depth: number
  offsetMs: number
}

export interface TraceTree {
  trace: string
  /** Depth-first, children after their parent, siblings by start time. */
  rows: TreeRow[]
  nodes: string[]
  /** From the first span's start to the last span's end, ms. */
  totalMs: number
}

/** Fields of a span line that are not attributes of the hop. */
const LINE_FIELDS = new Set(['node', 'trace', 'span', 'parent', 'name', 'hop', 'start', 'durationMs', 'ok', 'error', 'msg', 'time', 'level', 'component', 'module', 'pid', 'hostname', 'v', 'raw', 'truncated'])

/** The span of `traceId` in one log line (a parsed JSON object), or undefined. */
export function spanOfLine (line: unknown, traceId: string): TraceSpan | undefined {
  if (typeof line !== 'object' || line === null || Array.isArray(line)) return undefined
  const l = line as Record<string, unknown>
  if (l.msg !== 'span' || l.trace !== traceId) return undefined
  const { span, name, hop, start, durationMs } = l
  if (typeof span !== 'string' || typeof name !== 'string' || typeof hop !== 'string' || typeof start !== 'string') return undefined
  const startMs = Date.parse(start)
  if (Number.isNaN(startMs)) return undefined
  const attrs: TraceSpan['attrs'] = {}
  for (const [k, v] of Object.entries(l)) {
    if (LINE_FIELDS.has(k)) continue
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') attrs[k] = v
  }
  return {
    node: typeof l.node === 'string' ? l.node : '?',
    trace: traceId,
    span,
    ...(typeof l.parent === 'string' ? { parent: l.parent } : {}),
    name,
    hop,
    startMs,
    durationMs: typeof durationMs === 'number' && durationMs >= 0 ? durationMs : 0,
    ok: l.ok !== false,
    ...(typeof l.error === 'string' ? { error: l.error } : {}),
    attrs
  }
}

/** The tree of a trace's spans; a span seen twice (two answers of one node) is shown once. */
export function buildTraceTree (traceId: string, spans: readonly TraceSpan[]): TraceTree {
  const byId = new Map<string, TraceSpan>()
  for (const s of spans) if (!byId.has(s.span)) byId.set(s.span, s)
  const all = [...byId.values()]
  const byStart = (a: TraceSpan, b: TraceSpan): number => a.startMs - b.startMs || a.node.localeCompare(b.node) || a.span.localeCompare(b.span)
  const children = new Map<string, TraceSpan[]>()
  const roots: TraceSpan[] = []
  for (const s of all) {
    if (s.parent !== undefined && s.parent !== s.span && byId.has(s.parent)) {
      const list = children.get(s.parent) ?? []
      list.push(s)
      children.set(s.parent, list)
    } else {
      roots.push(s)
    }
  }
  const first = all.reduce((m, s) => Math.min(m, s.startMs), Infinity)
  const last = all.reduce((m, s) => Math.max(m, s.startMs + s.durationMs), -Infinity)
  const rows: TreeRow[] = []
  const seen = new Set<string>()
  // Iterative depth-first walk: a forged parent cycle is cut by `seen`, and depth never grows the stack.
  const stack: Array<{ s: TraceSpan, depth: number }> = roots.sort(byStart).reverse().map(s => ({ s, depth: 0 }))
  while (stack.length > 0) {
    const { s, depth } = stack.pop() as { s: TraceSpan, depth: number }
    if (seen.has(s.span)) continue
    seen.add(s.span)
    rows.push({ ...s, depth, offsetMs: s.startMs - first })
    const kids = (children.get(s.span) ?? []).sort(byStart)
    for (let i = kids.length - 1; i >= 0; i--) stack.push({ s: kids[i] as TraceSpan, depth: depth + 1 })
  }
  // Spans only reachable through a cycle of parents: shown as roots rather than lost.
  for (const s of all.sort(byStart)) if (!seen.has(s.span)) rows.push({ ...s, depth: 0, offsetMs: s.startMs - first })
  return {
    trace: traceId,
    rows,
    nodes: [...new Set(all.map(s => s.node))].sort(),
    totalMs: all.length === 0 ? 0 : last - first
  }
}

/** Attributes shown after a span's name, in this order; others follow sorted. */
const SHOWN_FIRST = ['ns', 'key', 'seq', 'origin', 'lagMs', 'rollout', 'role', 'kind']

/** The tree as text: one line per span, indented by depth. `short` shortens node ids. */
export function formatTraceTree (t: TraceTree, short: (node: string) => string = shortNode): string {
  if (t.rows.length === 0) return `trace ${t.trace}: no spans found\n`
  const head = `trace ${t.trace}: ${t.rows.length} span${t.rows.length === 1 ? '' : 's'} on ${t.nodes.length} node${t.nodes.length === 1 ? '' : 's'}, ${fmtMs(t.totalMs)}\n`
  const lines = t.rows.map(r => {
    const offset = `+${fmtMs(r.offsetMs)}`.padStart(10)
    const dur = fmtMs(r.durationMs).padStart(9)
    const indent = r.depth === 0 ? '' : '  '.repeat(r.depth - 1) + '└ '
    const keys = [...SHOWN_FIRST.filter(k => k in r.attrs), ...Object.keys(r.attrs).filter(k => !SHOWN_FIRST.includes(k)).sort()]
    const attrs = keys.filter(k => k !== 'writer').map(k => `${k}=${String(r.attrs[k])}`).join(' ')
    const err = r.ok ? '' : `  FAILED${r.error !== undefined ? `: ${r.error}` : ''}`
    return `${offset} ${dur}  ${short(r.node).padEnd(10)} ${indent}${r.name} ${r.hop}${attrs !== '' ? '  ' + attrs : ''}${err}`
  })
  return head + `${'offset'.padStart(10)} ${'duration'.padStart(9)}  ${'node'.padEnd(10)} span\n` + lines.join('\n') + '\n'
}

/** The last 8 characters of a peer id: every Ed25519 peer id starts with the same `12D3KooW`. */
export function shortNode (node: string): string {
  return node.length > 10 ? `…${node.slice(-8)}` : node
}

function fmtMs (ms: number): string {
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 1 : 0)} ms`
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`
}
