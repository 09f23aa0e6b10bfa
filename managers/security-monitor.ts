/**
 * The security manager's monitoring duty (issue 15 item 6): while this node
 * holds the region's security role in `term`, judge the offences the
 * region's nodes report (security-aggregate.ts) and keep in replicated config
 * (security-records.ts):
 *
 *  - the region's findings under this term, rewritten when they change;
 *    with `autoProposeRevocation` in critical key `security`, each finding of
 *    a peer not yet revoked carries a revoke *proposal*: the command an admin
 *    runs. The manager never commits anything: revocation stays an admin's
 *    signed critical-config entry, enforced by every node;
 *  - the audit log: one event per committed change of an `admission*` key
 *    (allow, revoke, key hand-over, the policy itself) and per new finding,
 *    each written once under an id derived from the event.
 *
 * Rounds run every `intervalMs` and soon after a committed change of an
 * `admission*` or `security` key. The audit is derived from committed state
 * each round (every `admission*` value has an event `critical/<height>/<key>`),
 * so changes committed while no node held the role are recorded by the next
 * holder; only deletions (of an allow entry) are seen through the change
 * events, and so only while a holder runs.
 */
import type { Logger } from 'pino'
import type { Gauge } from 'prom-client'
import type { CriticalChange, CriticalConfig } from '../protocols/bft/critical-state.js'
import type { HealthReport } from '../protocols/health/report.js'
import type { MembershipView } from '../protocols/membership/types.js'
import { ADMISSION_KEY, ALLOW_PREFIX, REVOKED_PREFIX } from '../policy/admission-values.js'
import { readSecuritySetting, SECURITY_KEY } from '../policy/security-policy.js'
import { aggregateOffences, effectiveThresholds, type OffenceFinding, type OffenceThresholds } from './security-aggregate.js'
import {
  AUDIT_PREFIX, auditEvents, auditKey, currentFindings, findingsKey, MAX_AUDIT_EVENTS, SECURITY_NAMESPACE,
  type AuditEvent, type AuditKind, type FindingsRecord, type StoredFinding
} from './security-records.js'
import { kickedRounds, pullConfig, PULL_MIN_MS } from './kicked-rounds.js'
import type { PlacementConfig } from './placement-duty.js'

/** Deletions of `admission*` keys remembered until the next round writes them; a burst beyond is a mass change the next rounds still see as state. */
const MAX_PENDING_CHANGES = 256

export interface SecurityMonitorInit {
  region: string
  /** Replicated config; undefined while the config service does not run (no round then). */
  config: () => PlacementConfig | undefined
  /** Committed critical config; undefined without a genesis (findings still, no audit of admissions). */
  critical: () => Pick<CriticalConfig, 'get' | 'entries' | 'onChange'> | undefined
  membership: Pick<MembershipView, 'self' | 'members'>
  health: { reports: () => Array<{ report: HealthReport, stale?: boolean }> }
  /** The profile's thresholds (security-aggregate.ts `offenceThresholds`). */
  thresholds: Readonly<OffenceThresholds>
  /** `mycel_security_findings{region}`: set by the holder only, removed at demotion. */
  findingsGauge: Gauge<'region'>
  logger: Logger
  /** Audit events kept (retention); @default MAX_AUDIT_EVENTS */
  maxAuditEvents?: number
}

export interface MonitorRoundResult {
  findings: StoredFinding[]
  /** True when this round wrote the findings record. */
  wrote: boolean
  /** A newer term's record exists: this holder wrote nothing. */
  superseded: boolean
  /** Audit ids written this round. */
  audited: string[]
  /** Audit keys deleted by retention. */
  expired: string[]
}

/** The command an admin runs to revoke `peer` (the proposal shows it verbatim). */
export function revokeCommand (peer: string): string {
  return `mycel admission revoke ${peer}`
}

function isAdmissionKey (key: string): boolean {
  return key === ADMISSION_KEY || key.startsWith(ALLOW_PREFIX) || key.startsWith(REVOKED_PREFIX)
}

