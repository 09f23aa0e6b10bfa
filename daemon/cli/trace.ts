/**
 * `mycel trace TRACE_ID [--region R] [--json]`: the hops of one traced
 * operation across the region (docs/tracing.md). The span lines come from
 * every node's log store through the agent's log query,
 * `GET /v1/logs?trace=ID&region=R` (NDJSON, one log line per line, with
 * the `node` that recorded it, then the control record `{"end": {lines,
 * more, nodes, missing}}`; docs/logs.md); trace-tree.ts makes the tree.
 * Nodes that did not answer are named after it: their hops are missing.
 */
import type { Command } from 'commander'
import { apiClient, type ApiFlags } from './client.js'
import { apiOption, tokenFileOption, parseCount, parseRegion } from './options.js'
import { print, printJson } from './output.js'
import { UsageError } from '../errors.js'
import { parseTraceparent } from '../../wire/trace-context.js'
import { buildTraceTree, formatTraceTree, spanOfLine, type TraceSpan, type TraceTree } from './trace-tree.js'

/** The trace id named on the command line: 32 hex digits, or a whole traceparent (as a `traceresponse` header gives it). */
export function parseTraceId (v: string): string {
  const s = v.trim().toLowerCase()
  if (/^[0-9a-f]{32}$/.test(s) && !/^0+$/.test(s)) return s
  const tp = parseTraceparent(s)
  if (tp !== undefined) return tp.traceId
  throw new UsageError(`not a trace id: ${JSON.stringify(v.slice(0, 80))} (32 hex digits, as "trace" in mycel config set --json)`)
}

/** A node of the region whose log store did not answer. */
export interface MissingNode { node: string, error: string }

/** What the log query answered for a trace. */
export interface TraceAnswer {
  spans: TraceSpan[]
  missing: MissingNode[]
  /** The query's limit cut the answer: older spans exist. */
  more: boolean
}

/**
 * The spans of `traceId` in an NDJSON answer, and the control records'
 * missing nodes and `more`; lines that are not JSON or not its spans are skipped.
 */
export function spansOfNdjson (text: string, traceId: string): TraceAnswer {
  const out: TraceAnswer = { spans: [], missing: [], more: false }
  const missing = (m: unknown): void => {
    const x = m as Partial<MissingNode> | null
    if (typeof x?.node === 'string' && !out.missing.some(y => y.node === x.node)) out.missing.push({ node: x.node, error: typeof x.error === 'string' ? x.error : 'no answer' })
  }
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '') continue
    let v: unknown
    try { v = JSON.parse(line) } catch { continue }
    const s = spanOfLine(v, traceId)
    if (s !== undefined) { out.spans.push(s); continue }
    const rec = v as { end?: { more?: unknown, missing?: unknown }, missing?: unknown } | null
    if (typeof rec !== 'object' || rec === null) continue
    if (rec.missing !== undefined) missing(rec.missing)
    if (typeof rec.end === 'object' && rec.end !== null) {
      if (rec.end.more === true) out.more = true
      if (Array.isArray(rec.end.missing)) rec.end.missing.forEach(missing)
    }
  }
  return out
}

/** Ask the agent for the trace's span lines across `region` (its own when absent). */
export async function collectTrace (flags: ApiFlags & { region?: string, since?: string, limit?: number }, traceId: string, signal?: AbortSignal): Promise<{ tree: TraceTree, missing: MissingNode[], more: boolean }> {
  const q = new URLSearchParams({ trace: traceId })
  if (flags.region !== undefined) q.set('region', flags.region)
  if (flags.since !== undefined) q.set('since', flags.since)
  if (flags.limit !== undefined) q.set('limit', String(flags.limit))
  const res = await apiClient(flags).stream(`/v1/logs?${q.toString()}`, signal)
  const answer = spansOfNdjson(await res.text(), traceId)
  return { tree: buildTraceTree(traceId, answer.spans), missing: answer.missing, more: answer.more }
}

/** What the tree cannot show: nodes that did not answer, spans beyond the limit. */
export function answerNotes (missing: readonly MissingNode[], more: boolean): string {
  return missing.map(m => `no answer from ${m.node}: ${m.error} (its hops are missing)\n`).join('') +
    (more ? 'more spans than --limit: the oldest were left out (raise --limit)\n' : '')
}

export function registerTraceCommand (program: Command): void {
  program.command('trace')
    .description('show the hops of a traced operation (a config write, a rollout, a command) across a region, with timings')
    .argument('<trace-id>', 'the trace id (32 hex digits; mycel config set --json prints it as "trace")')
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--region <name>', 'the region whose nodes are asked (default: this agent\'s)', parseRegion)
    .option('--since <duration>', 'how far back the log stores are searched: 30s, 5m, 2h, 7d or a time (as mycel logs --since; default 1h)')
    .option('--limit <n>', 'most span lines fetched (default: the log query\'s)', parseCount)
    .option('--json', 'machine-readable output: {trace, totalMs, nodes, spans: [{node, span, parent, name, hop, startMs, offsetMs, durationMs, depth, ok, attrs}], missing: [{node, error}], more}')
    .action(async (id: string, opts: ApiFlags & { region?: string, since?: string, limit?: number, json?: boolean }) => {
      const traceId = parseTraceId(id)
      const { tree, missing, more } = await collectTrace(opts, traceId)
      if (opts.json === true) { printJson({ trace: tree.trace, totalMs: tree.totalMs, nodes: tree.nodes, spans: tree.rows, missing, more }); return }
      print(formatTraceTree(tree) + answerNotes(missing, more))
    })
}
