/**
 * `mycel critical propose|get|list|status`: critical configuration through
 * the local agent's admin API (docs/bft.md). `propose` signs the change with
 * the agent's own key (the agent must be an admin) and waits for the BFT
 * commit; it exits 1 with a clear message when no quorum commits it in time.
 */
import { InvalidArgumentError, type Command } from 'commander'
import { apiClient, type ApiFlags } from './client.js'
import { apiOption, tokenFileOption } from './options.js'
import { ago, print, printJson, printTable, shortId } from './output.js'
import { UsageError } from '../errors.js'

interface Cert { height: number, round: number, blockHash: string, precommits: Array<{ validator: string }>, time: string }
interface KeyReply { key: string, value: string, height: number, certificate: Cert | null }
interface ProposeReply { key: string, value: string | null, height: number, latencyMs: number, certificate: Cert }
interface ListReply { height: number, network: string, genesis: string, entries: Array<{ key: string, value: string, height: number }> }
interface ValidatorState { peerId: string, self: boolean, member: string, connected: boolean, lastMessageAt: string | null }
interface StatusReply {
  networkId: string, genesis: string, height: number, committedHeight: number, round: number, step: string, active: boolean,
  validator: boolean, admin: boolean, validators: string[], pending: number, quorum: number,
  validatorsAlive: number, validatorsConnected: number, validatorStates: ValidatorState[],
  lastCommit: { height: number, round: number, hash: string, time: number, entries: number } | null, evidence: unknown[]
  /** Why consensus halted on an internal error; null (or absent, older agents) while it runs. */
  fault?: { name: string, error: string, height: number, round: number } | null
}

function parseTimeout (v: string): number {
  const n = Number(v)
  if (!Number.isInteger(n) || n < 100) throw new InvalidArgumentError('expected milliseconds ≥ 100')
  return n
}

export function registerCriticalCommands (program: Command): void {
  const critical = program.command('critical').description('critical configuration committed through BFT among the validators')

  critical.command('propose')
    .description('propose KEY=VALUE (signed by this agent, which must be an admin) and wait for the commit')
    .argument('<key>', 'critical key, e.g. acl/billing or bft/validators')
    .argument('[value]', 'new value (a string; JSON for bft/validators and bft/admins)')
    .option('--delete', 'delete KEY instead of setting it')
    .option('--timeout <ms>', 'how long to wait for the commit (default: the agent\'s)', parseTimeout)
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--json', 'machine-readable output')
    .action(async (key: string, value: string | undefined, opts: ApiFlags & { delete?: boolean, timeout?: number, json?: boolean }) => {
      if (opts.delete !== true && value === undefined) throw new UsageError('a VALUE is required (or --delete)')
      if (opts.delete === true && value !== undefined) throw new UsageError('--delete takes no VALUE')
      const signal = AbortSignal.timeout((opts.timeout ?? 60_000) + 30_000)
      const r = await apiClient(opts).post<ProposeReply>('/v1/critical', { key, value: opts.delete === true ? null : value, timeoutMs: opts.timeout }, signal)
      if (opts.json === true) { printJson(r); return }
      print(`${key} committed at height ${r.height} in ${r.latencyMs} ms (round ${r.certificate.round}, ${r.certificate.precommits.length} precommits)\n`)
    })

  critical.command('get')
    .description('print a committed value; --json adds its height and certificate')
    .argument('<key>', 'critical key')
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--json', 'value, height and certificate as JSON')
    .action(async (key: string, opts: ApiFlags & { json?: boolean }) => {
      const r = await apiClient(opts).get<KeyReply>(`/v1/critical/${encodeURIComponent(key)}`)
      if (opts.json === true) printJson(r)
      else print(r.value + '\n')
    })

  critical.command('list')
    .alias('ls')
    .description('list committed critical keys')
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--json', 'machine-readable output')
    .action(async (opts: ApiFlags & { json?: boolean }) => {
      const r = await apiClient(opts).get<ListReply>('/v1/critical')
      if (opts.json === true) { printJson(r); return }
      printTable(r.entries, [
        { header: 'KEY', value: e => e.key },
        { header: 'HEIGHT', value: e => e.height === 0 ? 'genesis' : String(e.height) },
        { header: 'VALUE', value: e => e.value.length > 80 ? e.value.slice(0, 77) + '...' : e.value }
      ])
    })

  critical.command('status')
    .description('consensus status: height, round, last commit; per validator: membership state, connection, last vote seen')
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--json', 'machine-readable output')
    .action(async (opts: ApiFlags & { json?: boolean }) => {
      const s = await apiClient(opts).get<StatusReply>('/v1/bft/status')
      if (opts.json === true) { printJson(s); return }
      const lc = s.lastCommit
      print(
        `network     ${s.networkId} (genesis ${s.genesis.slice(0, 16)})\n` +
        `height      ${s.committedHeight} committed; open height ${s.height}, round ${s.round}, step ${s.step}${s.active ? '' : ' (idle)'}\n` +
        `this agent  ${s.validator ? 'validator' : 'not a validator'}${s.admin ? ', admin' : ''}; ${s.pending} pending entr${s.pending === 1 ? 'y' : 'ies'}\n` +
        `last commit ${lc === null ? 'none' : `height ${lc.height}, round ${lc.round}, ${lc.entries} entr${lc.entries === 1 ? 'y' : 'ies'}, ${ago(lc.time)} ago, ${lc.hash.slice(0, 16)}`}\n` +
        `evidence    ${s.evidence.length} equivocation(s)\n` +
        (s.fault === null || s.fault === undefined ? '' : `HALTED      at height ${s.fault.height}, round ${s.fault.round}: ${s.fault.name}: ${s.fault.error}; this agent no longer votes (restart it once the cause is fixed)\n`) +
        `validators  ${s.validators.length}: ${s.validatorsAlive} alive per membership, ${s.validatorsConnected} connected (self included); ${s.quorum} needed for a quorum\n`)
      printTable(s.validatorStates, [
        { header: '  VALIDATOR', value: v => `  ${shortId(v.peerId)}${v.self ? ' (this agent)' : ''}` },
        { header: 'MEMBER', value: v => v.member },
        { header: 'CONNECTED', value: v => v.self ? '-' : (v.connected ? 'yes' : 'no') },
        { header: 'LAST VOTE SEEN', value: v => v.lastMessageAt === null ? 'none yet' : `${ago(v.lastMessageAt)} ago` }
      ])
    })
}
