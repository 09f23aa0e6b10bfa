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
import { type ApiClient, apiClient, type ApiFlags } from './client.js'
import { apiOption, tokenFileOption, parseCount } from './options.js'
import { print, printJson, printTable } from './output.js'
import { UsageError } from '../errors.js'
import { acksText, traceText, waitQuery, writeSignal, type WaitOpts, type WriteReply } from './durable-write.js'

interface Listing { namespace: string, entries: Record<string, unknown>, writers: Record<string, string | null> }
interface StoreStatus {
  peerId: string
  namespaces: string[]
  versionVector: Record<string, Record<string, number>>
  durableVersionVector: Record<string, Record<string, number>>
  held: number
  logBytes: number
  open: { envelopes: number, replayed: number, fromSnapshot: boolean, truncatedBytes: number, ms: number }
}

export function registerConfigCommands (program: Command): void {
  const config = program.command('config').description('replicated configuration: set, get, delete, list and watch keys')

  config.command('set')
    .description('write a value; returns once durable on this agent (and on N members with --wait-for)')
    .argument('<ns/key>', 'namespace and key, e.g. app/port')
    .argument('<value>', 'JSON value, or a plain string')
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--string', 'store VALUE as a string even if it parses as JSON')
    .option('--wait-for <n>', 'also wait until N other members hold the write durably', parseCount)
    .option('--timeout <ms>', 'how long --wait-for waits (default: the agent\'s, 5 s on lan)', parseCount)
    .option('--trace', 'also print the write\'s trace id (mycel trace ID shows its hops; --json always has it as "trace")')
    .option('--json', 'machine-readable output')
    .action(async (ref: string, raw: string, opts: ApiFlags & { string?: boolean, waitFor?: number, timeout?: number, trace?: boolean, json?: boolean }) => {
      const { ns, key } = splitRef(ref)
      const value = opts.string === true ? raw : parseValue(raw)
      const r = await apiClient(opts).put<WriteReply>(keyPath(ns, key, opts), { value }, writeSignal(opts))
      if (opts.json === true) { printJson(r); return }
      print(`${ns}/${key} written (seq ${r.seq ?? '-'})${acksText(r, opts)}\n${traceText(r, opts)}`)
    })

  config.command('get')
    .description('print a value as JSON (a string prints with its quotes: "123" is not 123)')
    .argument('<ns/key>', 'namespace and key')
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--raw', 'print a string value without JSON quotes (other values still as JSON)')
    .option('--json', 'print value, writer and key as a JSON object')
    .action(async (ref: string, opts: ApiFlags & { raw?: boolean, json?: boolean }) => {
      const { ns, key } = splitRef(ref)
      const r = await apiClient(opts).get<{ value: unknown }>(keyPath(ns, key))
      if (opts.json === true) printJson(r)
      else print(formatValue(r.value, opts.raw === true) + '\n')
    })

  config.command('del')
    .alias('delete')
    .description('delete a key')
    .argument('<ns/key>', 'namespace and key')
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--wait-for <n>', 'also wait until N other members hold the delete durably', parseCount)
    .option('--timeout <ms>', 'how long --wait-for waits', parseCount)
    .option('--trace', 'also print the delete\'s trace id')
    .option('--json', 'machine-readable output')
    .action(async (ref: string, opts: ApiFlags & { waitFor?: number, timeout?: number, trace?: boolean, json?: boolean }) => {
      const { ns, key } = splitRef(ref)
      const r = await apiClient(opts).del<WriteReply>(keyPath(ns, key, opts), writeSignal(opts))
      if (opts.json === true) { printJson(r); return }
      print((r.deleted === true ? `${ns}/${key} deleted (seq ${r.seq ?? '-'})${acksText(r, opts)}\n` : `${ns}/${key} did not exist\n`) + traceText(r, opts))
    })

  config.command('list')
    .alias('ls')
    .description('list the keys of a namespace with their values and writers')
    .argument('<ns>', 'namespace')
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--json', 'machine-readable output')
    .action(async (ns: string, opts: ApiFlags & { json?: boolean }) => {
      const r = await apiClient(opts).get<Listing>(`/v1/config/${encodeURIComponent(ns)}`)
      if (opts.json === true) { printJson(r); return }
      printTable(Object.entries(r.entries), [
        { header: 'KEY', value: ([k]) => k },
        { header: 'WRITER', value: ([k]) => r.writers[k] ?? '-' },
        { header: 'VALUE', value: ([, v]) => JSON.stringify(v) }
      ])
    })

  config.command('watch')
    .description('print the namespace, then every change as it arrives (Ctrl-C to stop); exits 1 if the agent ends the stream')
    .argument('<ns>', 'namespace')
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--json', 'one JSON object per line: {"event": "snapshot"|"set"|"delete"|..., ...}')
    .action(async (ns: string, opts: ApiFlags & { json?: boolean }) => {
      const stop = new AbortController()
      process.once('SIGINT', () => { stop.abort() })
      process.once('SIGTERM', () => { stop.abort() })
      await watchNamespace(apiClient(opts), ns, opts.json === true, stop.signal)
    })

  config.command('status')
    .description('config store status: namespaces, writers, held-back envelopes, log size')
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--json', 'machine-readable output')
    .action(async (opts: ApiFlags & { json?: boolean }) => {
      const s = await apiClient(opts).get<StoreStatus>('/v1/config')
      if (opts.json === true) { printJson(s); return }
      const rows = Object.entries(s.versionVector).flatMap(([ns, writers]) =>
        Object.entries(writers).map(([writer, seq]) => ({ ns, writer, seq, durable: s.durableVersionVector[ns]?.[writer] ?? 0 })))
      print(`peer id     ${s.peerId}\n` +
        `namespaces  ${s.namespaces.length > 0 ? s.namespaces.join(', ') : 'none'}\n` +
        `held back   ${s.held} envelope${s.held === 1 ? '' : 's'} waiting for an earlier one\n` +
        `log         ${formatBytes(s.logBytes)}; opened with ${s.open.envelopes} envelopes in ${s.open.ms} ms${s.open.fromSnapshot ? ' (from a snapshot)' : ''}` +
        `${s.open.truncatedBytes > 0 ? `, ${s.open.truncatedBytes} torn bytes cut` : ''}\n\n`)
      printTable(rows, [
        { header: 'NAMESPACE', value: r => r.ns },
        { header: 'WRITER', value: r => r.writer },
        { header: 'SEQ', value: r => String(r.seq) },
        { header: 'DURABLE', value: r => String(r.durable) }
      ])
    })
}

