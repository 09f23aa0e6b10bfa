/**
 * The holder's deliveries in one term: one queue per Alertmanager and per
 * webhook (delivery.ts), fed every round with what is due.
 *
 *  - Alertmanagers get Prometheus's protocol: every firing alert that is not
 *    muted, again every resend delay, with `endsAt` ahead (it ends there
 *    by itself if we stop sending), and each resolve with its `endsAt`.
 *    Alertmanager dedupes by labels and startsAt; muting a firing alert
 *    just stops sending it, and Alertmanager lets it end at `endsAt`.
 *  - Webhooks get a notification when the notification log
 *    (notification-log.ts, kept in replicated config under
 *    `nflog/<region>/<target>/<fingerprint>`) says the target has not heard
 *    of this firing episode or its resolve, or the repeat interval passed.
 *    The log entry is written once the target acknowledged; an item queued
 *    or in flight is not offered again for `inFlightMs`, so a slow target
 *    is not sent the same notification twice by one holder. The region's
 *    alerts are one group, whose queued message a newer one replaces: the
 *    newer carries the alerts of the one it replaces.
 */
import type { Logger } from 'pino'
import type { PlacementConfig } from '../placement-duty.js'
import { dueForSending, type Alert, type OutgoingAlert } from './alert-lifecycle.js'
import type { RuleStates } from './alert-records.js'
import type { AlertingTunables } from './alerting-tunables.js'
import { alertmanagerDelivery, webhookDelivery, type Delivery, type DeliveryMetrics, type FetchLike } from './delivery.js'
import { fingerprint } from './matchers.js'
import { decide, expiredEntries, recordSent, targetId, type NotificationEntry } from './notification-log.js'
import { webhookMessage, type WebhookMessage } from './payloads.js'
import { MONITORING_NAMESPACE, NFLOG_PREFIX, nflogKey, validEntries, type StoredNotification } from './records.js'
import type { Muting } from './suppression.js'

export interface AlertSenderInit {
  region: string
  term: number
  targets: { alertmanagers: readonly string[], webhooks: readonly string[] }
  tunables: Readonly<AlertingTunables>
  metrics: DeliveryMetrics
  logger: Logger
  config: () => PlacementConfig | undefined
  fetch?: FetchLike
}

type Entries = Iterable<readonly [string, { value: unknown, writer?: string }]>

function outgoing (a: Alert, now: number, validForMs: number): OutgoingAlert {
  return {
    labels: a.labels,
    annotations: a.annotations,
    status: a.state === 'resolved' ? 'resolved' : 'firing',
    startsAt: a.firedAt ?? a.activeAt,
    endsAt: a.resolvedAt ?? now + validForMs,
    fingerprint: fingerprint(a.labels)
  }
}

export class AlertSender {
  private readonly ams: Array<Delivery<OutgoingAlert>>
  /** `queued`: the alerts of the message last handed to the webhook's queue. */
  private readonly hooks: Array<{ id: string, delivery: Delivery<WebhookMessage>, queued: OutgoingAlert[] }>
  private readonly nflog = new Map<string, NotificationEntry>()
  private readonly inFlight = new Map<string, number>()

  constructor (private readonly init: AlertSenderInit) {
    const common = { metrics: init.metrics, ...(init.fetch !== undefined ? { fetch: init.fetch } : {}) }
    this.ams = init.targets.alertmanagers.map(url => alertmanagerDelivery({ url, ...common }))
    this.hooks = init.targets.webhooks.map(url => {
      const id = targetId(url)
      return { id, delivery: webhookDelivery({ url, ...common, onDelivered: (batch, at) => { void this.logDelivered(id, batch, at) } }), queued: [] }
    })
  }

  /** Read the region's notification log (before the first round). */
  load (entries: Entries): void {
    const prefix = `${NFLOG_PREFIX}${this.init.region}/`
    for (const [key, n] of validEntries(entries, prefix, (_k, v) => v as StoredNotification)) {
      const have = this.nflog.get(key)
      if (have === undefined || have.sentAt < n.entry.sentAt) this.nflog.set(key, n.entry)
    }
  }

  start (): void {
    for (const d of this.ams) d.start()
    for (const h of this.hooks) h.delivery.start()
  }

