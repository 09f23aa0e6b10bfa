/**
 * The handoff from the minimal core to the management services, and the
 * emergency freeze, as the agent wires them (docs/minimal-core.md). One part,
 * started right after the roles component, that feeds the roles' control
 * state (managers/control-state.ts) its two inputs:
 *
 *  - the core's readiness, judged here from the agent's parts (below);
 *  - the freeze records: with a genesis the committed critical keys
 *    `emergency/<scope>`, without one the replicated-config namespace
 *    `mycel.emergency` (policy/emergency.ts).
 *
 * It re-judges at once when a freeze record arrives (a critical commit, a
 * config change of the namespace) or a component stops on a fault, and every
 * `checkMs` until the core is first ready (readiness has no single event: a
 * peer answering a catch-up, the agent's start finishing); after that only
 * events change it, so the poll stops and an idle agent pays nothing for it.
 *
 * Ready means, in this order: the agent's parts all started; no fail-stop
 * fault in a core component (any component but the roles themselves); joined
 * to a live member, or alone by design (no bootstrap peers); replicated config
 * loaded (its log replayed); with a genesis, critical config caught up once
 * with a peer (a catch-up exchange completed), or nobody alive to catch up
 * from while alone by design. Joined and caught up are sticky: once met, a
 * later partition does not take control back (the duties judge partitions
 * themselves, e.g. the rollout duty's majority check). A fault does.
 */
import { z } from 'zod'
import type { Logger } from 'pino'
import { defineTunables, tunable, type ProfileName } from '../lib/tunables.js'
import type { Fault } from '../lib/faults.js'
import type { Startable } from '../lib/lifecycle.js'
import type { CriticalService } from '../protocols/bft/service.js'
import type { CriticalConfig } from '../protocols/bft/critical-state.js'
import type { ChangeEvent } from '../crdt/replica.js'
import type { ControlState, CoreReadiness } from '../managers/control-state.js'
import { EMERGENCY_NAMESPACE, EMERGENCY_PREFIX, parseFreezeRecord, parseFreezeText, type FreezeState } from '../policy/emergency.js'

export interface HandoffTunables {
  /** How often readiness is judged again without an event, ms: how late the handoff may come after the core is ready. */
  checkMs: number
}

export const handoffTunables = defineTunables<HandoffTunables>({
  module: 'handoff',
  schema: z.strictObject({ checkMs: tunable.positive() }),
  profiles: { lan: { checkMs: 1_000 }, wan: { checkMs: 2_000 }, test: { checkMs: 100 } }
})

/** Where this node reads freeze records: critical config with a genesis, else the replicated namespace. */
export interface FreezeSource {
  kind: 'critical' | 'config'
  records: () => FreezeState[]
}

/** What of replicated config the handoff reads. */
export interface ConfigView {
  readonly started: boolean
  entries: (ns: string) => Array<[string, { value: unknown, writer?: string }]>
  onChange: (listener: (e: ChangeEvent) => void) => () => void
}

/** Freeze records from critical config: who froze is the admin that signed the entry (from its certificate). */
export function criticalFreezes (critical: Pick<CriticalConfig, 'entries'>, onBad?: (key: string, err: Error) => void): FreezeState[] {
  const out: FreezeState[] = []
  for (const v of critical.entries()) {
    if (!v.key.startsWith(EMERGENCY_PREFIX)) continue
    try {
      const record = parseFreezeText(v.value)
      const entry = v.certificate?.block.entries.filter(e => e.key === v.key).at(-1)
      out.push({ scope: v.key.slice(EMERGENCY_PREFIX.length), record, by: entry?.admin ?? 'genesis', height: v.height })
    } catch (err) { onBad?.(v.key, err as Error) }
  }
  return out
}

/** Freeze records from the replicated namespace: who froze is the envelope's signer. */
export function configFreezes (config: Pick<ConfigView, 'entries'>, onBad?: (key: string, err: Error) => void): FreezeState[] {
  const out: FreezeState[] = []
  for (const [scope, { value, writer }] of config.entries(EMERGENCY_NAMESPACE)) {
    try {
      out.push({ scope, record: parseFreezeRecord(value), by: writer ?? 'unknown' })
    } catch (err) { onBad?.(scope, err as Error) }
  }
  return out
}

/**
 * The freeze records this node goes by: with a genesis only critical config
 * (an admin's commit), without one only the replicated namespace. A record
 * that does not parse (an older release's) is logged once and ignored.
 */
