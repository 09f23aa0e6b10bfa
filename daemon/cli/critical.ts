/**
 * `mycel critical propose|get|list|status`: critical configuration through
 * the local agent's admin API (docs/bft.md). `propose` signs the change with
 * the agent's own key (the agent must be an admin) and waits for the BFT
 * commit; it exits 1 with a clear message when no quorum commits it in time.
 */
import type { Command } from 'commander'
import { ApiClient } from './client.js'
import { ago, fail, printJson, printTable, shortId } from './output.js'

const API_HELP = 'admin API of the local agent'
const DEFAULT_API = '127.0.0.1:8900'

interface Cert { height: number, round: number, blockHash: string, precommits: Array<{ validator: string }>, time: string }
interface KeyReply { key: string, value: string, height: number, certificate: Cert | null }
interface ProposeReply { key: string, value: string | null, height: number, latencyMs: number, certificate: Cert }
interface ListReply { height: number, network: string, genesis: string, entries: Array<{ key: string, value: string, height: number }> }
interface StatusReply {
  networkId: string, genesis: string, height: number, committedHeight: number, round: number, step: string, active: boolean,
  validator: boolean, admin: boolean, validators: string[], validatorsSeen: string[], pending: number,
  lastCommit: { height: number, round: number, hash: string, time: number, entries: number } | null, evidence: unknown[]
  /** Why consensus halted on an internal error; null (or absent, older agents) while it runs. */
  fault?: { name: string, error: string, height: number, round: number } | null
}

async function run (fn: () => Promise<void>): Promise<void> {
  try { await fn() } catch (err) { fail((err as Error).message) }
}

export function registerCriticalCommands (program: Command): void {
  const critical = program.command('critical').description('critical configuration committed through BFT among the validators')

  critical.command('propose')
    .description('propose KEY=VALUE (signed by this agent, which must be an admin) and wait for the commit')
    .argument('<key>', 'critical key, e.g. acl/billing or bft/validators')
    .argument('[value]', 'new value (a string; JSON for bft/validators and bft/admins)')
    .option('--delete', 'delete KEY instead of setting it')
    .option('--timeout <ms>', 'how long to wait for the commit (default: the agent\'s)', (v: string) => Number(v))
    .option('--api <host:port>', API_HELP, DEFAULT_API)
    .option('--json', 'machine-readable output')
    .action(async (key: string, value: string | undefined, opts: { delete?: boolean, timeout?: number, api: string, json?: boolean }) => {
      if (opts.delete !== true && value === undefined) fail('a VALUE is required (or --delete)', 2)
      if (opts.delete === true && value !== undefined) fail('--delete takes no VALUE', 2)
      if (opts.timeout !== undefined && (!Number.isInteger(opts.timeout) || opts.timeout < 100)) fail('--timeout expects milliseconds ≥ 100', 2)
      await run(async () => {
        const signal = AbortSignal.timeout((opts.timeout ?? 60_000) + 30_000)
        const r = await new ApiClient(opts.api).post<ProposeReply>('/v1/critical', { key, value: opts.delete === true ? null : value, timeoutMs: opts.timeout }, signal)
        if (opts.json === true) { printJson(r); return }
        process.stdout.write(`${key} committed at height ${r.height} in ${r.latencyMs} ms (round ${r.certificate.round}, ${r.certificate.precommits.length} precommits)\n`)
      })
    })

  critical.command('get')
    .description('print a committed value; --json adds its height and certificate')
    .argument('<key>', 'critical key')
    .option('--api <host:port>', API_HELP, DEFAULT_API)
    .option('--json', 'value, height and certificate as JSON')
    .action(async (key: string, opts: { api: string, json?: boolean }) => {
      await run(async () => {
        const r = await new ApiClient(opts.api).get<KeyReply>(`/v1/critical/${encodeURIComponent(key)}`)
        if (opts.json === true) printJson(r)
        else process.stdout.write(r.value + '\n')
      })
    })

  critical.command('list')
    .alias('ls')
    .description('list committed critical keys')
    .option('--api <host:port>', API_HELP, DEFAULT_API)
    .option('--json', 'machine-readable output')
    .action(async (opts: { api: string, json?: boolean }) => {
      await run(async () => {
        const r = await new ApiClient(opts.api).get<ListReply>('/v1/critical')
        if (opts.json === true) { printJson(r); return }
        printTable(r.entries, [
          { header: 'KEY', value: e => e.key },
          { header: 'HEIGHT', value: e => e.height === 0 ? 'genesis' : String(e.height) },
          { header: 'VALUE', value: e => e.value.length > 80 ? e.value.slice(0, 77) + '...' : e.value }
        ])
      })
    })

  critical.command('status')
    .description('consensus status: height, round, validators seen, last commit')
    .option('--api <host:port>', API_HELP, DEFAULT_API)
    .option('--json', 'machine-readable output')
    .action(async (opts: { api: string, json?: boolean }) => {
      await run(async () => {
        const s = await new ApiClient(opts.api).get<StatusReply>('/v1/bft/status')
        if (opts.json === true) { printJson(s); return }
        const seen = new Set(s.validatorsSeen)
        const lc = s.lastCommit
        process.stdout.write(
          `network     ${s.networkId} (genesis ${s.genesis.slice(0, 16)})\n` +
          `height      ${s.committedHeight} committed; open height ${s.height}, round ${s.round}, step ${s.step}${s.active ? '' : ' (idle)'}\n` +
          `this agent  ${s.validator ? 'validator' : 'not a validator'}${s.admin ? ', admin' : ''}; ${s.pending} pending entr${s.pending === 1 ? 'y' : 'ies'}\n` +
          `last commit ${lc === null ? 'none' : `height ${lc.height}, round ${lc.round}, ${lc.entries} entr${lc.entries === 1 ? 'y' : 'ies'}, ${ago(lc.time)} ago, ${lc.hash.slice(0, 16)}`}\n` +
          `evidence    ${s.evidence.length} equivocation(s)\n` +
          (s.fault === null || s.fault === undefined ? '' : `HALTED      at height ${s.fault.height}, round ${s.fault.round}: ${s.fault.name}: ${s.fault.error}; this agent no longer votes (restart it once the cause is fixed)\n`) +
          `validators  ${s.validators.length}, ${s.validators.filter(v => seen.has(v)).length} heard from recently\n`)
        printTable(s.validators, [
          { header: '  VALIDATOR', value: v => `  ${shortId(v)}` },
          { header: 'SEEN', value: v => seen.has(v) ? 'yes' : 'no' }
        ])
      })
    })
}
