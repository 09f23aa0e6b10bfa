/**
 * `mycel config set|get|del|list|watch|status`: replicated configuration
 * through a local agent's admin API (see docs/config.md).
 *
 * Keys are named `NAMESPACE/KEY` (the key may itself contain `/`). A VALUE
 * is parsed as JSON when it is valid JSON (`8080`, `true`, `{"a":1}`,
 * `"quoted"`) and taken as a plain string otherwise; `--string` forces a
 * string.
 */
import type { Command } from 'commander'
import { ApiClient } from './client.js'
import { fail, printJson, printTable } from './output.js'

const API_HELP = 'admin API of the local agent'
const DEFAULT_API = '127.0.0.1:8900'

interface WriteReply { namespace: string, key: string, writer: string | null, seq: number | null, acked: string[], deleted?: boolean }
interface Listing { namespace: string, entries: Record<string, unknown>, writers: Record<string, string | null> }

export function registerConfigCommands (program: Command): void {
  const config = program.command('config').description('replicated configuration: set, get, delete, list and watch keys')

  config.command('set')
    .description('write a value; returns once durable on this agent (and on N members with --wait-for)')
    .argument('<ns/key>', 'namespace and key, e.g. app/port')
    .argument('<value>', 'JSON value, or a plain string')
    .option('--api <host:port>', API_HELP, DEFAULT_API)
    .option('--string', 'store VALUE as a string even if it parses as JSON')
    .option('--wait-for <n>', 'also wait until N other members hold the write durably', parseCount)
    .option('--timeout <ms>', 'how long --wait-for waits (default: the agent\'s, 5 s on lan)', parseCount)
    .option('--json', 'machine-readable output')
    .action(async (ref: string, raw: string, opts: { api: string, string?: boolean, waitFor?: number, timeout?: number, json?: boolean }) => {
      const { ns, key } = splitRef(ref)
      const value = opts.string === true ? raw : parseValue(raw)
      await run(async () => {
        const r = await new ApiClient(opts.api).put<WriteReply>(keyPath(ns, key, opts), { value }, writeSignal(opts))
        if (opts.json === true) { printJson(r); return }
        process.stdout.write(`${ns}/${key} written (seq ${r.seq ?? '-'})${acksText(r, opts)}\n`)
      })
    })

  config.command('get')
    .description('print a value (as JSON)')
    .argument('<ns/key>', 'namespace and key')
    .option('--api <host:port>', API_HELP, DEFAULT_API)
    .option('--json', 'print value, writer and key as a JSON object')
    .action(async (ref: string, opts: { api: string, json?: boolean }) => {
      const { ns, key } = splitRef(ref)
      await run(async () => {
        const r = await new ApiClient(opts.api).get<{ value: unknown }>(keyPath(ns, key))
        if (opts.json === true) printJson(r)
        else process.stdout.write(formatValue(r.value) + '\n')
      })
    })

  config.command('del')
    .alias('delete')
    .description('delete a key')
    .argument('<ns/key>', 'namespace and key')
    .option('--api <host:port>', API_HELP, DEFAULT_API)
    .option('--wait-for <n>', 'also wait until N other members hold the delete durably', parseCount)
    .option('--timeout <ms>', 'how long --wait-for waits', parseCount)
    .option('--json', 'machine-readable output')
    .action(async (ref: string, opts: { api: string, waitFor?: number, timeout?: number, json?: boolean }) => {
      const { ns, key } = splitRef(ref)
      await run(async () => {
        const r = await new ApiClient(opts.api).del<WriteReply>(keyPath(ns, key, opts), writeSignal(opts))
        if (opts.json === true) { printJson(r); return }
        process.stdout.write(r.deleted === true ? `${ns}/${key} deleted (seq ${r.seq ?? '-'})${acksText(r, opts)}\n` : `${ns}/${key} did not exist\n`)
      })
    })

  config.command('list')
    .alias('ls')
    .description('list the keys of a namespace with their values and writers')
    .argument('<ns>', 'namespace')
    .option('--api <host:port>', API_HELP, DEFAULT_API)
    .option('--json', 'machine-readable output')
    .action(async (ns: string, opts: { api: string, json?: boolean }) => {
      await run(async () => {
        const r = await new ApiClient(opts.api).get<Listing>(`/v1/config/${encodeURIComponent(ns)}`)
        if (opts.json === true) { printJson(r); return }
        printTable(Object.entries(r.entries), [
          { header: 'KEY', value: ([k]) => k },
          { header: 'WRITER', value: ([k]) => r.writers[k] ?? '-' },
          { header: 'VALUE', value: ([, v]) => JSON.stringify(v) }
        ])
      })
    })

  config.command('watch')
    .description('print the namespace, then every change as it arrives (Ctrl-C to stop)')
    .argument('<ns>', 'namespace')
    .option('--api <host:port>', API_HELP, DEFAULT_API)
    .option('--json', 'one JSON object per line: {"event": "snapshot"|"set"|"delete", ...}')
    .action(async (ns: string, opts: { api: string, json?: boolean }) => {
      const stop = new AbortController()
      process.once('SIGINT', () => { stop.abort() })
      process.once('SIGTERM', () => { stop.abort() })
      await run(async () => {
        const res = await new ApiClient(opts.api).stream(`/v1/config/${encodeURIComponent(ns)}?watch=1`, stop.signal)
        try {
          for await (const ev of sseEvents(res, stop.signal)) {
            printEvent(ns, ev, opts.json === true)
            // The agent's last word on this stream (too slow, or stopping): say it and exit non-zero.
            if (ev.event === 'dropped') throw new Error(`the agent ended the watch: ${(ev.data as { message?: string }).message ?? 'no reason given'}`)
          }
        } catch (err) {
          if (stop.signal.aborted) return
          throw err
        }
        if (!stop.signal.aborted) throw new Error('the agent closed the watch stream')
      })
    })

  config.command('status')
    .description('config store status: namespaces, version vectors, log size')
    .option('--api <host:port>', API_HELP, DEFAULT_API)
    .action(async (opts: { api: string }) => {
      await run(async () => { printJson(await new ApiClient(opts.api).get('/v1/config')) })
    })
}

