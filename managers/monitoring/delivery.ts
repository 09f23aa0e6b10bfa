/**
 * Delivery of alert notifications to one target: an Alertmanager (v2 API)
 * or a webhook (Alertmanager's webhook payload). One `Delivery` per target,
 * started and stopped by the monitoring manager's holder.
 *
 * Shape, after Prometheus's notifier (notifier/notifier.go):
 *
 *   - a bounded queue per target: `enqueue` never blocks and never grows
 *     the queue past `queueCapacity`; beyond it the OLDEST items are dropped
 *     and counted (`mycel_alert_notifications_dropped_total`), because a
 *     newer state of an alert supersedes an older one and the lifecycle
 *     re-sends firing alerts anyway. A target that is down therefore costs
 *     at most `queueCapacity` items of memory, whatever the alert rate.
 *   - items with the same `keyOf` (an alert's fingerprint) coalesce: the
 *     newer replaces the queued one in its place, so a slow target gets the
 *     latest state once rather than every intermediate one.
 *   - batches of up to `maxBatch` items (Prometheus: 64 alerts a POST;
 *     webhooks: one message a POST), one request in flight per target.
 *   - unlike Prometheus (which relies on its next resend), each batch is
 *     retried up to `maxAttempts` times with exponential backoff, each
 *     attempt under its own timeout (an AbortSignal the stop signal also
 *     aborts). A 4xx other than 408/429 is not retried: the same body
 *     would be refused again. A batch that used its attempts is dropped and
 *     counted as `failed`; the alerts stay in the lifecycle state, which
 *     re-sends them (Alertmanager) or the notification log still lacks them
 *     (webhooks), so the next round offers them again.
 *   - `onDelivered(batch, at)` reports what the target acknowledged (2xx),
 *     for the notification log (its at-least-once contract is written in
 *     notification-log.ts).
 */
import type { Registry } from 'prom-client'
import { sleep as defaultSleep } from '../../lib/clock.js'
import { metricsOn } from '../../lib/metrics.js'
import { postableAlert, type WebhookMessage } from './payloads.js'
import type { OutgoingAlert } from './alert-lifecycle.js'

export type TargetKind = 'alertmanager' | 'webhook'

export interface DeliveryOptions {
  /** Items queued at most; the oldest beyond are dropped. @default 10_000 (Prometheus's notifier queue) for Alertmanager, 1000 for webhooks */
  queueCapacity?: number
  /** Items per request. @default 64 (Prometheus) for Alertmanager, 1 for webhooks (one message a request) */
  maxBatch?: number
  /** One attempt's deadline, ms: a hung target must not hold the queue. @default 10_000 (Prometheus's notifier timeout) */
  timeoutMs?: number
  /** Attempts per batch, the first included. @default 4 */
  maxAttempts?: number
  /** Wait after the first failed attempt, ms; doubles each retry. @default 500 */
  backoffMs?: number
  /** Longest wait between attempts, ms: 4 attempts span about 3.5 s at the defaults, far below the 1 min resend delay. @default 5000 */
  maxBackoffMs?: number
}

const DEFAULTS: Record<TargetKind, Required<DeliveryOptions>> = {
  alertmanager: { queueCapacity: 10_000, maxBatch: 64, timeoutMs: 10_000, maxAttempts: 4, backoffMs: 500, maxBackoffMs: 5000 },
  webhook: { queueCapacity: 1000, maxBatch: 1, timeoutMs: 10_000, maxAttempts: 4, backoffMs: 500, maxBackoffMs: 5000 }
}

/** The delivery metrics, one factory for every target (labels keep them apart). */
export function deliveryMetrics (registry?: Registry) {
  const m = metricsOn(registry)
  return {
    notifications: m.counter<'target_kind' | 'result'>({
      name: 'mycel_alert_notifications_total',
      help: 'Alerts (Alertmanager) or messages (webhooks) handed to a target, by result: sent (acknowledged) or failed (every attempt failed)',
      labelNames: ['target_kind', 'result']
    }),
    dropped: m.counter<'target_kind'>({
      name: 'mycel_alert_notifications_dropped_total',
      help: 'Alerts or messages dropped unsent because the target\'s queue was full or the sender stopped',
      labelNames: ['target_kind']
    }),
    queueLength: m.gauge<'target_kind' | 'target'>({
      name: 'mycel_alert_notification_queue_length',
      help: 'Alerts or messages waiting for a target',
      labelNames: ['target_kind', 'target']
    })
  }
}
export type DeliveryMetrics = ReturnType<typeof deliveryMetrics>

