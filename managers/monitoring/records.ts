/**
 * What the monitoring managers keep in replicated config, namespace
 * `mycel.monitoring`, so every node can show it (`GET /v1/alerts`, `mycel
 * alerts`) and the next holder of a region's monitoring role continues from
 * it (docs/monitoring.md "Where the state lives"):
 *
 *   rules                               the alert rule file (rules-record.ts)
 *   inhibit-rules                       the inhibition rules (rules-record.ts)
 *   silences/<id>                       one silence (silences.ts); expired ones are kept until MAX_SILENCES
 *   alerts/<region>/<fingerprint>       one alert of the region: its lifecycle state (alert-lifecycle.ts)
 *                                       with the rule it belongs to and the term of the holder that wrote it
 *   nflog/<region>/<target>/<fingerprint>  what a webhook target was last told about an alert (notification-log.ts)
 *
 * One key per alert, not one per rule or region: a record stays small
 * whatever a rule matches (a config value is at most 64 KiB), and a holder
 * writes only the alerts whose state changed. Alerts are written on their
 * transitions (new, firing, resolved, forgotten), not on every evaluation:
 * values and annotations that follow `$value` are refreshed by the next
 * holder's first evaluation anyway.
 *
 * Every node checks every value with `checkMonitoringEntry` (registered by
 * the agent beside the other built-in namespaces): the writer runs the same
 * check before it writes, so what one node accepts, all accept.
 */
import { z } from 'zod'
import { parseOrRefuse } from '../../lib/zod-issue.js'
import { REGION_PATTERN } from '../../lib/region.js'
import { alertRecordSchema } from './alert-lifecycle.js'
import { notificationEntrySchema } from './notification-log.js'
import { parseSilence } from './silences.js'
import { parseRuleFile } from './rule-file.js'
import { parseInhibitFile } from './inhibit-file.js'
import { INHIBIT_RULES_KEY, InvalidMonitoringRecordError, parseTextRecord, RULES_KEY } from './rules-record.js'

/** The replicated-config namespace of rules, silences, alerts and the notification log. */
export const MONITORING_NAMESPACE = 'mycel.monitoring'

export const SILENCES_PREFIX = 'silences/'
export const ALERTS_PREFIX = 'alerts/'
export const NFLOG_PREFIX = 'nflog/'

const FINGERPRINT = /^[0-9a-f]{16}$/
const TARGET = /^[0-9a-f]{16}$/
const term = z.number().int().nonnegative()

/** One alert of a region as stored: the rule it belongs to (group and alert name) and the term of the holder that wrote it. */
export const storedAlertSchema = z.strictObject({
  v: z.literal(1),
  term,
  group: z.string().min(1).max(128),
  rule: z.string().min(1).max(128),
  alert: alertRecordSchema
})
export type StoredAlert = z.infer<typeof storedAlertSchema>

export const storedNotificationSchema = z.strictObject({
  v: z.literal(1),
  term,
  entry: notificationEntrySchema
})
export type StoredNotification = z.infer<typeof storedNotificationSchema>

export function alertKey (region: string, fingerprint: string): string {
  return `${ALERTS_PREFIX}${region}/${fingerprint}`
}

export function nflogKey (region: string, target: string, fingerprint: string): string {
  return `${NFLOG_PREFIX}${region}/${target}/${fingerprint}`
}

export function silenceKey (id: string): string {
  return `${SILENCES_PREFIX}${id}`
}

const refuse = (m: string): Error => new InvalidMonitoringRecordError(m)

function keyParts (key: string, prefix: string, n: number): string[] {
  const parts = key.slice(prefix.length).split('/')
  if (parts.length !== n) throw new InvalidMonitoringRecordError(`monitoring key ${JSON.stringify(key.slice(0, 100))} is not ${prefix}${n === 2 ? '<region>/<fingerprint>' : '<region>/<target>/<fingerprint>'}`)
  return parts
}

/**
 * The built-in rule of MONITORING_NAMESPACE. Throws
 * InvalidMonitoringRecordError, InvalidRuleFileError, InvalidInhibitFileError
 * or InvalidSilenceError naming the problem.
 */
export function checkMonitoringEntry (key: string, value: unknown): void {
  if (key === RULES_KEY) { parseTextRecord('rule file', value, parseRuleFile); return }
  if (key === INHIBIT_RULES_KEY) { parseTextRecord('inhibit rules', value, parseInhibitFile); return }
  if (key.startsWith(SILENCES_PREFIX)) {
    const s = parseSilence(value)
    if (silenceKey(s.id) !== key) throw new InvalidMonitoringRecordError(`silence ${s.id} stored under key ${JSON.stringify(key.slice(0, 100))}`)
    return
  }
  if (key.startsWith(ALERTS_PREFIX)) {
    const [region, fp] = keyParts(key, ALERTS_PREFIX, 2)
    if (!REGION_PATTERN.test(region) || !FINGERPRINT.test(fp)) throw new InvalidMonitoringRecordError(`monitoring key ${JSON.stringify(key.slice(0, 100))} is not alerts/<region>/<fingerprint>`)
    parseOrRefuse(storedAlertSchema, value, 'alert record', refuse)
    return
  }
  if (key.startsWith(NFLOG_PREFIX)) {
    const [region, target, fp] = keyParts(key, NFLOG_PREFIX, 3)
    if (!REGION_PATTERN.test(region) || !TARGET.test(target) || !FINGERPRINT.test(fp)) throw new InvalidMonitoringRecordError(`monitoring key ${JSON.stringify(key.slice(0, 100))} is not nflog/<region>/<target>/<fingerprint>`)
    parseOrRefuse(storedNotificationSchema, value, 'notification log entry', refuse)
    return
  }
  throw new InvalidMonitoringRecordError(`monitoring key ${JSON.stringify(key.slice(0, 100))} is none of rules, inhibit-rules, silences/<id>, alerts/<region>/<fingerprint>, nflog/<region>/<target>/<fingerprint>`)
}

type Entries = Iterable<readonly [string, { value: unknown, writer?: string }]>

/** The valid entries under `prefix`, by key; invalid ones (from an older rule) are skipped. */
export function validEntries<T> (entries: Entries, prefix: string, pick: (key: string, value: unknown) => T): Map<string, T> {
  const out = new Map<string, T>()
  for (const [key, { value }] of entries) {
    if (!key.startsWith(prefix)) continue
    try {
      checkMonitoringEntry(key, value)
      out.set(key, pick(key, value))
    } catch { /* refused on arrival; one from an older release's rule is skipped */ }
  }
  return out
}
