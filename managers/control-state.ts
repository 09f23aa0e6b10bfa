/**
 * Who has control of this node's management services (docs/minimal-core.md):
 *
 *   core      the minimal core runs; no management duty acts yet (the core is
 *             not ready, or a core component stopped on a fault)
 *   services  handed off: the roles this node holds run their duties
 *   frozen    an emergency freeze for this node's region (or `*`) is in
 *             force: no duty acts, whatever the core's readiness
 *
 * One step function, `nextControl`, decides from two inputs: the core's
 * readiness and the freeze records this node knows. A freeze wins over
 * readiness, so a node restarted while frozen goes from `core` straight to
 * `frozen` and never runs a duty in between. Every transition is logged once
 * at info, counted, dispatched as a typed `control:change` event (the roles
 * component opens or closes its duty gate on it) and, for a freeze or thaw
 * record that carries a trace context, recorded as an `applied` span.
 */
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import { freezesFor, type FreezeState } from '../policy/emergency.js'
import type { Tracer } from '../wire/tracing.js'
import { controlMetrics, type ControlMetrics } from './control-metrics.js'

export const CONTROL_STATES = ['core', 'services', 'frozen'] as const
export type ControlName = typeof CONTROL_STATES[number]

/** The core's readiness as the agent judges it (daemon/control-wiring.ts). */
export interface CoreReadiness {
  ready: boolean
  /** Why not, one line; absent when ready. */
  waiting?: string
}

export interface ControlStatus {
  state: ControlName
  /** When this state began, unix ms. */
  since: number
  /** Why, one line. */
  reason: string
  /** The freeze in force (the oldest that applies), with `by` its signer. */
  frozen?: { scope: string, reason: string, by: string, at: number, height?: number }
  /** Every freeze that applies to this node's region. */
  freezes: number
  core: CoreReadiness
  /** When control was first handed to the services, unix ms. */
  handedOffAt?: number
}

export interface ControlChange { from: ControlName, to: ControlName, reason: string, at: number, freeze?: FreezeState }

export interface ControlEvents {
  'control:change': CustomEvent<ControlChange>
}

/** The state `core` and `freezes` (this region's, in force) call for, with its reason. */
export function nextControl (core: CoreReadiness, freezes: readonly FreezeState[]): { state: ControlName, reason: string } {
  const f = freezes[0]
  if (f !== undefined) return { state: 'frozen', reason: `frozen by ${f.by} (${f.scope === '*' ? 'every region' : `region ${f.scope}`}): ${f.record.reason}` }
  if (core.ready) return { state: 'services', reason: 'minimal core ready' }
  return { state: 'core', reason: core.waiting ?? 'minimal core not ready' }
}

export interface ControlStateInit {
  region: string
  logger: Logger
  registry?: Registry
  tracer?: Tracer
  /** `services`: no handoff to wait for (tests and in-process uses without an agent). */
  initial?: 'core' | 'services'
  now?: () => number
}

export class ControlState extends EventTarget {
  private current: ControlName
  private since: number
  private reason: string
  private core: CoreReadiness = { ready: false, waiting: 'agent starting' }
  private applying: FreezeState[] = []
  private handedOffAt?: number
  private readonly now: () => number
  private readonly metrics: ControlMetrics

  constructor (private readonly init: ControlStateInit) {
    super()
    this.now = init.now ?? Date.now
    this.current = init.initial ?? 'core'
    this.since = this.now()
    this.reason = this.current === 'services' ? 'no minimal core to wait for' : 'agent starting'
    if (this.current === 'services') { this.core = { ready: true }; this.handedOffAt = this.since }
    this.metrics = controlMetrics(init.registry)
    this.metrics.set(this.current)
  }

  get state (): ControlName { return this.current }

  /**
   * Feed the inputs: the core's readiness and every freeze record this node
   * knows (any scope: those of other regions are ignored here). Changes the
   * state when they call for another one.
   */
  update (core: CoreReadiness, records: readonly FreezeState[]): void {
    this.core = core
    const applying = freezesFor(this.init.region, records)
    this.applying = applying
    const next = nextControl(core, applying)
    if (next.state === this.current) {
      // Same state (a second freeze, another reason to wait): keep `since`, say why now; `services` keeps how it began.
      if (next.state !== 'services') this.reason = next.reason
      return
    }
    const from = this.current
    const at = this.now()
    this.current = next.state
    this.since = at
    // Leaving `frozen` is a thaw: say who thawed, from the newest record of a scope that covers this region.
    const thaw = from === 'frozen' ? newestCovering(this.init.region, records) : undefined
    this.reason = thaw !== undefined && !thaw.record.frozen && next.state === 'services' ? `thawed by ${thaw.by}${thaw.record.reason !== '' ? `: ${thaw.record.reason}` : ''}` : next.reason
    if (next.state === 'services') this.handedOffAt ??= at
    const cause = next.state === 'frozen' ? applying[0] : thaw
    this.metrics.transition(from, next.state)
    if (cause !== undefined) this.metrics.applyDelay.observe({ action: next.state === 'frozen' ? 'freeze' : 'thaw' }, Math.max(0, at - cause.record.at) / 1000)
    this.init.logger.info({ control: next.state, from, reason: this.reason, ...(cause !== undefined ? { scope: cause.scope, by: cause.by, recordAt: cause.record.at, applyDelayMs: Math.max(0, at - cause.record.at) } : {}) }, message(from, next.state))
    if (cause !== undefined && this.init.tracer !== undefined) {
      this.init.tracer.start(next.state === 'frozen' ? 'emergency.freeze' : 'emergency.thaw', 'applied', cause.record.tc, { scope: cause.scope, region: this.init.region }).end({ control: next.state })
    }
    this.dispatchEvent(new CustomEvent<ControlChange>('control:change', { detail: { from, to: next.state, reason: this.reason, at, ...(cause !== undefined ? { freeze: cause } : {}) } }))
  }

  status (): ControlStatus {
    const f = this.applying[0]
    return {
      state: this.current,
      since: this.since,
      reason: this.reason,
      ...(f !== undefined && this.current === 'frozen' ? { frozen: { scope: f.scope, reason: f.record.reason, by: f.by, at: f.record.at, ...(f.height !== undefined ? { height: f.height } : {}) } } : {}),
      freezes: this.applying.length,
      core: this.core,
      ...(this.handedOffAt !== undefined ? { handedOffAt: this.handedOffAt } : {})
    }
  }
}

function newestCovering (region: string, records: readonly FreezeState[]): FreezeState | undefined {
  let best: FreezeState | undefined
  for (const r of records) if ((r.scope === '*' || r.scope === region) && (best === undefined || r.record.at > best.record.at)) best = r
  return best
}

function message (from: ControlName, to: ControlName): string {
  if (to === 'services') return from === 'frozen' ? 'control handed back to the management services (thawed)' : 'control handed to the management services'
  if (to === 'frozen') return 'management services frozen: control held by the minimal core'
  return 'control taken back by the minimal core'
}
