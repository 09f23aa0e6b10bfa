/**
 * Alerting end to end (issue 16), with real agent processes (test profile)
 * and a real Alertmanager (Debian's prometheus-alertmanager, loopback):
 *
 *  - an operator sets a rule file (`mycel alert rules set`); a MemberDown
 *    rule fires within `for` + detection + an evaluation interval after a
 *    SIGKILL, shows in `mycel alerts` on every node and reaches the
 *    Alertmanager; it resolves after the node is back;
 *  - a silence set before the rules keeps its alerts from every target,
 *    and expiring it lets them through;
 *  - a SIGKILL of the monitoring holder while the alert fires: the next
 *    holder continues from the replicated state — the webhook gets the
 *    firing notification once and the resolve once (no duplicate, none lost).
 */
import { strict as assert } from 'node:assert'
import { execFile } from 'node:child_process'
import { writeFile, mkdtemp, rm } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { AlertmanagerProcess } from '../../harness/alertmanager.js'
import { AgentProcess, CLI, waitFor } from '../../harness/agent-process.js'

const run = promisify(execFile)

interface ShownAlert { labels: Record<string, string>, state: string, status: { state: string, silencedBy: string[] }, startsAt: string, fingerprint: string }
interface WebhookAlert { status: string, labels: Record<string, string>, startsAt: string, fingerprint: string }

const RULES = `groups:
  - name: members
    rules:
      - alert: MemberDown
        expr: mycel_member_up == 0
        for: 1s
        labels: { severity: page }
        annotations: { summary: "{{ $labels.peer }} is down" }
      - alert: Canary
        expr: mycel_member_up == 1
        labels: { severity: none }
`