/** The audit event of one committed admission change (value null: deleted). */
export function admissionEvent (key: string, value: string | null, height: number, at: number, recordedBy: AuditEvent['recordedBy']): AuditEvent {
  let kind: AuditKind
  let subject: string | undefined
  let detail: string
  if (key === ADMISSION_KEY) {
    kind = 'policy'
    detail = value === null ? 'admission policy deleted: open mode' : `admission policy set: ${value.slice(0, 200)}`
  } else if (key.startsWith(REVOKED_PREFIX)) {
    kind = 'revocation'
    subject = key.slice(REVOKED_PREFIX.length)
    let reason = ''
    try { reason = String((JSON.parse(value ?? '{}') as { reason?: unknown }).reason ?? '') } catch { /* shown without a reason */ }
    detail = `revoked ${subject}${reason !== '' ? `: ${reason.slice(0, 256)}` : ''}`
  } else {
    subject = key.slice(ALLOW_PREFIX.length)
    let entry: { replaces?: unknown, token?: unknown, regions?: unknown } = {}
    try { entry = JSON.parse(value ?? '{}') as typeof entry } catch { /* shown as a plain admission */ }
    if (value === null) {
      kind = 'admission-removed'
      detail = `allow entry of ${subject} deleted`
    } else if (typeof entry.replaces === 'string') {
      kind = 'rotation'
      detail = `key hand-over: ${subject} replaces ${entry.replaces}`
    } else {
      kind = 'admission'
      const how = typeof entry.token === 'string' ? ` with join token ${entry.token}` : ''
      const where = Array.isArray(entry.regions) ? ` in ${entry.regions.join(', ')}` : ''
      detail = `allowed ${subject}${how}${where}`
    }
  }
  const validSubject = subject !== undefined && /^[0-9A-Za-z]{1,128}$/.test(subject)
  return { v: 1, id: `critical/${height}/${key}`, kind, at, ...(validSubject ? { subject } : {}), height, detail: detail.slice(0, 512), recordedBy }
}

/** The audit event of a new finding. */
export function findingEvent (region: string, f: StoredFinding, recordedBy: AuditEvent['recordedBy']): AuditEvent {
  const counts = f.over.map(k => `${k} ${f.kinds[k] ?? 0}`).join(', ')
  const proposal = f.proposal !== undefined ? `; proposed: ${f.proposal.command}` : ''
  return {
    v: 1,
    id: `finding/${region}/${f.peer}/${f.firstSeen}`,
    kind: 'finding',
    at: f.firstSeen,
    subject: f.peer,
    region,
    detail: `${f.peer} over threshold (${counts}) reported by ${f.reporterCount} node(s)${proposal}`.slice(0, 512),
    recordedBy
  }
}

/** JSON with object keys sorted: a record read back from replicated config may list its keys in another order. */
function canonical (v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v).sort().map(k => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`).join(',')}}`
  }
  return JSON.stringify(v)
}

/** Same findings and settings, whatever `at` says: then the record is not rewritten. */
function sameFindings (a: FindingsRecord, b: FindingsRecord): boolean {
  return canonical({ ...a, at: 0 }) === canonical({ ...b, at: 0 })
}

export class SecurityMonitor {
  private readonly pending: Array<{ key: string, height: number, at: number }> = []
  private readonly log: Logger
  private last?: { at: number, term: number, findings: number, proposals: number }

  constructor (private readonly init: SecurityMonitorInit) {
    this.log = init.logger.child({ duty: 'security-monitor' })
  }

  /** Rounds in `term` until `signal` aborts: after a config pull, every `intervalMs`, and soon after an admission or security commit. */
  run (term: number, signal: AbortSignal, intervalMs: number, onError: (err: unknown) => void): void {
    const pullMs = Math.max(intervalMs, PULL_MIN_MS)
    const kick = kickedRounds({
      signal,
      intervalMs,
      round: async () => { await this.round(term, signal); return undefined },
      onError,
      before: async () => await pullConfig(this.init.config(), this.init.membership, signal, pullMs, this.log),
      beforeRetryMs: pullMs / 5
    })
    const off = this.init.critical()?.onChange((c: CriticalChange) => {
      if (isAdmissionKey(c.key) && c.value === null && this.pending.length < MAX_PENDING_CHANGES) {
        this.pending.push({ key: c.key, height: c.height, at: c.certificate.block.time })
      }
      if (isAdmissionKey(c.key) || c.key === SECURITY_KEY) kick()
    })
    signal.addEventListener('abort', () => {
      off?.()
      this.pending.length = 0
      this.init.findingsGauge.remove({ region: this.init.region })
    }, { once: true })
  }

