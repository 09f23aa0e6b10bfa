/** `mycel members` and `mycel status`: read a local agent's view. */
import { Option, type Command } from 'commander'
import { apiClient, type ApiFlags } from './client.js'
import { apiOption, tokenFileOption, parseRegion } from './options.js'
import { ago, print, printJson, printTable } from './output.js'
import { controlLine, type ControlView } from './emergency.js'

interface BootstrapRow { addr: string, state: string, failures: number, lastError: { reason: string, message: string, at: string } | null }
interface StatusReply {
  peerId: string, region: string, addrs: string[], version: string, uptimeSeconds: number, connections: number,
  members: Record<string, number>, joined: boolean, bootstrap: BootstrapRow[],
  /** Components stopped on their durable state (fail-stop). */
  stopped?: Array<{ component: string, error: string, recovery?: string }>
  /** Who has control of the management services (docs/minimal-core.md). */
  control?: ControlView
}

interface MemberRow { peerId: string, state: string, region: string, incarnation: number, addrs: string[], lastSeen: string, roles?: string[], version?: string }

/** Membership states, as the agent's `/v1/members?state=` accepts them. */
const MEMBER_STATES = ['alive', 'suspect', 'dead', 'left', 'revoked']

export function registerMemberCommands (program: Command): void {
  program.command('members')
    .description('list the members this agent knows, with their state')
    .addOption(apiOption()).addOption(tokenFileOption())
    .addOption(new Option('--state <state>', 'only members in this state').choices(MEMBER_STATES))
    .option('--region <name>', 'only members of this region', parseRegion)
    .option('--json', 'machine-readable output')
    .action(async (opts: ApiFlags & { state?: string, region?: string, json?: boolean }) => {
      const q = new URLSearchParams()
      if (opts.state !== undefined) q.set('state', opts.state)
      if (opts.region !== undefined) q.set('region', opts.region)
      const rows = await apiClient(opts).get<MemberRow[]>(`/v1/members${q.size > 0 ? `?${q.toString()}` : ''}`)
      if (opts.json === true) { printJson(rows); return }
      printTable(rows, [
        { header: 'PEER ID', value: r => r.peerId },
        { header: 'STATE', value: r => r.state },
        { header: 'REGION', value: r => r.region },
        { header: 'INC', value: r => String(r.incarnation) },
        { header: 'ADDRESS', value: r => r.addrs[0] ?? '-' },
        { header: 'SEEN', value: r => `${ago(r.lastSeen)} ago` }
      ])
    })

  program.command('status')
    .description('show this agent\'s identity, addresses and membership summary')
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--json', 'machine-readable output')
    .action(async (opts: ApiFlags & { json?: boolean }) => {
      const s = await apiClient(opts).get<StatusReply>('/v1/status')
      if (opts.json === true) { printJson(s); return }
      const m = s.members
      print([
        `peer id:     ${s.peerId}`,
        `region:      ${s.region}`,
        `version:     ${s.version}`,
        `uptime:      ${ago(Date.now() - s.uptimeSeconds * 1000)}`,
        `joined:      ${joinedLine(s)}`,
        ...(s.control !== undefined ? [`control:     ${controlLine(s.control)}`] : []),
        `connections: ${s.connections}`,
        `members:     ${m.alive} alive, ${m.suspect} suspect, ${m.dead} dead, ${m.left} left`,
        'addresses:',
        ...s.addrs.map(a => `  ${a}`),
        ...(s.bootstrap.length > 0 ? ['bootstrap:', ...s.bootstrap.map(bootstrapLine)] : []),
        // Fail-stop: a component that stopped on its durable state, and what to do about it.
        ...(s.stopped ?? []).flatMap(f => [`STOPPED:     ${f.component}: ${f.error}`, ...(f.recovery !== undefined ? [`  recover:   ${f.recovery}`] : [])])
      ].join('\n') + '\n')
    })
}

function joinedLine (s: StatusReply): string {
  if (s.joined) return 'yes'
  if (s.bootstrap.length === 0) return 'no (no bootstrap peers configured: waiting for others to join this agent)'
  const failing = s.bootstrap.filter(b => b.state === 'failing').length
  return `no (${failing} of ${s.bootstrap.length} bootstrap peers failing; see below)`
}

function bootstrapLine (b: BootstrapRow): string {
  if (b.lastError === null || b.state !== 'failing') return `  ${b.addr}  ${b.state}`
  return `  ${b.addr}  ${b.state}: ${b.lastError.reason} (${b.failures} failures, last ${ago(b.lastError.at)} ago): ${b.lastError.message}`
}
