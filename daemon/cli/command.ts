/**
 * `mycel command run NAME [ARGS…]`: a signed command fanned out to the
 * targets the filters name (every member when none), each target's answer
 * in a table, then who did not answer (docs/commands.md). `--json` prints
 * the whole reply, outputs included. Exit 0 when every expected target
 * answered ok, 1 otherwise (a refusal, a failure, a missing answer), 2 on
 * usage errors. `mycel command audit` lists the audit records.
 */
import { InvalidArgumentError, Option, type Command } from 'commander'
import { apiClient, type ApiFlags } from './client.js'
import { apiOption, parseRegion, tokenFileOption } from './options.js'
import { print, printJson, printTable, shortId } from './output.js'
import { parseDuration } from '../../protocols/artifacts/manifest.js'
import { ROLE_NAMES } from '../../managers/role-names.js'
import type { CommandAudit } from '../../protocols/command/audit.js'

export interface CommandResult { node: string, ok: boolean, exitCode: number | null, output: string, durationMs: number, error?: string }
export interface CommandReply {
  id: string
  name: string
  trace?: string
  durationMs: number
  expected: string[]
  missing: string[]
  results: CommandResult[]
}

/** A command that ran but not everywhere ok: exit 1 after the table. */
export class CommandIncompleteError extends Error {
  static name = 'CommandIncompleteError'
  override name = 'CommandIncompleteError'
}

/** Extra time the HTTP call gets beyond the command's own timeout, ms. */
const HTTP_MARGIN_MS = 15_000

function parseTimeout (v: string): number {
  const ms = parseDuration(v)
  if (ms === undefined || ms < 1) throw new InvalidArgumentError('expected a duration like 5s, 500ms, 2m')
  return ms
}

const collect = <T>(parse: (v: string) => T) => (v: string, prev: T[] = []): T[] => [...prev, parse(v)]

const firstLine = (s: string): string => {
  const line = s.split('\n', 1)[0] ?? ''
  return line.length > 100 ? `${line.slice(0, 99)}…` : line
}

/** The table, then the summary line; returns whether every expected target answered ok. */
export function printCommandReply (r: CommandReply): boolean {
  const rows = [...r.results].sort((a, b) => a.node.localeCompare(b.node))
  if (rows.length > 0) {
    printTable(rows, [
      { header: 'NODE', value: x => shortId(x.node) },
      { header: 'OK', value: x => x.ok ? 'ok' : 'FAIL' },
      { header: 'EXIT', value: x => x.exitCode === null ? '-' : String(x.exitCode) },
      { header: 'DURATION', value: x => `${Math.round(x.durationMs)}ms` },
      { header: 'OUTPUT', value: x => x.ok || x.error === undefined ? firstLine(x.output) : firstLine(x.error) }
    ])
  }
  const missing = r.missing.length > 0 ? `; no answer from: ${r.missing.join(', ')}` : ''
  print(`${r.results.length} of ${r.expected.length} answered${missing}\n`)
  return r.missing.length === 0 && r.results.every(x => x.ok)
}

export function registerCommandCommands (program: Command): void {
  const command = program.command('command').description('signed fan-out commands: built-ins and the argv templates declared in critical config key "commands"')

  command.command('run')
    .description('run NAME on the targets (every member unless filtered) and print each answer; exit 1 unless all answered ok')
    .argument('<name>', 'a built-in (ping, component-restart, config-reload, gc, collect) or a declared command')
    .argument('[args...]', 'the command\'s arguments, in the order of its parameters')
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--region <region>', 'only nodes of this region (repeatable)', collect(parseRegion))
    .option('--node <peer>', 'only this node (repeatable)', collect((v: string) => v))
    .addOption(new Option('--role <role>', 'only the nodes holding this management role now').choices(ROLE_NAMES))
    .option('--timeout <duration>', 'how long to wait for answers (default: the agent profile\'s, 10s on lan)', parseTimeout)
    .option('--json', 'the full reply, outputs included')
    .action(async (name: string, args: string[], opts: ApiFlags & { region?: string[], node?: string[], role?: string, timeout?: number, json?: boolean }) => {
      const body = {
        name,
        args,
        ...(opts.region !== undefined ? { regions: opts.region } : {}),
        ...(opts.node !== undefined ? { nodes: opts.node } : {}),
        ...(opts.role !== undefined ? { role: opts.role } : {}),
        ...(opts.timeout !== undefined ? { timeoutMs: opts.timeout } : {})
      }
      const r = await apiClient(opts).post<CommandReply>('/v1/commands', body, AbortSignal.timeout((opts.timeout ?? 120_000) + HTTP_MARGIN_MS))
      let allOk: boolean
      if (opts.json === true) {
        printJson(r)
        allOk = r.missing.length === 0 && r.results.every(x => x.ok)
      } else {
        allOk = printCommandReply(r)
      }
      if (!allOk) {
        const failed = r.results.filter(x => !x.ok).length
        throw new CommandIncompleteError(`${name}: ${failed} failed or refused, ${r.missing.length} did not answer (of ${r.expected.length})`)
      }
    })

  command.command('audit')
    .description('the audit records of commands (mycel.audit), newest first')
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--limit <n>', 'the newest N records (default 50)', (v: string) => {
      const n = Number(v)
      if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer')
      return n
    })
    .option('--json', 'machine-readable output')
    .action(async (opts: ApiFlags & { limit?: number, json?: boolean }) => {
      const r = await apiClient(opts).get<{ records: CommandAudit[], total: number }>(`/v1/commands/audit${opts.limit !== undefined ? `?limit=${opts.limit}` : ''}`)
      if (opts.json === true) { printJson(r); return }
      if (r.records.length === 0) { print('no commands recorded\n'); return }
      printTable(r.records, [
        { header: 'AT', value: x => new Date(x.issuedAt).toISOString() },
        { header: 'ID', value: x => x.id.slice(0, 12) },
        { header: 'FROM', value: x => shortId(x.from) },
        { header: 'COMMAND', value: x => [x.name, ...x.args].join(' ') },
        { header: 'ANSWERED', value: x => `${x.answered}/${x.expected}` },
        { header: 'OK', value: x => String(x.okCount) },
        { header: 'MISSING', value: x => x.missing.length === 0 ? '-' : x.missing.map(shortId).join(',') }
      ])
    })
}
