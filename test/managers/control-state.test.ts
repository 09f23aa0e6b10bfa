/**
 * The control state machine (managers/control-state.ts) and the roles' duty
 * gate (managers/manager.ts): core → services on readiness, services → frozen
 * on a freeze of this region or of `*` (one of another region is ignored),
 * frozen → services on thaw with the same holders; a node restarted while
 * frozen goes core → frozen and never runs a duty in between; each
 * transition logged once at info, counted and exported as a gauge.
 */
import { strict as assert } from 'node:assert'
import { Writable } from 'node:stream'
import pino from 'pino'
import { Registry } from 'prom-client'
import { ControlState, type ControlChange } from '../../managers/control-state.js'
import { RoleManager } from '../../managers/manager.js'
import { rolesMetrics } from '../../managers/metrics.js'
import type { Role } from '../../managers/role.js'
import type { ElectionEngine } from '../../protocols/election/index.js'
import type { FreezeState } from '../../policy/emergency.js'

function capture (): { logger: pino.Logger, lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({ write (chunk, _enc, cb) { for (const l of String(chunk).split('\n')) if (l !== '') lines.push(JSON.parse(l)); cb() } })
  return { logger: pino({ level: 'info' }, stream), lines }
}

const freeze = (scope: string, frozen = true, at = 1000, by = 'admin-a'): FreezeState => ({ scope, by, record: { v: 1, frozen, reason: frozen ? 'bad release' : 'fixed', at } })
const READY = { ready: true }
const NOT_READY = { ready: false, waiting: 'not joined to any peer yet' }

describe('control state: core, services, frozen', () => {
  it('hands off once the core is ready, freezes on its region or *, ignores another region, thaws back; each transition logged once', async () => {
    const { logger, lines } = capture()
    const registry = new Registry()
    const c = new ControlState({ region: 'eu', logger, registry })
    const changes: ControlChange[] = []
    c.addEventListener('control:change', (e) => { changes.push((e as CustomEvent<ControlChange>).detail) })
    assert.equal(c.state, 'core')
    c.update(NOT_READY, [])
    assert.equal(c.state, 'core')
    assert.equal(c.status().reason, 'not joined to any peer yet')
    c.update(READY, [])
    c.update(READY, [])
    assert.equal(c.state, 'services')
    // Another region's freeze: nothing here.
    c.update(READY, [freeze('us')])
    assert.equal(c.state, 'services')
    c.update(READY, [freeze('us'), freeze('eu', true, 2000)])
    assert.equal(c.state, 'frozen')
    assert.deepEqual(c.status().frozen, { scope: 'eu', reason: 'bad release', by: 'admin-a', at: 2000 })
    // A second freeze (*) while frozen: still frozen, same `since`, no transition.
    const since = c.status().since
    c.update(READY, [freeze('eu', true, 2000), freeze('*', true, 3000)])
    assert.equal(c.status().since, since)
    assert.equal(c.status().freezes, 2)
    // Thawing eu alone leaves * in force.
    c.update(READY, [freeze('eu', false, 4000), freeze('*', true, 3000)])
    assert.equal(c.state, 'frozen')
    assert.equal(c.status().frozen?.scope, '*')
    c.update(READY, [freeze('eu', false, 4000), freeze('*', false, 5000, 'admin-b')])
    assert.equal(c.state, 'services')
    assert.match(c.status().reason, /thawed by admin-b: fixed/)
    // A fault in a core component takes control back; it comes back when the fault is gone.
    c.update({ ready: false, waiting: 'core component stopped on a fault: config' }, [])
    assert.equal(c.state, 'core')
    assert.deepEqual(changes.map(x => `${x.from}>${x.to}`), ['core>services', 'services>frozen', 'frozen>services', 'services>core'])
    const logged = lines.filter(l => l.control !== undefined).map(l => `${String(l.from)}>${String(l.control)}`)
    assert.deepEqual(logged, ['core>services', 'services>frozen', 'frozen>services', 'services>core'])
    assert.ok(lines.filter(l => l.control !== undefined).every(l => l.level === 30), 'logged at info')
    const text = await registry.metrics()
    assert.match(text, /mycel_control_state\{state="core"\} 1/)
    assert.match(text, /mycel_control_state\{state="frozen"\} 0/)
    assert.match(text, /mycel_control_transitions_total\{from="services",to="frozen"\} 1/)
    assert.match(text, /mycel_emergency_apply_seconds_count\{action="freeze"\} 1/)
  })

  it('* applies in every region; a region freeze only in its own', () => {
    const logger = pino({ level: 'silent' })
    for (const region of ['eu', 'us', 'ap-1']) {
      const c = new ControlState({ region, logger, initial: 'services' })
      c.update(READY, [freeze('*')])
      assert.equal(c.state, 'frozen', region)
    }
    const us = new ControlState({ region: 'us', logger, initial: 'services' })
    us.update(READY, [freeze('eu')])
    assert.equal(us.state, 'services')
    us.update(READY, [freeze('*')])
    assert.equal(us.state, 'frozen')
  })

  it('a node restarted while frozen goes from core straight to frozen, before readiness, and never to services in between', () => {
    const { logger, lines } = capture()
    const c = new ControlState({ region: 'eu', logger })
    const seen: string[] = []
    c.addEventListener('control:change', (e) => { seen.push((e as CustomEvent<ControlChange>).detail.to) })
    // The durable state replayed at start already holds the freeze; the core is not ready yet.
    c.update(NOT_READY, [freeze('*')])
    assert.equal(c.state, 'frozen')
    c.update(READY, [freeze('*')])
    assert.equal(c.state, 'frozen')
    c.update(READY, [freeze('*', false, 2000)])
    assert.deepEqual(seen, ['frozen', 'services'])
    assert.equal(lines.filter(l => l.control === 'services').length, 1)
  })
})

