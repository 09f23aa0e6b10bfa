/**
 * The Alertmanager sender against a real Alertmanager (Debian's
 * prometheus-alertmanager, started on loopback by harness/alertmanager.ts):
 * an alert the lifecycle fires is posted by `alertmanagerDelivery`, shows in
 * Alertmanager's `GET /api/v2/alerts` with the fingerprint mycel computes,
 * reaches the webhook receiver; its resolve removes it and is notified.
 */
import { strict as assert } from 'node:assert'
import { createServer, type Server } from 'node:http'
import { AlertmanagerProcess } from '../../harness/alertmanager.js'
import { waitFor } from '../../harness/agent-process.js'
import { dueForSending, EMPTY_RULE_STATE, evaluate, type RuleAlertState } from '../../managers/monitoring/alert-lifecycle.js'
import { alertmanagerDelivery, deliveryMetrics } from '../../managers/monitoring/delivery.js'
import { fingerprint } from '../../managers/monitoring/matchers.js'
import type { AlertRule } from '../../managers/monitoring/types.js'

describe('integration: delivery to a real Alertmanager', function () {
  this.timeout(60_000)
  let am: AlertmanagerProcess | undefined
  let hook: Server | undefined
  const received: any[] = []

  before(async () => {
    hook = createServer((req, res) => {
      let body = ''
      req.on('data', (c: Buffer) => { body += c.toString() })
      req.on('end', () => { received.push(JSON.parse(body)); res.end() })
    })
    await new Promise<void>(resolve => hook?.listen(0, '127.0.0.1', resolve))
    const port = (hook.address() as { port: number }).port
    am = await AlertmanagerProcess.start({ webhookUrl: `http://127.0.0.1:${port}/hook` })
  })

  after(async () => {
    await am?.stop()
    await new Promise(resolve => hook?.close(resolve))
  })

  it('posts a firing alert, Alertmanager holds and notifies it; the resolve ends it', async () => {
    const url = (am as AlertmanagerProcess).url
    const rule: AlertRule = { alert: 'MemberDown', expr: 'mycel_member_up == 0', forMs: 0, keepFiringForMs: 0, labels: { severity: 'page' }, annotations: {} }
    const metrics = deliveryMetrics()
    const d = alertmanagerDelivery({ url, metrics, generatorURL: () => 'http://mycel.test/alerts' })
    d.start()
    const labels = { peer: 'p1', region: 'r1', severity: 'page' }
    const opts = { intervalMs: 1000 }

    let state: RuleAlertState = evaluate(EMPTY_RULE_STATE, rule, { ok: true, samples: [{ labels, annotations: { summary: 'p1 is down' }, value: 0 }] }, Date.now()).state
    let due = dueForSending(state, Date.now(), opts)
    state = due.state
    d.enqueue(due.alerts)
    await d.idle()
    const fp = fingerprint({ ...labels, alertname: 'MemberDown' })
    const held = await waitFor(async () => (await (am as AlertmanagerProcess).alerts()).find(a => a.labels.peer === 'p1'), 10_000, 'the alert in GET /api/v2/alerts')
    assert.equal(held.fingerprint, fp, 'mycel\'s fingerprint is Alertmanager\'s')
    assert.deepEqual(held.labels, { ...labels, alertname: 'MemberDown' })
    assert.equal(held.annotations.summary, 'p1 is down')
    assert.equal(held.status.state, 'active')
    assert.equal(Date.parse(held.startsAt), due.alerts[0]?.startsAt)
    const firing = await waitFor(() => received.find(m => m.status === 'firing'), 10_000, 'the firing webhook notification')
    assert.equal(firing.version, '4')
    assert.deepEqual(firing.alerts.map((a: any) => [a.fingerprint, a.status]), [[fp, 'firing']])

    state = evaluate(state, rule, { ok: true, samples: [] }, Date.now()).state
    due = dueForSending(state, Date.now(), opts)
    assert.deepEqual(due.alerts.map(a => a.status), ['resolved'])
    d.enqueue(due.alerts)
    await d.idle()
    await waitFor(async () => (await (am as AlertmanagerProcess).alerts()).every(a => a.labels.peer !== 'p1'), 10_000, 'the alert to leave GET /api/v2/alerts')
    const resolved = await waitFor(() => received.find(m => m.status === 'resolved'), 10_000, 'the resolved webhook notification')
    assert.deepEqual(resolved.alerts.map((a: any) => [a.fingerprint, a.status]), [[fp, 'resolved']])
    await d.stop()
    const sent = (await metrics.notifications.get()).values.find(v => v.labels.result === 'sent')
    assert.equal(sent?.value, 2)
  })
})
