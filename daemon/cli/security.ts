/**
 * `mycel security findings|audit`: what the regions' security managers
 * found and recorded (docs/security.md "Security monitoring"), read through
 * a local agent's admin API (routes/security.ts). Any node answers: the
 * records live in replicated config.
 *
 * A finding with a proposal shows the exact command that revokes the peer;
 * nothing is revoked until an admin runs it (a BFT commit).
 */
import { InvalidArgumentError, type Command } from 'commander'
import { apiClient, type ApiFlags } from './client.js'
import { apiOption, tokenFileOption } from './options.js'
import { ago, print, printJson, printTable } from './output.js'
import type { StoredFinding, AuditEvent } from '../../managers/security-records.js'

export interface FindingsReply {
  regions: Array<{ region: string, term: number, writer: string | null, at: number, autoProposeRevocation: boolean, problem?: string, findings: StoredFinding[] }>
}

export interface AuditReply { events: AuditEvent[], total: number }

function parseLimit (v: string): number {
  const n = Number(v)
  if (v.trim() === '' || !Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer')
  return n
}

/** The findings as the CLI prints them: one table, then every proposal's command. */
export function printFindings (r: FindingsReply): void {
  if (r.regions.length === 0) {
    print('no findings: no security manager has judged a region yet (it needs replicated config and a holder of the security role)\n')
    return
  }
  const rows = r.regions.flatMap(g => g.findings.map(f => ({ region: g.region, f })))
  for (const g of r.regions) if (g.problem !== undefined) print(`${g.region}: ${g.problem}\n`)
  if (rows.length === 0) {
    print(`no findings in ${r.regions.map(g => g.region).join(', ')}\n`)
    return
  }
  printTable(rows, [
    { header: 'REGION', value: x => x.region },
    { header: 'PEER', value: x => x.f.peer },
    { header: 'OVER', value: x => x.f.over.join(',') },
    { header: 'COUNTS', value: x => Object.entries(x.f.kinds).map(([k, n]) => `${k}=${n}`).join(' ') },
    { header: 'REPORTERS', value: x => String(x.f.reporterCount) },
    { header: 'FIRST', value: x => `${ago(x.f.firstSeen)} ago` },
    { header: 'LAST', value: x => `${ago(x.f.lastSeen)} ago` },
    { header: 'STATE', value: x => x.f.revoked === true ? 'revoked' : x.f.proposal !== undefined ? 'revoke proposed' : '-' }
  ])
  const proposals = rows.filter(x => x.f.proposal !== undefined)
  if (proposals.length > 0) {
    print('\nproposed revocations (not committed; an admin commits one by running it):\n')
    for (const x of proposals) print(`  ${x.f.proposal?.command ?? ''}\n`)
  }
}

export function printAudit (r: AuditReply): void {
  if (r.events.length === 0) { print('no security events recorded\n'); return }
  printTable(r.events, [
    { header: 'AT', value: e => new Date(e.at).toISOString() },
    { header: 'KIND', value: e => e.kind },
    { header: 'HEIGHT', value: e => e.height === undefined ? '-' : String(e.height) },
    { header: 'DETAIL', value: e => e.detail }
  ])
  if (r.total > r.events.length) print(`(${r.total - r.events.length} older events not shown; --limit N)\n`)
}

export function registerSecurityCommands (program: Command): void {
  const security = program.command('security').description('security monitoring: findings of the regions\' security managers and the audit log')

  security.command('findings')
    .description('peers over an offence threshold, per region, with revoke proposals when critical key "security" enables them')
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--region <region>', 'only this region')
    .option('--json', 'machine-readable output')
    .action(async (opts: ApiFlags & { region?: string, json?: boolean }) => {
      const q = opts.region !== undefined ? `?region=${encodeURIComponent(opts.region)}` : ''
      const r = await apiClient(opts).get<FindingsReply>(`/v1/security/findings${q}`)
      if (opts.json === true) { printJson(r); return }
      printFindings(r)
    })

  security.command('audit')
    .description('the security audit log (admissions, revocations, key hand-overs, findings), oldest first')
    .addOption(apiOption()).addOption(tokenFileOption())
    .option('--limit <n>', 'the newest N events (default 200)', parseLimit)
    .option('--json', 'machine-readable output')
    .action(async (opts: ApiFlags & { limit?: number, json?: boolean }) => {
      const q = opts.limit !== undefined ? `?limit=${opts.limit}` : ''
      const r = await apiClient(opts).get<AuditReply>(`/v1/security/audit${q}`)
      if (opts.json === true) { printJson(r); return }
      printAudit(r)
    })
}
