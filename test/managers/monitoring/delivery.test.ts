import { strict as assert } from 'node:assert'
import { execFileSync } from 'node:child_process'
import { Registry } from 'prom-client'
import { alertmanagerDelivery, deliveryMetrics, webhookDelivery, type DeliveryMetrics, type FetchLike } from '../../../managers/monitoring/delivery.js'
import { webhookMessage } from '../../../managers/monitoring/payloads.js'
import type { OutgoingAlert } from '../../../managers/monitoring/alert-lifecycle.js'
import { fingerprint } from '../../../managers/monitoring/matchers.js'

function alert (peer: string, status: 'firing' | 'resolved' = 'firing'): OutgoingAlert {
  const labels = { alertname: 'DiskFull', peer }
  return { labels, annotations: { summary: `disk on ${peer}` }, status, startsAt: 1_700_000_000_000, endsAt: 1_700_000_240_000, fingerprint: fingerprint(labels) }
}

interface Call { url: string, headers: Record<string, string>, body: any }

/** A fetch that answers from `answer` (a status, or 'hang' until aborted, or 'refuse'), recording calls. */
function fakeFetch (answer: (n: number) => number | 'hang' | 'refuse'): { fetch: FetchLike, calls: Call[] } {
  const calls: Call[] = []
  const fetch: FetchLike = async (url, init) => {
    calls.push({ url, headers: init.headers, body: JSON.parse(init.body) })
    const a = answer(calls.length)
    if (a === 'refuse') throw new TypeError('fetch failed: ECONNREFUSED')
    if (a === 'hang') {
      return await new Promise((_resolve, reject) => init.signal.addEventListener('abort', () => reject(init.signal.reason), { once: true }))
    }
    return { ok: a >= 200 && a < 300, status: a, text: async () => a >= 300 ? 'no' : '' }
  }
  return { fetch, calls }
}

async function counts (m: DeliveryMetrics): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  for (const v of (await m.notifications.get()).values) out[`${v.labels.target_kind as string}/${v.labels.result as string}`] = v.value
  for (const v of (await m.dropped.get()).values) out[`${v.labels.target_kind as string}/dropped`] = v.value
  return out
}

const instant = async (): Promise<void> => {}