/**
 * `config watch`: print the namespace, then every change as it arrives,
 * until `signal` aborts (Ctrl-C). The agent ending the stream is an error
 * that says why (exit 1): later changes would go unseen.
 */
export async function watchNamespace (client: ApiClient, ns: string, json: boolean, signal: AbortSignal, out: (text: string) => void = print): Promise<void> {
  const res = await client.stream(`/v1/config/${encodeURIComponent(ns)}?watch=1`, signal)
  /** The last event the agent sent that was not a change (e.g. why it is dropping this watcher). */
  let notice: SseEvent | undefined
  let cause = ''
  let dropped: string | undefined
  try {
    for await (const ev of sseEvents(res, signal)) {
      if (!['snapshot', 'set', 'delete'].includes(ev.event)) notice = ev
      printEvent(ns, ev, json, out)
      // The agent's last word on this stream (too slow, or stopping): say it and exit non-zero.
      if (ev.event === 'dropped') { dropped = (ev.data as { message?: string }).message ?? 'no reason given'; break }
    }
  } catch (err) {
    if (signal.aborted) return
    cause = describeCause(err)
  }
  if (signal.aborted) return
  if (dropped !== undefined) throw new Error(`the agent at ${client.base} ended the watch of ${ns}: ${dropped}`)
  const said = notice !== undefined ? `; its last word: ${notice.event} ${JSON.stringify(notice.data)}` : ''
  throw new Error(`the agent at ${client.base} ended the watch of ${ns}${cause !== '' ? ` (${cause})` : ''}: it stopped, restarted or dropped this watcher${said}; later changes are not shown`)
}

/** `ns/key` → parts; the key keeps any further slashes. */
export function splitRef (ref: string): { ns: string, key: string } {
  const i = ref.indexOf('/')
  if (i <= 0 || i === ref.length - 1) throw new UsageError(`expected NAMESPACE/KEY, got ${JSON.stringify(ref)}`)
  return { ns: ref.slice(0, i), key: ref.slice(i + 1) }
}

export function parseValue (raw: string): unknown {
  try {
    return JSON.parse(raw)
  } catch {
    return raw
  }
}

function keyPath (ns: string, key: string, opts: WaitOpts = {}): string {
  return `/v1/config/${encodeURIComponent(ns)}/${encodeURIComponent(key)}${waitQuery(opts)}`
}

/** JSON, so a string and a number never look alike; `raw` prints a string as is (like `jq -r`). */
export function formatValue (v: unknown, raw = false): string {
  return raw && typeof v === 'string' ? v : JSON.stringify(v, null, 2)
}

function formatBytes (n: number): string {
  if (n < 1024) return `${n} B`
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`
  return `${(n / 1024 / 1024).toFixed(1)} MiB`
}

/** Why the stream ended, in plain words: fetch says "terminated" with the socket error as its cause. */
function describeCause (err: unknown): string {
  const e = err as Error & { cause?: { code?: string, message?: string } }
  if (e.message === 'terminated' || e.cause?.code === 'UND_ERR_SOCKET') return 'connection closed'
  return [e.message, e.cause?.code ?? e.cause?.message].filter(x => x !== undefined && x !== '').join(': ')
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

function printEvent (ns: string, ev: SseEvent, json: boolean, print: (text: string) => void): void {
  if (json) { print(JSON.stringify({ event: ev.event, ...(ev.data as object) }) + '\n'); return }
  const d = ev.data as { key?: string, value?: unknown, writer?: string | null, entries?: Record<string, unknown> }
  if (ev.event === 'snapshot') {
    for (const [k, v] of Object.entries(d.entries ?? {})) print(`${ns}/${k} = ${JSON.stringify(v)}\n`)
    print(`-- watching ${ns} (${Object.keys(d.entries ?? {}).length} keys) --\n`)
  } else if (ev.event === 'set') {
    print(`${ns}/${d.key ?? ''} = ${JSON.stringify(d.value)}  (by ${d.writer ?? '?'})\n`)
  } else if (ev.event === 'delete') {
    print(`${ns}/${d.key ?? ''} deleted\n`)
  } else {
    print(`-- ${ev.event}: ${JSON.stringify(ev.data)} --\n`)
  }
}
