/**
 * `mycel logs`: the region's logs (or chosen nodes'), merged by time, from
 * each node's log store (GET /v1/logs, docs/logs.md). Human lines on stdout
 * (time, short node id, component, level, message, other fields), or the
 * agent's NDJSON with --json; nodes that did not answer, and paging hints,
 * on stderr. `-f` follows until Ctrl-C or SIGTERM.
 */
import { InvalidArgumentError, Option, type Command } from 'commander'
import { apiClient, type ApiFlags } from './client.js'
import { apiOption, parseRegion, tokenFileOption } from './options.js'
import { print, shortId } from './output.js'
import { compilePattern, LEVELS, parseTimeArg, TIME_ARG_HELP } from '../../protocols/logs/index.js'

interface LogsFlags extends ApiFlags {
  region?: string
  node?: string[]
  component?: string
  since?: string
  until?: string
  level?: string
  grep?: string
  trace?: string
  limit?: number
  follow?: boolean
  json?: boolean
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v]

function timeArg (v: string): string {
  if (parseTimeArg(v, Date.now()) === undefined) throw new InvalidArgumentError(`expected ${TIME_ARG_HELP}`)
  return v
}

function grepArg (v: string): string {
  try { compilePattern(v) } catch (err) { throw new InvalidArgumentError((err as Error).message.replace(/^invalid --grep pattern "[^"]*": /, 'invalid RE2 pattern: ')) }
  return v
}

function limitArg (v: string): number {
  const n = Number(v)
  if (v.trim() === '' || !Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer')
  return n
}

export function registerLogsCommand (program: Command): void {
  program.command('logs')
    .description('show the logs of the region\'s nodes (the agents\' and their components\'), merged by time')
    .option('-r, --region <name>', 'the nodes of this region (default: the local agent\'s)', parseRegion)
    .option('-n, --node <peer>', 'this node (peer id or a unique part of one), repeatable', collect)
    .option('-c, --component <name>', 'lines of this component (agent for the daemon itself), or agent lines about it')
    .option('--since <time>', `from ${TIME_ARG_HELP} (default 1h)`, timeArg)
    .option('--until <time>', `before ${TIME_ARG_HELP} (paging: the until the previous page printed)`, timeArg)
    .addOption(new Option('--level <level>', 'this level and above').choices(LEVELS))
    .option('--grep <re>', 'lines matching this RE2 regular expression (no backreferences or lookaround)', grepArg)
    .option('--trace <id>', 'lines of this trace id (spans and the lines that carry it)')
    .option('--limit <n>', 'the newest N lines of the range (default 1000; the agent caps it)', limitArg)
    .option('-f, --follow', 'after the range, keep printing new lines until Ctrl-C')
    .option('--json', 'one JSON object per line, as the agent sends them (NDJSON, control records included)')
    .addOption(apiOption()).addOption(tokenFileOption())
    .action(async (opts: LogsFlags) => { await runLogs(opts) })
}

/** The query string of GET /v1/logs for these flags. */
export function logsPath (opts: LogsFlags): string {
  const p = new URLSearchParams()
  if (opts.region !== undefined) p.set('region', opts.region)
  for (const n of opts.node ?? []) p.append('node', n)
  const set = (k: string, v: string | number | undefined): void => { if (v !== undefined) p.set(k, String(v)) }
  set('component', opts.component)
  set('since', opts.since)
  set('until', opts.until)
  set('level', opts.level)
  set('grep', opts.grep)
  set('trace', opts.trace)
  set('limit', opts.limit)
  if (opts.follow === true) p.set('follow', '1')
  return `/v1/logs?${p.toString()}`
}

const FIXED = new Set(['time', 'node', 'component', 'level', 'msg', 'module'])

/** One line for people: time, node, component[/module], level, message, then the other fields as key=value. */
export function humanLine (rec: Record<string, unknown>): string {
  const comp = typeof rec.module === 'string' && rec.module !== rec.component ? `${String(rec.component)}/${rec.module}` : String(rec.component)
  const fields = Object.entries(rec).filter(([k]) => !FIXED.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`)
  const text = [String(rec.time), shortId(String(rec.node)), comp, String(rec.level).toUpperCase().padEnd(5), String(rec.msg), ...fields].join('  ')
  return text.length > 2000 ? `${text.slice(0, 2000)}…` : text
}

async function runLogs (opts: LogsFlags): Promise<void> {
  const stop = new AbortController()
  const end = (): void => { stop.abort() }
  process.once('SIGINT', end)
  process.once('SIGTERM', end)
  const res = await apiClient(opts).stream(logsPath(opts), opts.follow === true ? stop.signal : AbortSignal.any([stop.signal, AbortSignal.timeout(120_000)]))
  const warn = (text: string): void => { process.stderr.write(`mycel: ${text}\n`) }
  const handle = (text: string): void => {
    if (text === '') return
    let rec: Record<string, unknown>
    try { rec = JSON.parse(text) as Record<string, unknown> } catch { return }
    const keys = Object.keys(rec)
    const control = keys.length === 1 && ['end', 'missing', 'gap'].includes(keys[0])
    if (opts.json === true) print(text + '\n')
    else if (!control) print(humanLine(rec) + '\n')
    if (!control) return
    if ('end' in rec) {
      const e = rec.end as { missing: Array<{ node: string, error: string }>, more: boolean, until?: string }
      for (const m of e.missing) warn(`no answer from ${m.node}: ${m.error}`)
      if (e.more && e.until !== undefined && opts.follow !== true) warn(`older lines were left out by the limit; the next page: --until ${e.until}`)
    } else if ('missing' in rec) {
      const m = rec.missing as { node: string, error: string }
      warn(`no more lines from ${m.node}: ${m.error}`)
    } else {
      const g = rec.gap as { node: string, dropped: number }
      warn(`${g.dropped} lines of ${g.node} were lost (this reader was too slow)`)
    }
  }
  const decoder = new TextDecoder()
  let rest = ''
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      rest += decoder.decode(chunk, { stream: true })
      const lines = rest.split('\n')
      rest = lines.pop() ?? ''
      for (const l of lines) handle(l)
    }
    handle(rest)
  } catch (err) {
    if (!stop.signal.aborted) throw err
  } finally {
    process.off('SIGINT', end)
    process.off('SIGTERM', end)
  }
}
