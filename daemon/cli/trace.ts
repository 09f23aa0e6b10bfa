/**
 * `mycel trace TRACE_ID [--region R] [--json]`: the hops of one traced
 * operation across the region (docs/tracing.md). The span lines come from
 * every node's log store through the agent's log query,
 * `GET /v1/logs?trace=ID&region=R` (NDJSON, one log line per line, with
 * the `node` that recorded it); trace-tree.ts makes the tree.
 */
import type { Command } from 'commander'
import { apiClient, type ApiFlags } from './client.js'
import { apiOption, tokenFileOption, parseRegion } from './options.js'
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

/** The spans of `traceId` in an NDJSON answer; lines that are not JSON or not its spans are skipped. */
export function spansOfNdjson (text: string, traceId: string): TraceSpan[] {
  const out: TraceSpan[] = []
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '') continue
    let v: unknown
    try { v = JSON.parse(line) } catch { continue }
    const s = spanOfLine(v, traceId)
    if (s !== undefined) out.push(s)
  }
  return out
}

/** Ask the agent for the trace's span lines across `region` (its own when absent). */
export async function collectTrace (flags: ApiFlags & { region?: string, since?: string }, traceId: string, signal?: AbortSignal): Promise<TraceTree> {
  const q = new URLSearchParams({ trace: traceId })
  if (flags.region !== undefined) q.set('region', flags.region)
  if (flags.since !== undefined) q.set('since', flags.since)
  const res = await apiClient(flags).stream(`/v1/logs?${q.toString()}`, signal)
  return buildTraceTree(traceId, spansOfNdjson(await res.text(), traceId))
}

export function registerTraceCommand (program: Command): void {
  program.command('trace')
    .description('show the hops of a traced operation (a config write, a rollout, a command) across a region, with timings')
    .argument('<trace-id>', 'the trace id (32 hex digits; mycel config set --json prints it as "trace")')
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--region <name>', 'the region whose nodes are asked (default: this agent\'s)', parseRegion)
    .option('--since <duration>', 'how far back the log stores are searched (as mycel logs --since; default: the log query\'s)')
    .option('--json', 'machine-readable output: {trace, totalMs, nodes, spans: [{node, span, parent, name, hop, startMs, offsetMs, durationMs, depth, ok, attrs}]}')
    .action(async (id: string, opts: ApiFlags & { region?: string, since?: string, json?: boolean }) => {
      const traceId = parseTraceId(id)
      const tree = await collectTrace(opts, traceId)
      if (opts.json === true) { printJson({ trace: tree.trace, totalMs: tree.totalMs, nodes: tree.nodes, spans: tree.rows }); return }
      print(formatTraceTree(tree))
    })
}