  /** One round as the holder of `term`. */
  async round (term: number, signal?: AbortSignal): Promise<MonitorRoundResult> {
    const result: MonitorRoundResult = { findings: [], wrote: false, superseded: false, audited: [], expired: [] }
    // A function, not the property: TypeScript would keep the first check's narrowing across the awaits.
    const stopped = (): boolean => signal?.aborted === true
    const config = this.init.config()
    if (config === undefined) return result
    const { region } = this.init
    const critical = this.init.critical()
    const { setting, problem } = readSecuritySetting(critical)
    const reports = this.init.health.reports()
      .filter(r => r.stale !== true && r.report.region === region && r.report.offences !== undefined)
      .map(r => ({ reporter: r.report.peerId, offences: r.report.offences as NonNullable<HealthReport['offences']> }))
    const found: OffenceFinding[] = aggregateOffences(reports, { thresholds: effectiveThresholds(this.init.thresholds, setting.threshold), minReporters: setting.minReporters })
    const findings: StoredFinding[] = found.map(f => {
      const revoked = critical?.get(`${REVOKED_PREFIX}${f.peer}`) !== undefined
      return {
        ...f,
        ...(revoked ? { revoked: true as const } : {}),
        ...(setting.autoProposeRevocation && !revoked ? { proposal: { action: 'revoke' as const, command: revokeCommand(f.peer) } } : {})
      }
    })
    result.findings = findings
    this.init.findingsGauge.set({ region }, findings.length)

    const entries = config.entries(SECURITY_NAMESPACE)
    const cur = currentFindings(entries).get(region)
    const recordedBy = { region, term }
    if (cur !== undefined && cur.record.term > term) {
      result.superseded = true
      return result
    }
    const record: FindingsRecord = { v: 1, region, term, at: Date.now(), autoProposeRevocation: setting.autoProposeRevocation, ...(problem !== undefined ? { problem: problem.slice(0, 512) } : {}), findings }
    if (stopped()) return result
    if (cur === undefined || cur.record.term !== term || !sameFindings(cur.record, record)) {
      await config.write(SECURITY_NAMESPACE, findingsKey(region, term), record)
      result.wrote = true
    }
    // Older terms go only after this term's record is written (one writer's envelopes apply in order).
    for (const key of [...(cur?.older ?? []), ...(cur !== undefined && cur.record.term < term ? [cur.key] : [])]) {
      if (stopped()) return result
      await config.write(SECURITY_NAMESPACE, key, undefined, { deleted: true })
    }

    // The audit log: events derived from committed admission state, deletions seen, and new findings.
    const have = new Set(entries.filter(([k]) => k.startsWith(AUDIT_PREFIX)).map(([k]) => k))
    const events: AuditEvent[] = []
    for (const v of critical?.entries() ?? []) {
      if (isAdmissionKey(v.key)) events.push(admissionEvent(v.key, v.value, v.height, v.certificate?.block.time ?? 0, recordedBy))
    }
    for (const p of this.pending.splice(0)) events.push(admissionEvent(p.key, null, p.height, p.at, recordedBy))
    for (const f of findings) events.push(findingEvent(region, f, recordedBy))
    for (const e of events) {
      if (stopped()) return result
      if (have.has(auditKey(e.id))) continue
      await config.write(SECURITY_NAMESPACE, auditKey(e.id), e)
      have.add(auditKey(e.id))
      result.audited.push(e.id)
      this.log.info({ id: e.id, kind: e.kind, subject: e.subject }, `security audit: ${e.detail}`)
    }
    // Retention: the oldest events beyond MAX_AUDIT_EVENTS go.
    const keep = this.init.maxAuditEvents ?? MAX_AUDIT_EVENTS
    if (have.size > keep) {
      const all = auditEvents(config.entries(SECURITY_NAMESPACE))
      for (const e of all.slice(0, Math.max(0, all.length - keep))) {
        if (stopped()) return result
        await config.write(SECURITY_NAMESPACE, auditKey(e.id), undefined, { deleted: true })
        result.expired.push(auditKey(e.id))
      }
    }
    if (findings.length > 0 && (this.last?.findings ?? 0) !== findings.length) {
      this.log.warn({ findings: findings.length, peers: findings.map(f => f.peer) }, 'security findings in region')
    }
    this.last = { at: Date.now(), term, findings: findings.length, proposals: findings.filter(f => f.proposal !== undefined).length }
    return result
  }

  status (): unknown {
    return this.last
  }
}
