/** `mycel roles`: who holds each management role, in every region this agent knows of. */
import type { Command } from 'commander'
import { apiClient, type ApiFlags } from './client.js'
import { apiOption, tokenFileOption, parseRegion } from './options.js'
import { print, printJson, printTable, shortId } from './output.js'
import { ROLE_NAMES } from '../../managers/role-names.js'
import { UsageError } from '../errors.js'
import { controlLine, type ControlView } from './emergency.js'

interface LeaseCopy { holder: string, term: number, expiresInMs: number, status: string }
interface RoleRow {
  region: string, role: string, holder?: string, term?: number, status: string, expiresInMs?: number, self?: boolean
  source?: string, copies?: { gossip: LeaseCopy | null, dht: LeaseCopy | null }, dhtError?: string
}
interface RolesView {
  peerId: string
  region: string
  eligible: string[]
  regions: Array<{ region: string, roles: RoleRow[] }>
  local: Array<{ role: string, eligible: boolean, acting: boolean, term?: number, winner?: string, activations: number }>
  control?: ControlView
}

function expires (ms: number | undefined, status: string): string {
  if (ms === undefined || status === 'none') return '-'
  if (status === 'released') return 'released'
  const s = Math.round(Math.abs(ms) / 100) / 10
  return ms >= 0 ? `in ${s}s` : `${s}s ago`
}

/** One copy of a lease in a cell: "term 3, in 4.2s", or why there is none. */
function copyText (c: LeaseCopy | null | undefined, error?: string): string {
  if (c === null || c === undefined) return error !== undefined ? 'lookup failed' : 'none'
  return `term ${c.term}, ${c.status === 'active' ? 'expires' : c.status} ${expires(c.expiresInMs, c.status)}`
}

export function registerRolesCommands (program: Command): void {
  program.command('roles')
    .description('show the holder, term and lease expiry of every management role per region')
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--region <name>', 'only this region', parseRegion)
    .option('--resolve', 'also look the leases up in the DHT (needs --region); shows the freshest copy and where each came from')
    .option('--json', 'machine-readable output')
    .action(async (opts: ApiFlags & { region?: string, resolve?: boolean, json?: boolean }) => {
      const client = apiClient(opts)
      if (opts.resolve === true) {
        const region = opts.region
        if (region === undefined) throw new UsageError('--resolve needs --region')
        const rows = await Promise.all(ROLE_NAMES.map(async role => await client.get<RoleRow>(`/v1/roles/${encodeURIComponent(region)}/${role}`)))
        if (opts.json === true) { printJson(rows); return }
        printRows(rows, true)
        return
      }
      const q = opts.region !== undefined ? `?region=${encodeURIComponent(opts.region)}` : ''
      const view = await client.get<RolesView>(`/v1/roles${q}`)
      if (opts.json === true) { printJson(view); return }
      printRows(view.regions.flatMap(r => r.roles), false)
      const acting = view.local.filter(l => l.acting).map(l => `${l.role} (term ${l.term ?? '?'})`)
      print(`\nthis agent: ${shortId(view.peerId)} in ${view.region}; eligible for ${view.eligible.join(', ') || 'none'}; ` +
        `${acting.length > 0 ? `acting for ${acting.join(', ')}` : 'holds no role'}\n`)
      // Holding a role is not acting on it: duties run only while the services have control.
      if (view.control !== undefined) print(`control: ${controlLine(view.control)}\n`)
    })
}

function printRows (rows: RoleRow[], resolved: boolean): void {
  printTable(rows, [
    { header: 'REGION', value: r => r.region },
    { header: 'ROLE', value: r => r.role },
    { header: 'HOLDER', value: r => r.holder !== undefined ? `${shortId(r.holder)}${r.self === true ? ' (this agent)' : ''}` : '-' },
    { header: 'TERM', value: r => r.term !== undefined ? String(r.term) : '-' },
    { header: 'STATUS', value: r => r.status },
    { header: 'EXPIRES', value: r => expires(r.expiresInMs, r.status) },
    ...(resolved
      ? [
          { header: 'FROM', value: (r: RoleRow) => r.source ?? '-' },
          { header: 'GOSSIP COPY', value: (r: RoleRow) => copyText(r.copies?.gossip) },
          { header: 'DHT COPY', value: (r: RoleRow) => copyText(r.copies?.dht, r.dhtError) }
        ]
      : [])
  ])
}