describe('roles: the duty gate', () => {
  function world (gateOpen: boolean): { m: RoleManager, election: ElectionEngine, acting: Map<string, number>, calls: string[], signals: AbortSignal[] } {
    const acting = new Map<string, number>()
    const election = Object.assign(new EventTarget(), { actingTerm: (role: string) => acting.get(role) }) as unknown as ElectionEngine
    const calls: string[] = []
    const signals: AbortSignal[] = []
    const role: Role = { name: 'update', onElected: (term, s) => { calls.push(`elected:${term}`); signals.push(s) }, onDemoted: () => { calls.push('demoted') } }
    const m = new RoleManager([role], election, rolesMetrics(new Registry()), pino({ level: 'silent' }), { gateOpen })
    m.start()
    return { m, election, acting, calls, signals }
  }
  const tick = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }

  it('an election while the gate is closed starts no duty; opening starts it in the held term; closing aborts it at once; reopening resumes the same term', async () => {
    const w = world(false)
    w.acting.set('update', 7)
    w.election.dispatchEvent(new CustomEvent('role:elected', { detail: { region: 'eu', role: 'update', term: 7, lease: {} } }))
    await tick()
    assert.deepEqual(w.calls, [])
    assert.equal(w.m.isActive('update'), false)
    w.m.setGate(true, 'services')
    await tick()
    assert.deepEqual(w.calls, ['elected:7'])
    w.m.setGate(false, 'frozen')
    assert.equal(w.signals[0]?.aborted, true, 'aborted inside setGate')
    await tick()
    assert.equal(w.m.status()[0]?.lastHandoff?.reason, 'frozen')
    w.m.setGate(true, 'services')
    await tick()
    assert.deepEqual(w.calls, ['elected:7', 'demoted', 'elected:7'])
    // Demoted while frozen: nothing to resume.
    w.m.setGate(false, 'frozen')
    w.acting.delete('update')
    w.m.setGate(true, 'services')
    await tick()
    assert.equal(w.m.isActive('update'), false)
    w.m.stop()
  })
})