  async stop (): Promise<void> {
    await Promise.all([...this.ams.map(async d => { await d.stop() }), ...this.hooks.map(async h => { await h.delivery.stop() })])
  }

  /** Queue what is due at `now`; records the Alertmanager sends in `states` (Prometheus's lastSentAt). */
  async send (states: RuleStates, intervalOf: (ruleKey: string) => number, muted: ReadonlyMap<string, Muting>, entries: Entries, now: number): Promise<void> {
    // Again each round, not only at the start: a deposed holder's late log write (a delivery it made) is then
    // heeded before this holder offers the same notification. Only webhooks have a log.
    if (this.hooks.length > 0) this.load(entries)
    const resendDelayMs = this.init.tunables.resendDelayMs
    const open = (a: Alert): boolean => a.state === 'resolved' || (a.state === 'firing' && !muted.has(fingerprint(a.labels)))
    if (this.ams.length > 0) {
      const batch: OutgoingAlert[] = []
      for (const [key, s] of states.byRule) {
        const sendable = s.state.alerts.filter(open)
        if (sendable.length === 0) continue
        const due = dueForSending({ alerts: sendable }, now, { resendDelayMs, intervalMs: intervalOf(key) })
        const sent = new Map(due.state.alerts.map(a => [fingerprint(a.labels), a]))
        s.state = { alerts: s.state.alerts.map(a => sent.get(fingerprint(a.labels)) ?? a) }
        batch.push(...due.alerts)
      }
      if (batch.length > 0) for (const d of this.ams) d.enqueue(batch)
    }
    for (const h of this.hooks) {
      const alerts: OutgoingAlert[] = []
      for (const s of states.byRule.values()) {
        for (const a of s.state.alerts) {
          if (!open(a)) continue
          const o = outgoing(a, now, 4 * resendDelayMs)
          const key = nflogKey(this.init.region, h.id, o.fingerprint)
          const flight = `${key}/${o.status}/${o.startsAt}`
          if ((this.inFlight.get(flight) ?? 0) > now) continue
          if (decide(this.nflog.get(key), { fingerprint: o.fingerprint, status: o.status, startsAt: o.startsAt }, now, this.init.tunables.repeatIntervalMs) === 'send') {
            alerts.push(o)
            this.inFlight.set(flight, now + this.init.tunables.inFlightMs)
          }
        }
      }
      if (alerts.length > 0) {
        // One group a region: the queue keeps one message of it and a newer
        // one replaces it. While the previous message still waits (one is in
        // flight before it), the new one carries its alerts too, or they would
        // go out only when their in-flight mark lapses.
        if (h.delivery.length > 0) {
          const fresh = new Set(alerts.map(a => a.fingerprint))
          alerts.unshift(...h.queued.filter(a => !fresh.has(a.fingerprint)))
        }
        h.queued = alerts
        h.delivery.enqueue([webhookMessage({ receiver: 'mycel', groupKey: `{}:{region="${this.init.region}"}`, groupLabels: { region: this.init.region }, externalURL: '', alerts })])
      }
    }
    for (const [k, until] of this.inFlight) if (until <= now) this.inFlight.delete(k)
    const config = this.init.config()
    if (config === undefined) return
    for (const key of expiredEntries(this.nflog, now)) {
      this.nflog.delete(key)
      await config.write(MONITORING_NAMESPACE, key, null, { deleted: true })
    }
  }

  /** The target acknowledged `batch`: log each alert, so no holder tells it again. */
  private async logDelivered (target: string, batch: readonly WebhookMessage[], at: number): Promise<void> {
    const config = this.init.config()
    for (const m of batch) {
      for (const a of m.alerts) {
        const key = nflogKey(this.init.region, target, a.fingerprint)
        const entry = recordSent({ fingerprint: a.fingerprint, status: a.status, startsAt: Date.parse(a.startsAt) }, at)
        this.nflog.set(key, entry)
        this.inFlight.delete(`${key}/${a.status}/${entry.startsAt}`)
        const value: StoredNotification = { v: 1, term: this.init.term, entry }
        try {
          await config?.write(MONITORING_NAMESPACE, key, value)
        } catch (err) {
          this.init.logger.warn({ err, key }, 'cannot log a delivered notification; the next holder may send it again')
        }
      }
    }
  }
}
