/** `mycel members` and `mycel status`: read a local agent's view. */
import { Option, type Command } from 'commander'
import { ApiClient } from './client.js'
import { apiOption, parseRegion } from './options.js'
import { ago, print, printJson, printTable } from './output.js'

interface MemberRow { peerId: string, state: string, region: string, incarnation: number, addrs: string[], lastSeen: string, roles?: string[], version?: string }

/** Membership states, as the agent's `/v1/members?state=` accepts them. */
const MEMBER_STATES = ['alive', 'suspect', 'dead', 'left']

export function registerMemberCommands (program: Command): void {
  program.command('members')
    .description('list the members this agent knows, with their state')
    .addOption(apiOption())
    .addOption(new Option('--state <state>', 'only members in this state').choices(MEMBER_STATES))
    .option('--region <name>', 'only members of this region', parseRegion)
    .option('--json', 'machine-readable output')
    .action(async (opts: { api: string, state?: string, region?: string, json?: boolean }) => {
      const q = new URLSearchParams()
      if (opts.state !== undefined) q.set('state', opts.state)
      if (opts.region !== undefined) q.set('region', opts.region)
      const rows = await new ApiClient(opts.api).get<MemberRow[]>(`/v1/members${q.size > 0 ? `?${q.toString()}` : ''}`)
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
    .addOption(apiOption())
    .option('--json', 'machine-readable output')
    .action(async (opts: { api: string, json?: boolean }) => {
      const s = await new ApiClient(opts.api).get<{ peerId: string, region: string, addrs: string[], version: string, uptimeSeconds: number, connections: number, members: Record<string, number>, stopped?: Array<{ component: string, error: string, recovery?: string }> }>('/v1/status')
      if (opts.json === true) { printJson(s); return }
      const m = s.members
      print([
        `peer id:     ${s.peerId}`,
        `region:      ${s.region}`,
        `version:     ${s.version}`,
        `uptime:      ${ago(Date.now() - s.uptimeSeconds * 1000)}`,
        `connections: ${s.connections}`,
        `members:     ${m.alive} alive, ${m.suspect} suspect, ${m.dead} dead, ${m.left} left`,
        'addresses:',
        ...s.addrs.map(a => `  ${a}`),
        // Fail-stop: a component that stopped on its durable state, and what to do about it.
        ...(s.stopped ?? []).flatMap(f => [`STOPPED:     ${f.component}: ${f.error}`, ...(f.recovery !== undefined ? [`  recover:   ${f.recovery}`] : [])])
      ].join('\n') + '\n')
    })
}
