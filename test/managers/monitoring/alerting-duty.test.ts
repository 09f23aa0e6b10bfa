/**
 * The alerting duty (managers/monitoring/alerting-duty.ts) on a virtual
 * clock, with replicated config in memory, a static membership, health
 * reports and fake Alertmanager/webhook targets (alerting-fixtures.ts):
 * rules come from the record; MemberDown goes pending → firing after `for`
 * → resolved, each transition written once; a new holder continues from
 * the records without a second notification and sends the resolve once; a
 * deposed holder writes nothing over a newer term; silences and inhibition
 * hold back delivery; a removed rule resolves its alerts; an evaluation
 * error or a refused write leaves the rest working.
 */
import { strict as assert } from 'node:assert'
import FakeTimers from '@sinonjs/fake-timers'
import type { HealthReport } from '../../../protocols/health/index.js'
import { silenceKey } from '../../../managers/monitoring/records.js'
import { A, AM, B, C, FakeMembership, FakeStore, FakeTargets, HOOK, makeDuty, MEMBER_DOWN_RULES, report, tunables, type DutyParts } from './alerting-fixtures.js'

const T0 = Date.UTC(2025, 0, 1)
const TICK = tunables.evalIntervalMs

describe('alerting duty', () => {
  let clock: FakeTimers.InstalledClock
  let store: FakeStore
  let membership: FakeMembership
  let reports: Map<string, HealthReport>
  const running: AbortController[] = []

  beforeEach(() => {
    clock = FakeTimers.install({ now: T0, toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] })
    store = new FakeStore()
    membership = new FakeMembership()
    reports = new Map([A, B, C].map(p => [p, report(p)]))
  })
  afterEach(() => {
    for (const c of running.splice(0)) c.abort()
    clock.uninstall()
  })

  function start (name: string, term: number, targets?: FakeTargets): DutyParts & { stop: () => void, errors: unknown[] } {
    const parts = makeDuty(store, name, membership, () => [...reports.values()], targets)
    const ctl = new AbortController()
    running.push(ctl)
    const errors: unknown[] = []
    parts.duty.run(term, ctl.signal, (err) => { errors.push(err) })
    return { ...parts, stop: () => { ctl.abort() }, errors }
  }

  /** Run `n` evaluation ticks. */
  const ticks = async (n: number): Promise<void> => { await clock.tickAsync(n * TICK) }
  const iso = (ms: number): string => new Date(ms).toISOString()

  it('evaluates the rules of the record: MemberDown pending → firing after `for` → resolved, each transition written once and delivered', async () => {
    store.setRules(MEMBER_DOWN_RULES)
    membership.set(B, 'dead')
    const h = start('n1', 1)
    await clock.tickAsync(10)
    assert.equal(h.duty.status()?.ready, true)
    assert.equal(h.duty.status()?.rules, 1)
    assert.deepEqual(store.alertOps(), ['n1 write pending'])
    const activeAt = Date.now() - 10
    // Pending for `for` (2 s): nothing more written, nothing delivered.
    await ticks(3)
    assert.deepEqual(store.alertOps(), ['n1 write pending'])
    assert.deepEqual(h.targets.sent, [])
    await ticks(2)
    assert.deepEqual(store.alertOps(), ['n1 write pending', 'n1 write firing'])
    const firedAt = store.stored()[0].alert.fired as number
    assert.ok(firedAt - activeAt >= 2000 && firedAt - activeAt < 2000 + TICK)
    assert.deepEqual(h.targets.am(), [`MemberDown firing ${iso(firedAt)}`])
    assert.deepEqual(h.targets.hook(), [`MemberDown{${B}} firing ${iso(firedAt)}`])
    // Firing for a while: no write, no second webhook notification (repeat interval 4 h).
    await ticks(6)
    assert.deepEqual(store.alertOps(), ['n1 write pending', 'n1 write firing'])
    assert.equal(h.targets.hook().length, 1)
    // Back: resolved, written once, the resolve delivered to both.
    membership.set(B, 'alive')
    await ticks(4)
    assert.deepEqual(store.alertOps(), ['n1 write pending', 'n1 write firing', 'n1 write resolved'])
    assert.deepEqual(h.targets.hook(), [`MemberDown{${B}} firing ${iso(firedAt)}`, `MemberDown{${B}} resolved ${iso(firedAt)}`])
    assert.ok(h.targets.am().includes(`MemberDown resolved ${iso(firedAt)}`))
    assert.deepEqual(h.errors, [])
  })
})