/** `ns/key` → parts; the key keeps any further slashes. */
export function splitRef (ref: string): { ns: string, key: string } {
  const i = ref.indexOf('/')
  if (i <= 0 || i === ref.length - 1) fail(`expected NAMESPACE/KEY, got ${JSON.stringify(ref)}`, 2)
  return { ns: ref.slice(0, i), key: ref.slice(i + 1) }
}

export function parseValue (raw: string): unknown {
  try {
    return JSON.parse(raw)
  } catch {
    return raw
  }
}

function parseCount (v: string): number {
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0) fail(`expected a non-negative integer, got ${JSON.stringify(v)}`, 2)
  return n
}

function keyPath (ns: string, key: string, opts: { waitFor?: number, timeout?: number } = {}): string {
  const q = new URLSearchParams()
  if (opts.waitFor !== undefined) q.set('waitFor', String(opts.waitFor))
  if (opts.timeout !== undefined) q.set('timeoutMs', String(opts.timeout))
  return `/v1/config/${encodeURIComponent(ns)}/${encodeURIComponent(key)}${q.size > 0 ? `?${q.toString()}` : ''}`
}

/** Room for the agent's own --wait-for deadline before the HTTP call gives up. */
function writeSignal (opts: { waitFor?: number, timeout?: number }): AbortSignal {
  return AbortSignal.timeout((opts.waitFor ?? 0) > 0 ? (opts.timeout ?? 60_000) + 30_000 : 30_000)
}

function acksText (r: WriteReply, opts: { waitFor?: number }): string {
  return (opts.waitFor ?? 0) > 0 ? `, acknowledged by ${r.acked.length} member${r.acked.length === 1 ? '' : 's'}` : ''
}

function formatValue (v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v, null, 2)
}

async function run (fn: () => Promise<void>): Promise<void> {
  try {
    await fn()
  } catch (err) {
    fail((err as Error).message)
  }
}

interface SseEvent { event: string, data: unknown }

async function * sseEvents (res: Response, signal: AbortSignal): AsyncGenerator<SseEvent> {
  if (res.body === null) return
  const decoder = new TextDecoder()
  let buf = ''
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    if (signal.aborted) return
    buf += decoder.decode(chunk, { stream: true })
    for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
      const block = buf.slice(0, end)
      buf = buf.slice(end + 2)
      let event = 'message'
      const data: string[] = []
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) event = line.slice(6).trim()
        else if (line.startsWith('data:')) data.push(line.slice(5).trimStart())
      }
      if (data.length > 0) yield { event, data: JSON.parse(data.join('\n')) }
    }
  }
}

function printEvent (ns: string, ev: SseEvent, json: boolean): void {
  if (json) { process.stdout.write(JSON.stringify({ event: ev.event, ...(ev.data as object) }) + '\n'); return }
  const d = ev.data as { key?: string, value?: unknown, writer?: string | null, entries?: Record<string, unknown> }
  if (ev.event === 'snapshot') {
    for (const [k, v] of Object.entries(d.entries ?? {})) process.stdout.write(`${ns}/${k} = ${JSON.stringify(v)}\n`)
    process.stdout.write(`-- watching ${ns} (${Object.keys(d.entries ?? {}).length} keys) --\n`)
  } else if (ev.event === 'set') {
    process.stdout.write(`${ns}/${d.key ?? ''} = ${JSON.stringify(d.value)}  (by ${d.writer ?? '?'})\n`)
  } else if (ev.event === 'delete') {
    process.stdout.write(`${ns}/${d.key ?? ''} deleted\n`)
  }
}