export interface DeliveryInit<T> {
  kind: TargetKind
  /** The target's base URL (an Alertmanager's, or the webhook's full URL). */
  url: string
  /** Sends one batch; throws on failure (a `TargetError` says whether to retry). Must honour `signal`. */
  send: (batch: T[], signal: AbortSignal) => Promise<void>
  /** Items with one key coalesce in the queue (newest wins). */
  keyOf?: (item: T) => string
  onDelivered?: (batch: readonly T[], at: number) => void
  options?: DeliveryOptions
  metrics?: DeliveryMetrics
  now?: () => number
  /** Abortable wait between attempts (tests pass an instant one). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>
}

/** A target answered, but not 2xx. */
export class TargetError extends Error {
  static name = 'TargetError'
  override name = 'TargetError'
  constructor (readonly url: string, readonly httpStatus: number, body: string) {
    super(`${url} answered ${httpStatus}${body !== '' ? `: ${body.slice(0, 200)}` : ''}`)
  }

  /** 408 and 429 say "later"; every 5xx may pass; another 4xx refuses the body itself. */
  get retryable (): boolean {
    return this.httpStatus >= 500 || this.httpStatus === 408 || this.httpStatus === 429
  }
}

export class Delivery<T> {
  readonly kind: TargetKind
  readonly url: string
  private readonly opts: Required<DeliveryOptions>
  private readonly metrics: DeliveryMetrics
  /** Queued items by key, oldest first (a Map keeps insertion order, and a replaced value keeps its place). */
  private queue = new Map<string, T>()
  private seq = 0
  private shutdown?: AbortController
  private loop?: Promise<void>
  private wake?: () => void
  private idleWaiters: Array<() => void> = []
  private busy = false

  constructor (private readonly init: DeliveryInit<T>) {
    this.kind = init.kind
    this.url = init.url
    this.opts = { ...DEFAULTS[init.kind], ...init.options }
    this.metrics = init.metrics ?? deliveryMetrics()
  }

  get length (): number {
    return this.queue.size
  }

  /** Queue `items` (never blocks): same-key items replace queued ones, the oldest beyond capacity go. */
  enqueue (items: readonly T[]): void {
    const keyOf = this.init.keyOf
    for (const item of items) this.queue.set(keyOf !== undefined ? 'k' + keyOf(item) : 's' + String(this.seq++), item)
    const over = this.queue.size - this.opts.queueCapacity
    if (over > 0) {
      this.take(over)
      this.metrics.dropped.inc({ target_kind: this.kind }, over)
    }
    this.gauge()
    this.wake?.()
  }

  start (): void {
    if (this.shutdown !== undefined) return
    this.shutdown = new AbortController()
    this.loop = this.run(this.shutdown.signal)
  }

  /** Stop sending (an attempt in flight is aborted); what is still queued is dropped and counted. Safe to call twice. */
  async stop (): Promise<void> {
    const ctl = this.shutdown
    if (ctl === undefined) return
    ctl.abort()
    this.wake?.()
    await this.loop
    this.shutdown = undefined
    if (this.queue.size > 0) this.metrics.dropped.inc({ target_kind: this.kind }, this.queue.size)
    this.queue.clear()
    this.gauge()
    this.settleIdle()
  }

  /** Resolves when the queue is empty and no batch is in flight (tests, and a holder handing over). */
  async idle (): Promise<void> {
    if (this.queue.size === 0 && !this.busy) return
    await new Promise<void>(resolve => this.idleWaiters.push(resolve))
  }

  private async run (signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      if (this.queue.size === 0) {
        this.settleIdle()
        await new Promise<void>(resolve => { this.wake = resolve })
        this.wake = undefined
        continue
      }
      this.busy = true
      const batch = this.take(this.opts.maxBatch)
      this.gauge()
      await this.deliver(batch, signal)
      this.busy = false
    }
  }

  private async deliver (batch: T[], signal: AbortSignal): Promise<void> {
    const sleep = this.init.sleep ?? defaultSleep
    let wait = this.opts.backoffMs
    for (let attempt = 1; ; attempt++) {
      const attemptSignal = withTimeout(signal, this.opts.timeoutMs)
      try {
        await this.init.send(batch, attemptSignal.signal)
        this.metrics.notifications.inc({ target_kind: this.kind, result: 'sent' }, batch.length)
        this.init.onDelivered?.(batch, (this.init.now ?? Date.now)())
        return
      } catch (err) {
        const final = signal.aborted || attempt >= this.opts.maxAttempts || (err instanceof TargetError && !err.retryable)
        if (final) {
          if (signal.aborted) this.metrics.dropped.inc({ target_kind: this.kind }, batch.length)
          else this.metrics.notifications.inc({ target_kind: this.kind, result: 'failed' }, batch.length)
          return
        }
      } finally {
        attemptSignal.done()
      }
      await sleep(wait, signal)
      wait = Math.min(wait * 2, this.opts.maxBackoffMs)
    }
  }

