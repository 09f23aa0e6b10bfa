/** `mycel roles`: who holds each management role, in every region this agent knows of. */
import type { Command } from 'commander'
import { ApiClient } from './client.js'
import { fail, printJson, printTable, shortId } from './output.js'

const ROLES = ['network', 'update', 'config', 'security', 'monitoring']

interface RoleRow { region: string, role: string, holder?: string, term?: number, status: string, expiresInMs?: number, self?: boolean, source?: string }
interface RolesView {
  peerId: string
  region: string
  eligible: string[]
  regions: Array<{ region: string, roles: RoleRow[] }>
  local: Array<{ role: string, eligible: boolean, acting: boolean, term?: number, winner?: string, activations: number }>
}

function expires (ms: number | undefined, status: string): string {
  if (ms === undefined || status === 'none') return '-'
  if (status === 'released') return 'released'
  const s = Math.round(Math.abs(ms) / 100) / 10
  return ms >= 0 ? `in ${s}s` : `${s}s ago`
}

export function registerRolesCommands (program: Command): void {
  program.command('roles')
    .description('show the holder, term and lease expiry of every management role per region')
    .option('--api <host:port>', 'admin API of the local agent', '127.0.0.1:8900')
    .option('--region <name>', 'only this region')
    .option('--resolve', 'read the leases from the DHT instead of this agent\'s cached view (needs --region)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { api: string, region?: string, resolve?: boolean, json?: boolean }) => {
      const client = new ApiClient(opts.api)
      try {
        if (opts.resolve === true) {
          if (opts.region === undefined) fail('--resolve needs --region', 2)
          const region = opts.region
          const rows = await Promise.all(ROLES.map(async role => await client.get<RoleRow>(`/v1/roles/${encodeURIComponent(region)}/${role}`)))
          if (opts.json === true) { printJson(rows); return }
          printRows(rows, true)
          return
        }
        const q = opts.region !== undefined ? `?region=${encodeURIComponent(opts.region)}` : ''
        const view = await client.get<RolesView>(`/v1/roles${q}`)
        if (opts.json === true) { printJson(view); return }
        printRows(view.regions.flatMap(r => r.roles), false)
        const acting = view.local.filter(l => l.acting).map(l => `${l.role} (term ${l.term ?? '?'})`)
        process.stdout.write(`\nthis agent: ${shortId(view.peerId)} in ${view.region}; eligible for ${view.eligible.join(', ') || 'none'}; ` +
          `${acting.length > 0 ? `acting for ${acting.join(', ')}` : 'holds no role'}\n`)
      } catch (err) {
        fail((err as Error).message)
      }
    })
}

function printRows (rows: RoleRow[], withSource: boolean): void {
  printTable(rows, [
    { header: 'REGION', value: r => r.region },
    { header: 'ROLE', value: r => r.role },
    { header: 'HOLDER', value: r => r.holder !== undefined ? `${shortId(r.holder)}${r.self === true ? ' (this agent)' : ''}` : '-' },
    { header: 'TERM', value: r => r.term !== undefined ? String(r.term) : '-' },
    { header: 'STATUS', value: r => r.status },
    { header: 'EXPIRES', value: r => expires(r.expiresInMs, r.status) },
    ...(withSource ? [{ header: 'SOURCE', value: (r: RoleRow) => r.source ?? '-' }] : [])
  ])
}