describe('managers/monitoring/delivery', () => {
  let metrics: DeliveryMetrics
  let registry: Registry
  beforeEach(() => {
    registry = new Registry()
    metrics = deliveryMetrics(registry)
  })

  it('posts postable alerts to {url}/api/v2/alerts in batches of 64 and reports what was acknowledged', async () => {
    const { fetch, calls } = fakeFetch(() => 200)
    const delivered: number[] = []
    const d = alertmanagerDelivery({ url: 'http://am:9093/', fetch, metrics, sleep: instant, onDelivered: b => delivered.push(b.length), generatorURL: () => 'http://mycel/alerts' })
    d.enqueue(Array.from({ length: 100 }, (_, i) => alert(`p${i}`)))
    d.start()
    await d.idle()
    await d.stop()
    assert.deepEqual(calls.map(c => [c.url, c.body.length]), [['http://am:9093/api/v2/alerts', 64], ['http://am:9093/api/v2/alerts', 36]])
    assert.deepEqual(calls[0]?.body[0], {
      labels: { alertname: 'DiskFull', peer: 'p0' },
      annotations: { summary: 'disk on p0' },
      startsAt: '2023-11-14T22:13:20.000Z',
      endsAt: '2023-11-14T22:17:20.000Z',
      generatorURL: 'http://mycel/alerts'
    })
    assert.equal(calls[0]?.headers['content-type'], 'application/json')
    assert.deepEqual(delivered, [64, 36])
    assert.deepEqual(await counts(metrics), { 'alertmanager/sent': 100 })
  })

  it('retries a failed batch with doubling backoff, then succeeds', async () => {
    const { fetch, calls } = fakeFetch(n => n <= 2 ? 503 : 200)
    const waits: number[] = []
    const d = alertmanagerDelivery({ url: 'http://am', fetch, metrics, sleep: async (ms) => { waits.push(ms) } })
    d.enqueue([alert('p1')])
    d.start()
    await d.idle()
    await d.stop()
    assert.equal(calls.length, 3)
    assert.deepEqual(waits, [500, 1000])
    assert.deepEqual(await counts(metrics), { 'alertmanager/sent': 1 })
  })

  it('bounded retries: gives up after maxAttempts and counts failed; a 400 is not retried', async () => {
    const down = fakeFetch(() => 'refuse')
    const d = alertmanagerDelivery({ url: 'http://am', fetch: down.fetch, metrics, sleep: instant, options: { maxAttempts: 3 } })
    d.enqueue([alert('p1'), alert('p2')])
    d.start()
    await d.idle()
    assert.equal(down.calls.length, 3)
    const bad = fakeFetch(() => 400)
    const d2 = alertmanagerDelivery({ url: 'http://am2', fetch: bad.fetch, metrics, sleep: instant })
    d2.enqueue([alert('p3')])
    d2.start()
    await d2.idle()
    assert.equal(bad.calls.length, 1)
    await d.stop()
    await d2.stop()
    assert.deepEqual(await counts(metrics), { 'alertmanager/failed': 3 })
  })

  it('each attempt has its own timeout (AbortSignal): a hung target does not hold the queue', async () => {
    const { fetch, calls } = fakeFetch(n => n === 1 ? 'hang' : 200)
    const d = alertmanagerDelivery({ url: 'http://am', fetch, metrics, sleep: instant, options: { timeoutMs: 30 } })
    d.enqueue([alert('p1')])
    d.start()
    await d.idle()
    await d.stop()
    assert.equal(calls.length, 2)
    assert.deepEqual(await counts(metrics), { 'alertmanager/sent': 1 })
  })

  it('a target that is down: the queue stays bounded, the oldest are dropped and counted, nothing else is kept', async () => {
    const { fetch } = fakeFetch(() => 'hang')
    const capacity = 500
    const d = alertmanagerDelivery({ url: 'http://down', fetch, metrics, sleep: instant, options: { queueCapacity: capacity, timeoutMs: 5, maxAttempts: 2 } })
    d.start()
    let max = 0
    const total = 50_000
    for (let i = 0; i < total; i += 1000) {
      d.enqueue(Array.from({ length: 1000 }, (_, j) => alert(`p${i + j}`)))
      max = Math.max(max, d.length)
      await new Promise(resolve => setImmediate(resolve))
    }
    assert.ok(max <= capacity, `queue reached ${max}`)
    const gauge = (await metrics.queueLength.get()).values.find(v => v.labels.target === 'http://down')
    assert.ok((gauge?.value ?? Infinity) <= capacity)
    await d.stop()
    const c = await counts(metrics)
    // Every alert is accounted for: dropped (queue full, or at stop) or failed after its attempts; none is held elsewhere.
    assert.equal((c['alertmanager/dropped'] ?? 0) + (c['alertmanager/failed'] ?? 0), total)
    assert.equal(d.length, 0)
  })

  it('coalesces queued alerts by fingerprint: the newest state is sent once, in the older one\'s place', async () => {
    const { fetch, calls } = fakeFetch(() => 200)
    const d = alertmanagerDelivery({ url: 'http://am', fetch, metrics, sleep: instant })
    d.enqueue([alert('p1'), alert('p2')])
    d.enqueue([alert('p1', 'resolved')])
    assert.equal(d.length, 2)
    d.start()
    await d.idle()
    await d.stop()
    await d.stop()
    assert.deepEqual(calls[0]?.body.map((a: any) => a.labels.peer), ['p1', 'p2'])
    assert.equal(calls.length, 1)
  })

  it('stop drops (and counts) what is still queued and aborts the attempt in flight', async () => {
    const { fetch } = fakeFetch(() => 'hang')
    const d = alertmanagerDelivery({ url: 'http://am', fetch, metrics, sleep: instant, options: { maxBatch: 1 } })
    d.enqueue([alert('p1'), alert('p2'), alert('p3')])
    d.start()
    await new Promise(resolve => setImmediate(resolve))
    await d.stop()
    assert.deepEqual(await counts(metrics), { 'alertmanager/dropped': 3 })
  })

  it('webhooks: Alertmanager\'s payload (version 4), one message a POST, with an Idempotency-Key', async () => {
    const { fetch, calls } = fakeFetch(() => 200)
    const d = webhookDelivery({ url: 'http://hook/x', fetch, metrics, sleep: instant })
    const m = webhookMessage({ receiver: 'ops', groupKey: '{}:{alertname="DiskFull"}', groupLabels: { alertname: 'DiskFull' }, externalURL: 'http://mycel', alerts: [alert('p1'), alert('p2', 'resolved')], maxAlerts: 0 })
    d.enqueue([m])
    d.start()
    await d.idle()
    await d.stop()
    assert.equal(calls.length, 1)
    assert.equal(calls[0]?.headers['idempotency-key'], m.idempotencyKey)
    const body = calls[0]?.body
    assert.deepEqual(Object.keys(body).sort(), ['alerts', 'commonAnnotations', 'commonLabels', 'externalURL', 'groupKey', 'groupLabels', 'idempotencyKey', 'receiver', 'status', 'truncatedAlerts', 'version'])
    assert.equal(body.version, '4')
    assert.equal(body.status, 'firing', 'firing while any alert fires')
    assert.deepEqual(body.commonLabels, { alertname: 'DiskFull' })
    assert.deepEqual(body.commonAnnotations, {})
    assert.deepEqual(body.alerts.map((a: any) => [a.status, a.endsAt, a.fingerprint]), [
      ['firing', '0001-01-01T00:00:00Z', alert('p1').fingerprint],
      ['resolved', '2023-11-14T22:17:20.000Z', alert('p2').fingerprint]
    ])
    const truncated = webhookMessage({ receiver: 'ops', groupKey: 'g', groupLabels: {}, externalURL: '', alerts: [alert('p1', 'resolved'), alert('p2', 'resolved')], maxAlerts: 1 })
    assert.deepEqual([truncated.status, truncated.alerts.length, truncated.truncatedAlerts], ['resolved', 1, 1])
    assert.deepEqual(await counts(metrics), { 'webhook/sent': 1 })
  })

  it('the metrics pass promtool check metrics', async function () {
    const { fetch } = fakeFetch(n => n === 1 ? 500 : 200)
    const d = webhookDelivery({ url: 'http://hook', fetch, metrics, sleep: instant, options: { maxAttempts: 1 } })
    d.enqueue([webhookMessage({ receiver: 'r', groupKey: 'a', groupLabels: {}, externalURL: '', alerts: [alert('p1')] })])
    d.enqueue([webhookMessage({ receiver: 'r', groupKey: 'b', groupLabels: {}, externalURL: '', alerts: [alert('p2')] })])
    d.start()
    await d.idle()
    await d.stop()
    const text = await registry.metrics()
    assert.match(text, /mycel_alert_notifications_total\{target_kind="webhook",result="failed"\} 1/)
    const out = execFileSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })
    assert.equal(out.trim(), '')
  })
})
