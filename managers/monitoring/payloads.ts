/**
 * What goes on the wire to alert receivers, in the formats they already
 * read:
 *
 *   - Alertmanager's v2 API (`POST /api/v2/alerts`): an array of postable
 *     alerts `{labels, annotations, startsAt, endsAt, generatorURL}`, the
 *     times RFC 3339, as Prometheus's notifier sends them;
 *   - Alertmanager's webhook payload (notify/webhook, version "4"):
 *     `{version, groupKey, truncatedAlerts, status, receiver, groupLabels,
 *     commonLabels, commonAnnotations, externalURL, alerts[]}`, each alert
 *     `{status, labels, annotations, startsAt, endsAt, generatorURL,
 *     fingerprint}`, plus mycel's `idempotencyKey` (notification-log.ts),
 *     which receivers that do not know it ignore.
 */
import type { OutgoingAlert } from './alert-lifecycle.js'
import { idempotencyKey } from './notification-log.js'
import type { Labels } from './types.js'

/** Go's zero time, which Alertmanager writes as the `endsAt` of a firing alert in webhook payloads. */
const GO_ZERO_TIME = '0001-01-01T00:00:00Z'

export interface PostableAlert {
  labels: Labels
  annotations: Labels
  startsAt: string
  endsAt: string
  generatorURL?: string
}

/** One alert for Alertmanager's v2 API; `endsAt` as the lifecycle set it (resolvedAt, or Prometheus's validity rule). */
export function postableAlert (a: OutgoingAlert, generatorURL?: string): PostableAlert {
  return {
    labels: a.labels,
    annotations: a.annotations,
    startsAt: new Date(a.startsAt).toISOString(),
    endsAt: new Date(a.endsAt).toISOString(),
    ...(generatorURL !== undefined ? { generatorURL } : {})
  }
}

export interface WebhookAlert {
  status: 'firing' | 'resolved'
  labels: Labels
  annotations: Labels
  startsAt: string
  endsAt: string
  generatorURL: string
  fingerprint: string
}

export interface WebhookMessage {
  version: '4'
  groupKey: string
  truncatedAlerts: number
  status: 'firing' | 'resolved'
  receiver: string
  groupLabels: Labels
  commonLabels: Labels
  commonAnnotations: Labels
  externalURL: string
  alerts: WebhookAlert[]
  /** mycel's: the same for the same notification whoever sends it (notification-log.ts). */
  idempotencyKey: string
}

export interface WebhookGroup {
  receiver: string
  /** Identifies the group (Alertmanager: route and group labels); the coordinator's choice, stable across holders. */
  groupKey: string
  groupLabels: Labels
  externalURL: string
  alerts: readonly OutgoingAlert[]
  /** Per alert, e.g. a link to `mycel alerts`; '' when none. */
  generatorURL?: (a: OutgoingAlert) => string
  /** At most this many alerts in the body (Alertmanager's `max_alerts`; 0: all); the rest are counted in `truncatedAlerts`. */
  maxAlerts?: number
}

/** One webhook notification for a group of alerts, as Alertmanager's webhook notifier builds it. */
export function webhookMessage (g: WebhookGroup): WebhookMessage {
  const max = g.maxAlerts ?? 0
  const kept = max > 0 ? g.alerts.slice(0, max) : g.alerts
  const alerts = kept.map(a => ({
    status: a.status,
    labels: a.labels,
    annotations: a.annotations,
    startsAt: new Date(a.startsAt).toISOString(),
    endsAt: a.status === 'resolved' ? new Date(a.endsAt).toISOString() : GO_ZERO_TIME,
    generatorURL: g.generatorURL?.(a) ?? '',
    fingerprint: a.fingerprint
  }))
  return {
    version: '4',
    groupKey: g.groupKey,
    truncatedAlerts: g.alerts.length - kept.length,
    status: g.alerts.some(a => a.status === 'firing') ? 'firing' : 'resolved',
    receiver: g.receiver,
    groupLabels: g.groupLabels,
    commonLabels: common(g.alerts.map(a => a.labels)),
    commonAnnotations: common(g.alerts.map(a => a.annotations)),
    externalURL: g.externalURL,
    alerts,
    idempotencyKey: idempotencyKey(g.groupKey, g.alerts)
  }
}

/** The pairs every set has (Alertmanager's commonLabels / commonAnnotations). */
function common (sets: readonly Labels[]): Labels {
  const [first, ...rest] = sets
  if (first === undefined) return {}
  return Object.fromEntries(Object.entries(first).filter(([k, v]) => rest.every(s => s[k] === v)))
}
