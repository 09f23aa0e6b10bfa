/**
 * Fakes for the alerting duty's unit tests: replicated config in memory
 * (every write passes `checkMonitoringEntry`, as every receiver's store
 * applies it), a static membership, health reports, and a fetch that
 * records what the Alertmanager and webhook targets were sent.
 */
import pino from 'pino'
import { Registry } from 'prom-client'
import type { PlacementConfig } from '../../../managers/placement-duty.js'
import { AlertingDuty } from '../../../managers/monitoring/alerting-duty.js'
import { alertingMetrics } from '../../../managers/monitoring/alerting-metrics.js'
import { alertingTunables, type AlertingTunables } from '../../../managers/monitoring/alerting-tunables.js'
import { anomalyTunables } from '../../../managers/monitoring/anomaly-tunables.js'
import { deliveryMetrics, type FetchLike } from '../../../managers/monitoring/delivery.js'
import { checkMonitoringEntry, MONITORING_NAMESPACE as NS, ALERTS_PREFIX } from '../../../managers/monitoring/records.js'
import { RULES_KEY, INHIBIT_RULES_KEY } from '../../../managers/monitoring/rules-record.js'
import { seriesStoreTunables } from '../../../managers/monitoring/series-store.js'
import type { HealthReport } from '../../../protocols/health/index.js'
import type { Member, MemberState } from '../../../protocols/membership/types.js'

export const REGION = 'eu'
export const [A, B, C] = ['12D3KooWa', '12D3KooWb', '12D3KooWc']
export const AM = 'http://am.test:9093'
export const HOOK = 'http://hook.test/alerts'

type Entry = { value: unknown, writer?: string }

/** One store shared by every duty; `view(name)` is one node's handle on it, its writes tagged with its name. */
export class FakeStore {
  readonly data = new Map<string, Entry>()
  readonly ops: Array<{ by: string, op: 'write' | 'delete', key: string, value?: unknown }> = []
  /** A write of a key this says no to is refused, as a namespace check or the value size limit would. */
  refuse: (key: string, value: unknown) => boolean = () => false

  view (name: string): PlacementConfig {
    return {
      entries: (ns) => ns === NS ? [...this.data].sort(([a], [b]) => a < b ? -1 : 1) : [],
      write: async (ns, key, value, opts = {}) => {
        if (ns !== NS) throw new Error(`unexpected namespace ${ns}`)
        if (opts.deleted === true) {
          if (this.data.delete(key)) this.ops.push({ by: name, op: 'delete', key })
          return {}
        }
        checkMonitoringEntry(key, value)
        if (this.refuse(key, value)) throw new Error(`write of ${key} refused`)
        // Stored as a receiver decodes it: a copy, so later changes of the writer's objects do not leak in.
        this.data.set(key, { value: JSON.parse(JSON.stringify(value)), writer: name })
        this.ops.push({ by: name, op: 'write', key, value })
        return {}
      },
      onChange: () => () => {}
    }
  }

  /** Set an entry as an operator's API call would have (checked, not counted in `ops`). */
  put (key: string, value: unknown): void {
    checkMonitoringEntry(key, value)
    this.data.set(key, { value, writer: 'operator' })
  }

  setRules (text: string, at = 1): void { this.put(RULES_KEY, { v: 1, text, setAt: at }) }
  setInhibit (text: string, at = 1): void { this.put(INHIBIT_RULES_KEY, { v: 1, text, setAt: at }) }

  /** Writes and deletes of alert records, `<by> <op> <state>`. */
  alertOps (): string[] {
    return this.ops.filter(o => o.key.startsWith(ALERTS_PREFIX)).map(o => `${o.by} ${o.op}${o.op === 'write' ? ` ${(o.value as { alert: { s: string } }).alert.s}` : ''}`)
  }

  stored (): Array<{ term: number, group: string, rule: string, alert: { l: Record<string, string>, s: string, fired?: number, resolved?: number } }> {
    return [...this.data].filter(([k]) => k.startsWith(ALERTS_PREFIX)).map(([, e]) => e.value as any)
  }
}

