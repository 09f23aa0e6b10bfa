/**
 * Security manager, first duty: audit the region's members and report
 *  - members running an outdated version (older than the newest version any
 *    alive region member runs, or than `minVersion` when set), from their
 *    signed health reports and membership records;
 *  - members whose key is not admitted by the admission policy (once critical
 *    config provides one; until then the report says `admission: "no-policy"`),
 *    and members whose peer id carries no Ed25519 key;
 *  - alive members without a health report (they cannot be audited).
 *
 * Second duty, when the agent runs replicated config: security monitoring
 * (security-monitor.ts) — offences the region's nodes report become findings
 * and audit events in replicated config, readable on every node.
 */
import type { Logger } from 'pino'
import type { Health } from '../protocols/health/index.js'
import type { Member, MembershipView } from '../protocols/membership/types.js'
import { publicKeyOf } from '../wire/signing.js'
import { dutyLoop, dutyTunables, type Role, type State } from './role.js'
import type { RolesMetrics } from './metrics.js'
import type { SecurityMonitor } from './security-monitor.js'

/** Audit period, per profile. */
export const securityTunables = dutyTunables('security', {
  lan: { intervalMs: 30_000 },
  wan: { intervalMs: 60_000 },
  test: { intervalMs: 2_000 }
})

export interface AdmissionPolicy {
  /** undefined: the policy says nothing about this key. */
  admitted: (peerId: string) => boolean | undefined
}

export interface SecurityFindings {
  region: string
  at: number
  newestVersion: string | null
  outdated: Array<{ peerId: string, version: string }>
  notAdmitted: string[]
  invalidKeys: string[]
  unaudited: string[]
  admission: 'policy' | 'no-policy'
}

/** Compare dotted numeric versions (1.10.0 > 1.9.3); a pre-release suffix sorts before its release. */
export function compareVersions (a: string, b: string): number {
  const parse = (v: string): { nums: number[], pre: boolean } => {
    const [core, pre] = v.replace(/^v/, '').split('-', 2)
    return { nums: core.split('.').map(x => Number.parseInt(x, 10) || 0), pre: pre !== undefined }
  }
  const pa = parse(a)
  const pb = parse(b)
  for (let i = 0; i < Math.max(pa.nums.length, pb.nums.length); i++) {
    const d = (pa.nums[i] ?? 0) - (pb.nums[i] ?? 0)
    if (d !== 0) return d < 0 ? -1 : 1
  }
  if (pa.pre !== pb.pre) return pa.pre ? -1 : 1
  return 0
}

export function auditRegion (region: string, members: Member[], reports: ReturnType<Health['reports']>, policy?: AdmissionPolicy, minVersion?: string, now = Date.now()): SecurityFindings {
  const alive = members.filter(m => m.region === region && (m.state === 'alive' || m.state === 'suspect'))
  const reportOf = new Map(reports.map(r => [r.report.peerId, r.report]))
  const versionOf = (peerId: string, fallback: string): string => reportOf.get(peerId)?.version ?? fallback
  let newest: string | null = minVersion ?? null
  for (const m of alive) {
    const v = versionOf(m.peerId, m.version)
    if (v !== '' && (newest === null || compareVersions(v, newest) > 0)) newest = v
  }
  const outdated: SecurityFindings['outdated'] = []
  const notAdmitted: string[] = []
  const invalidKeys: string[] = []
  const unaudited: string[] = []
  for (const m of alive) {
    const v = versionOf(m.peerId, m.version)
    if (newest !== null && compareVersions(v, newest) < 0) outdated.push({ peerId: m.peerId, version: v })
    if (policy?.admitted(m.peerId) === false) notAdmitted.push(m.peerId)
    try { publicKeyOf(m.peerId) } catch { invalidKeys.push(m.peerId) }
    if (!reportOf.has(m.peerId)) unaudited.push(m.peerId)
  }
  return { region, at: now, newestVersion: newest, outdated, notAdmitted, invalidKeys, unaudited, admission: policy === undefined ? 'no-policy' : 'policy' }
}

export interface SecurityManagerInit {
  region: string
  intervalMs: number
  membership: Pick<MembershipView, 'members'>
  health: Pick<Health, 'reports'>
  admission?: () => AdmissionPolicy | undefined
  minVersion?: string
  /** Periodic statements (role.ts `State`). */
  state: State
  logger: Logger
  metrics: RolesMetrics
  /** Findings and the audit log; absent without replicated config. */
  monitor?: SecurityMonitor
}

export class SecurityManager implements Role {
  readonly name = 'security' as const
  private last?: SecurityFindings

  constructor (private readonly init: SecurityManagerInit) {}

  onElected (term: number, signal: AbortSignal): void {
    this.init.monitor?.run(term, signal, this.init.intervalMs, (err) => { this.init.metrics.dutyErrors.inc({ role: 'security' }); this.init.logger.warn({ err }, 'security monitoring round failed') })
    dutyLoop(signal, this.init.intervalMs, async () => {
      const f = auditRegion(this.init.region, this.init.membership.members(), this.init.health.reports(), this.init.admission?.(), this.init.minVersion)
      if (signal.aborted) return
      this.last = f
      if (f.outdated.length + f.notAdmitted.length + f.invalidKeys.length > 0) {
        this.init.logger.warn({ outdated: f.outdated.length, notAdmitted: f.notAdmitted.length, invalidKeys: f.invalidKeys.length }, 'security findings in region')
      }
      await this.init.state('security', 'security-findings', f)
    }, (err) => { this.init.metrics.dutyErrors.inc({ role: 'security' }); this.init.logger.warn({ err }, 'security audit failed') })
  }

  onDemoted (): void {}

  status (): unknown {
    const monitoring = this.init.monitor?.status()
    if (this.last === undefined) return monitoring === undefined ? undefined : { monitoring }
    return { at: this.last.at, outdated: this.last.outdated.length, notAdmitted: this.last.notAdmitted.length, admission: this.last.admission, ...(monitoring !== undefined ? { monitoring } : {}) }
  }
}
