/**
 * The minimal core's readiness as the agent judges it (daemon/control-wiring.ts
 * Handoff): each condition in order, joined and caught up sticky, a fault in
 * a core component (not in the roles) taking control back, and a freeze
 * record arriving through replicated config applied at once.
 */
import { strict as assert } from 'node:assert'
import pino from 'pino'
import { ControlState } from '../../managers/control-state.js'
import { freezeSource, Handoff, type ConfigView } from '../../daemon/control-wiring.js'
import { EMERGENCY_NAMESPACE } from '../../policy/emergency.js'
import type { Fault } from '../../lib/faults.js'
import type { ChangeEvent } from '../../crdt/replica.js'

const logger = pino({ level: 'silent' })

function world (opts: { needsPeer: boolean, critical?: boolean }) {
  const w = {
    lifecycle: 'starting',
    faults: [] as Fault[],
    alive: [] as Array<{ peerId: string }>,
    configStarted: false,
    caughtUpAt: undefined as number | undefined,
    syncs: 0,
    emergency: new Map<string, { value: unknown, writer?: string }>(),
    listeners: new Set<(e: ChangeEvent) => void>()
  }
  const config: ConfigView = {
    get started () { return w.configStarted },
    entries: (ns) => ns === EMERGENCY_NAMESPACE ? [...w.emergency] : [],
    onChange: (l) => { w.listeners.add(l); return () => { w.listeners.delete(l) } }
  }
  const control = new ControlState({ region: 'eu', logger })
  const critical = opts.critical === true
    ? { state: { entries: () => [], onChange: () => () => {} }, get caughtUpAt () { return w.caughtUpAt }, syncFrom: async () => { w.syncs++; return 0 } }
    : undefined
  const handoff = new Handoff({
    profile: 'test',
    control,
    source: freezeSource({ critical: critical as never, config, logger }),
    lifecycle: () => w.lifecycle,
    faults: { list: () => w.faults, onFault: () => () => {} },
    needsPeer: opts.needsPeer,
    membership: { alivePeers: () => w.alive },
    config,
    critical: critical as never,
    peerIdOf: (id: string) => id as never
  })
  return { w, control, handoff }
}

describe('handoff: the minimal core\'s readiness', () => {
  it('waits for start, no core fault, a peer, config, then hands off; joined is sticky; a core fault takes control back, a roles fault does not', () => {
    const { w, control, handoff } = world({ needsPeer: true })
    const waiting = (): string | undefined => { handoff.judge(); return control.status().core.waiting }
    assert.equal(waiting(), 'agent is starting')
    w.lifecycle = 'started'
    w.faults = [{ component: 'config', error: 'bad log', since: 0 } as unknown as Fault]
    assert.match(waiting() ?? '', /core component stopped on a fault: config/)
    w.faults = []
    assert.equal(waiting(), 'not joined to any peer yet')
    w.alive = [{ peerId: 'p1' }]
    assert.equal(waiting(), 'replicated config not loaded')
    w.configStarted = true
    handoff.judge()
    assert.equal(control.state, 'services')
    // A partition later does not take control back: the duties judge partitions themselves.
    w.alive = []
    handoff.judge()
    assert.equal(control.state, 'services')
    w.faults = [{ component: 'roles', error: 'fencing', since: 0 } as unknown as Fault]
    handoff.judge()
    assert.equal(control.state, 'services')
    w.faults = [{ component: 'component-host', error: 'x', since: 0 } as unknown as Fault]
    handoff.judge()
    assert.equal(control.state, 'core')
    w.lifecycle = 'stopping'
    assert.equal(waiting(), 'agent is stopping')
  })

  it('with a genesis: waits for a catch-up with a live peer (asking one at once), unless alone by design', () => {
    const { w, control, handoff } = world({ needsPeer: true, critical: true })
    w.lifecycle = 'started'; w.configStarted = true; w.alive = [{ peerId: 'p1' }]
    handoff.judge()
    assert.equal(control.status().core.waiting, 'critical config not caught up with a peer yet')
    assert.equal(w.syncs, 1)
    w.caughtUpAt = Date.now()
    handoff.judge()
    assert.equal(control.state, 'services')
    const alone = world({ needsPeer: false, critical: true })
    alone.w.lifecycle = 'started'; alone.w.configStarted = true
    alone.handoff.judge()
    assert.equal(alone.control.state, 'services', 'the first node of a network decides alone')
  })

  it('a freeze written to mycel.emergency is applied as it arrives, and its writer is who froze', () => {
    const { w, control, handoff } = world({ needsPeer: false })
    w.lifecycle = 'started'; w.configStarted = true
    handoff.start()
    assert.equal(control.state, 'services')
    w.emergency.set('*', { value: { v: 1, frozen: true, reason: 'stop', at: Date.now() }, writer: '12D3KooWriter' })
    for (const l of w.listeners) l({ ns: EMERGENCY_NAMESPACE } as ChangeEvent)
    assert.equal(control.state, 'frozen', 'applied inside the change event, not at the next check')
    assert.equal(control.status().frozen?.by, '12D3KooWriter')
    handoff.stop()
  })
})