describe('alerting with agent processes and a real Alertmanager', function () {
  this.timeout(240_000)
  let dir: string
  let am: AlertmanagerProcess
  let hook: Server
  const hookAlerts: WebhookAlert[] = []
  const agents: AgentProcess[] = []

  const cli = async (a: AgentProcess, ...args: string[]): Promise<string> => (await run(process.execPath, [CLI, ...args, '--api', a.api], { timeout: 30_000 })).stdout
  const alive = (): AgentProcess[] => agents.filter(a => a.exitCode === null)
  const alerts = async (a: AgentProcess): Promise<ShownAlert[]> => await a.get<ShownAlert[]>('/v1/alerts')
  const holder = async (a: AgentProcess): Promise<string | undefined> => {
    const v = await a.get<{ regions: Array<{ roles: Array<{ role: string, holder?: string, status: string }> }> }>('/v1/roles')
    return v.regions.flatMap(r => r.roles).find(r => r.role === 'monitoring' && r.status === 'active')?.holder
  }
  const count = (fp: string, status: string): number => hookAlerts.filter(x => x.fingerprint === fp && x.status === status).length

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mycel-alerting-'))
    hook = createServer((req, res) => {
      let body = ''
      req.on('data', (c: Buffer) => { body += c.toString() })
      req.on('end', () => {
        const m = JSON.parse(body) as { alerts: WebhookAlert[] }
        hookAlerts.push(...m.alerts)
        res.end()
      })
    })
    await new Promise<void>(resolve => hook.listen(0, '127.0.0.1', resolve))
    am = await AlertmanagerProcess.start()
    const targets = ['--alertmanager', am.url, '--alert-webhook', `http://127.0.0.1:${(hook.address() as { port: number }).port}/hook`]
    const first = await AgentProcess.start({ extraArgs: targets })
    agents.push(first)
    agents.push(...await Promise.all([1, 2, 3].map(async () => await AgentProcess.start({ bootstrap: [first.addr], extraArgs: targets }))))
    await waitFor(async () => (await Promise.all(agents.map(async a => (await a.members()).filter(m => m.state === 'alive').length))).every(n => n === 4), 60_000, 'four agents that see each other alive')
  })

  after(async () => {
    await Promise.all(agents.map(async a => { await a.cleanup() }))
    await am?.stop()
    await new Promise(resolve => hook?.close(resolve))
    await rm(dir, { recursive: true, force: true })
  })

  it('MemberDown fires after a SIGKILL, reaches Alertmanager, survives a holder SIGKILL without duplicates, resolves after the restart; a silence holds delivery back', async () => {
    const [a0] = agents
    // The silence first: Canary fires on every alive node at once, and must reach no target.
    const silence = (await cli(a0, 'alert', 'silence', '--matcher', 'alertname=Canary', '--duration', '1h', '--comment', 'test: hold canaries')).trim()
    const file = join(dir, 'rules.yml')
    await writeFile(file, RULES)
    assert.match(await cli(a0, 'alert', 'rules', 'set', file), /2 alert rules in 1 groups set/)

    // Every node shows the canaries as silenced once the holder evaluated them.
    await waitFor(async () => {
      const all = await Promise.all(alive().map(alerts))
      return all.every(list => list.filter(x => x.labels.alertname === 'Canary' && x.state === 'firing' && x.status.silencedBy.includes(silence)).length === 4)
    }, 60_000, 'four silenced Canary alerts on every node')

    // SIGKILL a node that does not hold the monitoring role.
    const h0 = await holder(a0)
    const victim = agents.find(a => a.peerId !== h0 && a !== a0) as AgentProcess
    const killedAt = Date.now()
    await victim.kill('SIGKILL')
    const down = await waitFor(async () => (await alerts(a0)).find(x => x.labels.alertname === 'MemberDown' && x.labels.peer === victim.peerId && x.state === 'firing'), 60_000, 'MemberDown firing for the killed node')
    const firedAfterMs = Date.parse(down.startsAt) - killedAt
    process.stderr.write(`      MemberDown fired ${firedAfterMs} ms after the SIGKILL\n`)
    // Detection (test profile: about a second), `for: 1s` and a 0.5 s evaluation: seconds, with slack for a loaded host.
    assert.ok(firedAfterMs < 15_000, `MemberDown fired ${firedAfterMs} ms after the SIGKILL`)
    const inAm = await waitFor(async () => (await am.alerts()).find(x => x.labels.alertname === 'MemberDown' && x.labels.peer === victim.peerId), 30_000, 'MemberDown in Alertmanager')
    assert.equal(inAm.fingerprint, down.fingerprint, 'Alertmanager holds the alert mycel shows')
    assert.equal(Date.parse(inAm.startsAt), Date.parse(down.startsAt))
    await waitFor(() => count(down.fingerprint, 'firing') === 1, 30_000, 'the firing webhook notification')
    // The silence held: no canary reached Alertmanager or the webhook, though they fired before MemberDown.
    assert.equal((await am.alerts()).filter(x => x.labels.alertname === 'Canary').length, 0)
    assert.equal(hookAlerts.filter(x => x.labels.alertname === 'Canary').length, 0)

    // The notification log entry has replicated to a survivor: then SIGKILL the holder.
    const survivor = alive().find(a => a.peerId !== h0) as AgentProcess
    await waitFor(async () => {
      const r = await survivor.get<{ entries: Record<string, unknown> }>('/v1/config/mycel.monitoring')
      return Object.keys(r.entries).some(k => k.startsWith('nflog/') && k.endsWith(`/${down.fingerprint}`))
    }, 30_000, 'the notification log entry on a survivor')
    const oldHolder = agents.find(a => a.peerId === h0) as AgentProcess
    await oldHolder.kill('SIGKILL')
    const h1 = await waitFor(async () => {
      const h = await holder(survivor)
      return h !== undefined && h !== h0 ? h : undefined
    }, 60_000, 'a new monitoring holder')
    // The new holder continues: MemberDown for the old holder fires too, the victim's keeps its startsAt.
    await waitFor(async () => (await alerts(survivor)).some(x => x.labels.alertname === 'MemberDown' && x.labels.peer === h0 && x.state === 'firing'), 60_000, 'MemberDown for the killed holder')
    const still = (await alerts(survivor)).find(x => x.fingerprint === down.fingerprint)
    assert.equal(still?.startsAt, down.startsAt, `the new holder ${h1.slice(-6)} kept the alert's startsAt`)

    // The victim comes back: its MemberDown resolves, once, everywhere.
    await victim.spawn()
    await waitFor(async () => !(await alerts(survivor)).some(x => x.fingerprint === down.fingerprint), 60_000, 'the victim\'s MemberDown resolved')
    await waitFor(() => count(down.fingerprint, 'resolved') === 1, 30_000, 'the resolve at the webhook')
    await waitFor(async () => !(await am.alerts()).some(x => x.fingerprint === down.fingerprint), 30_000, 'the resolve at Alertmanager')
    assert.equal(count(down.fingerprint, 'firing'), 1, 'no duplicate firing notification across the holder change')

    // Expiring the silence lets the canaries through.
    await cli(survivor, 'alert', 'expire', silence)
    await waitFor(async () => (await am.alerts()).filter(x => x.labels.alertname === 'Canary').length >= 2, 30_000, 'canaries in Alertmanager after the silence expired')
  })
})