export class FakeMembership {
  readonly list: Member[]
  constructor (ids: string[] = [A, B, C]) {
    this.list = ids.map(peerId => ({ peerId, state: 'alive', incarnation: 0, region: REGION, roles: [], addrs: [], version: '0.1.0', lastSeen: 0 }))
  }

  self (): Member { return this.list[0] }
  members (): Member[] { return this.list.map(m => ({ ...m })) }
  set (peerId: string, state: MemberState): void { this.list.find(m => m.peerId === peerId)!.state = state }
}

export function report (peerId: string, extra: Partial<HealthReport> = {}): HealthReport {
  return {
    v: 1, peerId, region: REGION, issuedAt: Date.now(), uptimeSeconds: 1, version: '0.1.0', roles: [], load: [0, 0, 0], cpus: 4,
    memory: { rssBytes: 1, heapUsedBytes: 1, totalBytes: 16e9, freeBytes: 8e9 }, diskFreeBytes: 1e11, checks: [], ...extra
  }
}

export interface Sent { url: string, body: any }

/** A fetch standing in for the targets: records each request; `answer` decides the reply (a promise that may never settle: a hung target). */
export class FakeTargets {
  readonly sent: Sent[] = []
  answer: (url: string, body: any) => Promise<number> | number = () => 200
  readonly fetch: FetchLike = async (url, init) => {
    const body = JSON.parse(init.body)
    this.sent.push({ url, body })
    const status = await new Promise<number>((resolve, reject) => {
      init.signal.addEventListener('abort', () => { reject(init.signal.reason) }, { once: true })
      Promise.resolve(this.answer(url, body)).then(resolve, reject)
    })
    return { ok: status >= 200 && status < 300, status, text: async () => '' }
  }

  /** Alerts posted to the Alertmanager, `<alertname> <firing|resolved> <startsAt>`. */
  am (): string[] {
    return this.sent.filter(s => s.url.startsWith(AM)).flatMap(s => (s.body as Array<{ labels: Record<string, string>, startsAt: string, endsAt: string }>)
      .map(a => `${a.labels.alertname} ${Date.parse(a.endsAt) <= Date.now() ? 'resolved' : 'firing'} ${a.startsAt}`))
  }

  /** Alerts notified to the webhook, `<alertname> <status> <startsAt>` (each message's alerts in order). */
  hook (): string[] {
    return this.sent.filter(s => s.url === HOOK).flatMap(s => (s.body as { alerts: Array<{ labels: Record<string, string>, status: string, startsAt: string }> }).alerts
      .map(a => `${a.labels.alertname}${a.labels.peer !== undefined ? `{${a.labels.peer}}` : ''} ${a.status} ${a.startsAt}`))
  }
}

export interface DutyParts {
  duty: AlertingDuty
  config: PlacementConfig
  targets: FakeTargets
  registry: Registry
}

export const tunables: AlertingTunables = alertingTunables.defaults('test')

/** A duty of one node over `store`, with its own targets and metrics. */
export function makeDuty (store: FakeStore, name: string, membership: FakeMembership, reports: () => HealthReport[], targets = new FakeTargets()): DutyParts {
  const registry = new Registry()
  const config = store.view(name)
  const duty = new AlertingDuty({
    region: REGION,
    config: () => config,
    membership,
    health: { reports: () => reports().map(report => ({ report })) },
    tunables,
    store: seriesStoreTunables.defaults('test'),
    anomaly: anomalyTunables.defaults('test'),
    targets: { alertmanagers: [AM], webhooks: [HOOK] },
    metrics: alertingMetrics(registry),
    deliveryMetrics: deliveryMetrics(registry),
    logger: pino({ level: 'silent' }),
    fetch: targets.fetch
  })
  return { duty, config, targets, registry }
}

export const MEMBER_DOWN_RULES = `groups:
  - name: members
    rules:
      - alert: MemberDown
        expr: mycel_member_up == 0
        for: 2s
        labels: { severity: page }
        annotations: { summary: "{{ $labels.peer }} is down" }
`
