/**
 * `mycel emergency freeze|thaw|status`: stop (and resume) the management
 * services' duties on every node of a region, or of every region, leaving
 * the minimal core serving (docs/minimal-core.md). With a genesis a freeze is
 * a BFT commit signed by the agent, which must be an admin; without one a
 * signed replicated-config write by the agent. The reason is checked with the
 * agent's own rule before it is contacted (exit 2).
 */
import { InvalidArgumentError, type Command } from 'commander'
import { apiClient, type ApiFlags } from './client.js'
import { apiOption, tokenFileOption } from './options.js'
import { ago, print, printJson, printTable, shortId } from './output.js'
import { EVERY_REGION, MAX_FREEZE_REASON_CHARS } from '../../policy/emergency.js'
import { REGION_PATTERN, REGION_RULE } from '../../lib/region.js'

/** The control state as the agent shows it (managers/control-state.ts ControlStatus). */
export interface ControlView {
  state: 'core' | 'services' | 'frozen'
  since: number
  reason: string
  frozen?: { scope: string, reason: string, by: string, at: number, height?: number }
  core: { ready: boolean, waiting?: string }
  handedOffAt?: number
}

interface Written { scope: string, source: string, height?: number, latencyMs: number, trace: string }
interface RecordRow { scope: string, frozen: boolean, reason: string, by: string, at: number, height?: number }

/** One line for `mycel status`, `mycel roles` and `mycel emergency status`. */
export function controlLine (c: ControlView): string {
  const since = `${ago(c.since)} ago`
  if (c.state === 'frozen' && c.frozen !== undefined) {
    return `frozen since ${since} (${c.frozen.scope === EVERY_REGION ? 'every region' : `region ${c.frozen.scope}`}, by ${shortId(c.frozen.by)}): ${c.frozen.reason}`
  }
  if (c.state === 'services') return `services since ${since} (${c.reason})`
  return `core since ${since}: management services not started (${c.reason})`
}

function parseScope (v: string): string {
  if (v !== EVERY_REGION && !REGION_PATTERN.test(v)) throw new InvalidArgumentError(`expected * or a region name (${REGION_RULE})`)
  return v
}

function parseReason (v: string): string {
  if (v.trim() === '') throw new InvalidArgumentError('a reason is required')
  if (v.length > MAX_FREEZE_REASON_CHARS) throw new InvalidArgumentError(`at most ${MAX_FREEZE_REASON_CHARS} characters`)
  return v
}

function where (scope: string): string { return scope === EVERY_REGION ? 'every region' : `region ${scope}` }

function how (r: Written): string {
  return r.height !== undefined ? `committed at height ${r.height} in ${r.latencyMs} ms` : `written to mycel.emergency in ${r.latencyMs} ms`
}

export function registerEmergencyCommands (program: Command): void {
  const emergency = program.command('emergency').description('freeze and thaw the management services everywhere, leaving the minimal core serving')

  // freeze and thaw: one record each (frozen true or false), the same flags but for whether the reason is required.
  const verbs = [
    { verb: 'freeze', required: true, help: 'stop every management role\'s duty and every rollout in a region (default: every region); membership, config, critical config, the component host and the admin API keep serving', region: 'only this region (default * : every region)', done: 'frozen', then: 'every node stops its management duties as the record arrives' },
    { verb: 'thaw', required: false, help: 'hand control back to the management services of a region (default: the network-wide freeze)', region: 'the region frozen by name (default * : the network-wide freeze)', done: 'thawed', then: 'the management services resume with the same holders' }
  ] as const
  for (const v of verbs) {
    const cmd = emergency.command(v.verb).description(v.help)
    if (v.required) cmd.requiredOption('--reason <text>', 'why, kept in the record and shown on every node', parseReason)
    else cmd.option('--reason <text>', 'why, kept in the record', parseReason)
    cmd.option('--region <name>', v.region, parseScope)
      .addOption(apiOption()).addOption(tokenFileOption())
      .option('--json', 'machine-readable output')
      .action(async (opts: ApiFlags & { reason?: string, region?: string, json?: boolean }) => {
        const body = { ...(opts.reason !== undefined ? { reason: opts.reason } : {}), ...(opts.region !== undefined ? { region: opts.region } : {}) }
        const r = await apiClient(opts).post<Written>(`/v1/emergency/${v.verb}`, body, AbortSignal.timeout(120_000))
        if (opts.json === true) { printJson(r); return }
        print(`${v.done}: ${where(r.scope)} (${how(r)}); ${v.then} (trace ${r.trace})\n`)
      })
  }

  emergency.command('status')
    .description('who has control here (core, services, frozen) and every freeze record')
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--json', 'machine-readable output')
    .action(async (opts: ApiFlags & { json?: boolean }) => {
      const r = await apiClient(opts).get<{ source: string, control: ControlView, records: RecordRow[] }>('/v1/emergency')
      if (opts.json === true) { printJson(r); return }
      print(`control: ${controlLine(r.control)}\n`)
      if (r.records.length === 0) { print(`no freeze records (${r.source === 'critical' ? 'critical config emergency/*' : 'mycel.emergency'})\n`); return }
      printTable(r.records, [
        { header: 'SCOPE', value: x => x.scope },
        { header: 'STATE', value: x => x.frozen ? 'frozen' : 'thawed' },
        { header: 'BY', value: x => shortId(x.by) },
        { header: 'AT', value: x => new Date(x.at).toISOString() },
        { header: 'HEIGHT', value: x => x.height !== undefined ? String(x.height) : '-' },
        { header: 'REASON', value: x => x.reason }
      ])
    })
}
