/**
 * The notification log: per (target, alert fingerprint), what was last
 * delivered there (status, the alert's `startsAt`, when). It is
 * Alertmanager's nflog reduced to what a holder change needs: the
 * coordinator keeps the entries in replicated config, so the next holder
 * of the monitoring role neither sends again what its predecessor
 * delivered nor forgets a resolve it owes.
 *
 * `decide` is pure. For one alert and its entry at one target:
 *
 *   - a firing alert whose episode (`startsAt`) the target has not been told
 *     of: send;
 *   - a firing alert the target was told of: send again once
 *     `repeatIntervalMs` has passed since (Alertmanager's `repeat_interval`,
 *     default 4 h), else skip;
 *   - a resolved alert whose firing the target was told of: send; once its
 *     resolve is logged: skip;
 *   - a resolved alert whose firing the target never heard of (it fired and
 *     resolved while silenced, or between two sends): skip, as Alertmanager
 *     sends no resolve for an alert it never notified.
 *
 * Delivery guarantees (the coordinator writes the entry after the target
 * acknowledged, i.e. answered 2xx):
 *
 *   - At-least-once, per target, for a firing notification and for the
 *     resolve of a notified alert: nothing is logged before it was
 *     acknowledged, so a send that failed, timed out or was never made (the
 *     holder died) is made again by whoever holds the role next.
 *   - Not exactly-once. A duplicate happens when the holder dies (or loses
 *     the role, or the log write does not replicate) between the target's
 *     acknowledgement and the log entry: the next holder sends the same
 *     notification again. Retries after a timeout whose request did arrive
 *     duplicate the same way (alertmanager#4108). In that same window a
 *     resolve can be lost: if the alert resolves before the next holder's
 *     first send, the target never knew (in the log) it fired, so the
 *     resolve is skipped; the receiver then sees the alert end by itself
 *     only if it expires alerts (Alertmanager does, at `endsAt`).
 *   - Receivers dedupe with the stable key `idempotencyKey` (sent in the
 *     webhook body as `idempotencyKey` and as the `Idempotency-Key` header):
 *     it is derived from the group key and each alert's fingerprint,
 *     `startsAt` and status, so a repeat of the same notification carries
 *     the same key whoever sends it, and a changed one a new key.
 *
 * Alertmanager targets need no log: Alertmanager itself dedupes by
 * fingerprint, and the lifecycle's `lastSentAt` (in the replicated alert
 * state) already drives Prometheus's resend rule there.
 */
import { createHash } from 'node:crypto'
import { z } from 'zod'

/** Alertmanager's default `repeat_interval`: a still-firing alert is notified again this often. */
export const DEFAULT_REPEAT_INTERVAL_MS = 4 * 3600_000
/** Entries kept after their last send (Alertmanager's nflog default retention, 120 h): longer than any repeat interval. */
export const NOTIFICATION_RETENTION_MS = 120 * 3600_000

export type NotifiedStatus = 'firing' | 'resolved'

/** What one target was last told about one alert. Times are unix ms. */
export interface NotificationEntry {
  status: NotifiedStatus
  /** The alert's `startsAt` (its episode): a new episode of the same label set is a new alert. */
  startsAt: number
  sentAt: number
}

const unixMs = z.number().int().min(0).max(8.64e15)

export const notificationEntrySchema: z.ZodType<NotificationEntry> = z.object({
  status: z.enum(['firing', 'resolved']),
  startsAt: unixMs,
  sentAt: unixMs
}).strict()

/** The alert as the log needs it. */
export interface AlertNotice {
  fingerprint: string
  status: NotifiedStatus
  startsAt: number
}

export type Decision = 'send' | 'skip'

/** Should `alert` be sent to the target whose entry for it is `entry` (undefined: none)? See the header. */
export function decide (entry: NotificationEntry | undefined, alert: AlertNotice, now: number, repeatIntervalMs = DEFAULT_REPEAT_INTERVAL_MS): Decision {
  const sameEpisode = entry !== undefined && entry.startsAt === alert.startsAt
  if (alert.status === 'resolved') return sameEpisode && entry.status === 'firing' ? 'send' : 'skip'
  if (!sameEpisode || entry.status !== 'firing') return 'send'
  return now - entry.sentAt >= repeatIntervalMs ? 'send' : 'skip'
}

/** The entry to write once the target acknowledged `alert` at `sentAt`. */
export function recordSent (alert: AlertNotice, sentAt: number): NotificationEntry {
  return { status: alert.status, startsAt: alert.startsAt, sentAt }
}

/** A short stable id of a target (its URL), for log keys: 16 hex digits of SHA-256. */
export function targetId (url: string): string {
  return createHash('sha256').update(url).digest('hex').slice(0, 16)
}

/** Keys whose entries may go: last sent more than `retentionMs` ago (a still-firing alert is re-sent, and so re-written, long before). */
export function expiredEntries (log: Iterable<readonly [string, NotificationEntry]>, now: number, retentionMs = NOTIFICATION_RETENTION_MS): string[] {
  const out: string[] = []
  for (const [key, e] of log) if (now - e.sentAt > retentionMs) out.push(key)
  return out.sort()
}

/**
 * The receivers' dedupe key of one notification: SHA-256 (hex) over the
 * group key and, in fingerprint order, each alert's fingerprint, `startsAt`
 * and status. The same notification sent twice (a retry, a new holder)
 * carries the same key; any change of the alerts or their state a new one.
 */
export function idempotencyKey (groupKey: string, alerts: readonly AlertNotice[]): string {
  const h = createHash('sha256').update(groupKey).update('\n')
  for (const a of [...alerts].sort((x, y) => x.fingerprint < y.fingerprint ? -1 : x.fingerprint > y.fingerprint ? 1 : 0)) {
    h.update(`${a.fingerprint} ${a.startsAt} ${a.status}\n`)
  }
  return h.digest('hex')
}