export function freezeSource (init: { critical?: Pick<CriticalService, 'state'>, config: ConfigView, logger: Logger }): FreezeSource {
  const logged = new Set<string>()
  const onBad = (key: string, err: Error): void => {
    if (logged.has(key)) return
    logged.add(key)
    init.logger.warn({ key, err: err.message }, 'emergency record cannot be read; ignored')
  }
  const critical = init.critical
  return critical !== undefined
    ? { kind: 'critical', records: () => criticalFreezes(critical.state, onBad) }
    : { kind: 'config', records: () => init.config.started ? configFreezes(init.config, onBad) : [] }
}

export interface HandoffInit {
  profile: ProfileName
  control: ControlState
  source: FreezeSource
  /** The agent's lifecycle state: ready only while `started` (not while starting or stopping). */
  lifecycle: () => string
  faults: { list: () => Fault[], onFault: (listener: (f: Fault) => void) => () => void }
  /** The agent has bootstrap peers: it must join before it is ready. */
  needsPeer: boolean
  membership: { alivePeers: () => Array<{ peerId: string }> }
  config: ConfigView
  critical?: Pick<CriticalService, 'state' | 'caughtUpAt' | 'syncFrom'>
  /** Make a peer id from a string, for a catch-up with a live member. */
  peerIdOf?: (id: string) => Parameters<CriticalService['syncFrom']>[0]
}

/** The components that are not the minimal core: a fault in them does not take control back. */
const NOT_CORE = new Set(['roles'])

export class Handoff implements Startable {
  private timer?: ReturnType<typeof setInterval>
  /** The readiness poll ran until the core was ready (start() is not repeated while started). */
  private polled = false
  private offs: Array<() => void> = []
  private joined = false
  private caughtUp = false
  private readonly tunables: HandoffTunables

  constructor (private readonly init: HandoffInit) {
    this.tunables = handoffTunables.defaults(init.profile)
  }

  start (): void {
    if (this.timer !== undefined || this.polled) return
    const { critical, config, faults } = this.init
    if (critical !== undefined) this.offs.push(critical.state.onChange((c) => { if (c.key.startsWith(EMERGENCY_PREFIX)) this.judge() }))
    else if (config.started) this.offs.push(config.onChange((e) => { if (e.ns === EMERGENCY_NAMESPACE) this.judge() }))
    this.offs.push(faults.onFault(() => { this.judge() }))
    this.timer = setInterval(() => { this.judge() }, this.tunables.checkMs)
    this.timer.unref?.()
    this.judge()
  }

  stop (): void {
    clearInterval(this.timer)
    this.timer = undefined
    this.polled = false
    for (const off of this.offs) off()
    this.offs = []
  }

  /** Feed the control state its inputs now. */
  judge (): void {
    const readiness = this.readiness()
    this.init.control.update(readiness, this.init.source.records())
    // Once ready, readiness changes only by events (a fault, a freeze record; joined and caught up stay met): the poll ends.
    if (readiness.ready && this.timer !== undefined) { clearInterval(this.timer); this.timer = undefined; this.polled = true }
  }

  /** The minimal core's readiness (the header's definition). */
  readiness (): CoreReadiness {
    const { init } = this
    const state = init.lifecycle()
    if (state !== 'started') return { ready: false, waiting: `agent is ${state}` }
    const faulted = init.faults.list().filter(f => !NOT_CORE.has(f.component)).map(f => f.component)
    if (faulted.length > 0) return { ready: false, waiting: `core component stopped on a fault: ${faulted.join(', ')}` }
    const alive = init.membership.alivePeers()
    if (!this.joined) {
      if (init.needsPeer && alive.length === 0) return { ready: false, waiting: 'not joined to any peer yet' }
      this.joined = true
    }
    if (!init.config.started) return { ready: false, waiting: 'replicated config not loaded' }
    const critical = init.critical
    if (critical !== undefined && !this.caughtUp) {
      if (critical.caughtUpAt !== undefined || (!init.needsPeer && alive.length === 0)) {
        this.caughtUp = true
      } else {
        // Ask a live member now rather than wait for the periodic catch-up.
        const peer = alive[Math.floor(Math.random() * alive.length)]
        if (peer !== undefined && init.peerIdOf !== undefined) void critical.syncFrom(init.peerIdOf(peer.peerId)).catch(() => {})
        return { ready: false, waiting: 'critical config not caught up with a peer yet' }
      }
    }
    return { ready: true }
  }
}