  /** Remove and return the `n` oldest items. */
  private take (n: number): T[] {
    const out: T[] = []
    for (const [key, item] of this.queue) {
      if (out.length >= n) break
      out.push(item)
      this.queue.delete(key)
    }
    return out
  }

  private gauge (): void {
    this.metrics.queueLength.set({ target_kind: this.kind, target: this.url }, this.queue.size)
  }

  private settleIdle (): void {
    const waiters = this.idleWaiters
    this.idleWaiters = []
    for (const w of waiters) w()
  }
}

/**
 * A signal that aborts when `parent` does or `ms` pass; `done()` releases
 * the timer and the listener. (Not `AbortSignal.any`: on Node 20 every
 * signal it makes stays referenced from the long-lived parent.)
 */
function withTimeout (parent: AbortSignal, ms: number): { signal: AbortSignal, done: () => void } {
  const ctl = new AbortController()
  const onAbort = (): void => { ctl.abort(parent.reason) }
  if (parent.aborted) onAbort()
  else parent.addEventListener('abort', onAbort, { once: true })
  const timer = setTimeout(() => { ctl.abort(new DOMException(`no answer within ${ms} ms`, 'TimeoutError')) }, ms)
  timer.unref?.()
  return { signal: ctl.signal, done: () => { clearTimeout(timer); parent.removeEventListener('abort', onAbort) } }
}

export type FetchLike = (url: string, init: { method: string, headers: Record<string, string>, body: string, signal: AbortSignal }) => Promise<{ ok: boolean, status: number, text: () => Promise<string> }>

async function postJson (fetchFn: FetchLike, url: string, body: unknown, signal: AbortSignal, headers: Record<string, string> = {}): Promise<void> {
  const res = await fetchFn(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body), signal })
  if (!res.ok) throw new TargetError(url, res.status, await res.text().catch(() => ''))
  // Drain the body so the connection can be reused.
  await res.text().catch(() => '')
}

export interface AlertmanagerDeliveryInit {
  /** The Alertmanager's base URL, e.g. http://am:9093 (a path prefix is kept). */
  url: string
  generatorURL?: (a: OutgoingAlert) => string
  options?: DeliveryOptions
  metrics?: DeliveryMetrics
  fetch?: FetchLike
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>
  onDelivered?: (batch: readonly OutgoingAlert[], at: number) => void
}

/** A delivery to an Alertmanager: batches of postable alerts to `POST {url}/api/v2/alerts`, alerts coalesced by fingerprint. */
export function alertmanagerDelivery (init: AlertmanagerDeliveryInit): Delivery<OutgoingAlert> {
  const fetchFn = init.fetch ?? (fetch as unknown as FetchLike)
  const endpoint = `${init.url.replace(/\/+$/, '')}/api/v2/alerts`
  return new Delivery<OutgoingAlert>({
    kind: 'alertmanager',
    url: init.url,
    keyOf: a => a.fingerprint,
    send: async (batch, signal) => { await postJson(fetchFn, endpoint, batch.map(a => postableAlert(a, init.generatorURL?.(a))), signal) },
    ...optional(init)
  })
}

export interface WebhookDeliveryInit {
  /** The webhook's full URL. */
  url: string
  options?: DeliveryOptions
  metrics?: DeliveryMetrics
  fetch?: FetchLike
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>
  onDelivered?: (batch: readonly WebhookMessage[], at: number) => void
}

/** A delivery to a webhook: one message a POST, with the `Idempotency-Key` header; messages of one group coalesce (the newer carries the group's latest state). */
export function webhookDelivery (init: WebhookDeliveryInit): Delivery<WebhookMessage> {
  const fetchFn = init.fetch ?? (fetch as unknown as FetchLike)
  return new Delivery<WebhookMessage>({
    kind: 'webhook',
    url: init.url,
    keyOf: m => m.groupKey,
    send: async (batch, signal) => {
      for (const m of batch) await postJson(fetchFn, init.url, m, signal, { 'idempotency-key': m.idempotencyKey })
    },
    ...optional(init)
  })
}

function optional<T> (init: { options?: DeliveryOptions, metrics?: DeliveryMetrics, sleep?: (ms: number, signal: AbortSignal) => Promise<void>, onDelivered?: (batch: readonly T[], at: number) => void }): Partial<DeliveryInit<T>> {
  const out: Partial<DeliveryInit<T>> = {}
  if (init.options !== undefined) out.options = init.options
  if (init.metrics !== undefined) out.metrics = init.metrics
  if (init.sleep !== undefined) out.sleep = init.sleep
  if (init.onDelivered !== undefined) out.onDelivered = init.onDelivered
  return out
}
