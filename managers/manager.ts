/**
 * The role framework: turns the election's elected/demoted events into role
 * lifecycles. Activation and handoff are logged, counted and re-emitted as
 * events (`role:activated`, `role:deactivated`). The election dispatches
 * `role:demoted` synchronously before it releases or lets the lease lapse,
 * and this manager aborts the role's signal inside that dispatch, so a
 * demoted holder has stopped before any successor can act.
 *
 * The duty gate (docs/minimal-core.md): no role acts while the gate is
 * closed, whatever the election says. The roles component closes it until
 * the minimal core hands control to the management services, and again on an
 * emergency freeze; closing aborts every running duty (reason `frozen` or
 * `core`), and opening starts the duty of every role this node still holds,
 * in the term it holds it: the election keeps running meanwhile, so a thaw
 * resumes with the same holders.
 */
import type { Logger } from 'pino'
import type { DemotedDetail, ElectedDetail, ElectionEngine, RoleAction } from '../protocols/election/index.js'
import type { Role } from './role.js'
import type { RolesMetrics } from './metrics.js'

interface Active { term: number, since: number, controller: AbortController }

export interface RoleStatus {
  role: string
  active: boolean
  term?: number
  since?: number
  activations: number
  lastHandoff?: { at: number, term: number, reason: string }
  detail?: unknown
}

export interface RoleEvents {
  'role:activated': CustomEvent<{ role: string, term: number }>
  'role:deactivated': CustomEvent<{ role: string, term: number, reason: string }>
}

export class RoleManager extends EventTarget {
  private readonly roles = new Map<string, Role>()
  private readonly active = new Map<string, Active>()
  private readonly history = new Map<string, { activations: number, lastHandoff?: RoleStatus['lastHandoff'] }>()
  private started = false
  /** Duties may act: see the header. */
  private gateOpen: boolean
  private readonly onElectedEvt = (e: Event): void => {
    const d = (e as CustomEvent<ElectedDetail>).detail
    if (!this.gateOpen) { this.logger.info({ role: d.role, term: d.term }, 'elected while the management services do not have control: the duty waits for the handoff'); return }
    this.activate(d)
  }
  private readonly onDemotedEvt = (e: Event): void => { this.deactivate((e as CustomEvent<DemotedDetail>).detail.role, (e as CustomEvent<DemotedDetail>).detail.reason) }

  constructor (roles: Role[], private readonly election: ElectionEngine, private readonly metrics: RolesMetrics, private readonly logger: Logger, opts: { gateOpen?: boolean } = {}) {
    super()
    this.gateOpen = opts.gateOpen ?? true
    for (const r of roles) {
      this.roles.set(r.name, r)
      this.history.set(r.name, { activations: 0 })
      metrics.active.set({ role: r.name }, 0)
    }
  }

  start (): void {
    if (this.started) return
    this.started = true
    this.election.addEventListener('role:elected', this.onElectedEvt)
    this.election.addEventListener('role:demoted', this.onDemotedEvt)
  }

  stop (): void {
    if (!this.started) return
    this.started = false
    this.election.removeEventListener('role:elected', this.onElectedEvt)
    this.election.removeEventListener('role:demoted', this.onDemotedEvt)
    for (const role of [...this.active.keys()]) this.deactivate(role, 'stopping')
  }

  /**
   * Open or close the duty gate (see the header). Closing aborts every
   * running duty at once, inside this call; opening starts the duty of each
   * role the election says this node acts for now.
   */
  setGate (open: boolean, reason: string): void {
    if (this.gateOpen === open) return
    this.gateOpen = open
    if (!open) {
      for (const role of [...this.active.keys()]) this.deactivate(role, reason)
      return
    }
    if (!this.started) return
    for (const role of this.roles.keys()) {
      const term = this.election.actingTerm(role)
      if (term !== undefined) this.activate({ role, term })
    }
  }

  /** Fenced actions reach the role's receiver on every node. */
  dispatch (action: RoleAction, body: unknown): void {
    const role = this.roles.get(action.role)
    try {
      role?.onAction?.(action, body)
    } catch (err) {
      this.logger.warn({ err, role: action.role, kind: action.kind }, 'role action handler failed')
    }
  }

  isActive (role: string): boolean { return this.active.has(role) }

  status (): RoleStatus[] {
    return [...this.roles.values()].map(r => {
      const a = this.active.get(r.name)
      const h = this.history.get(r.name)
      return { role: r.name, active: a !== undefined, term: a?.term, since: a?.since, activations: h?.activations ?? 0, lastHandoff: h?.lastHandoff, detail: r.status?.() }
    })
  }

  private activate (d: Pick<ElectedDetail, 'role' | 'term'> & { region?: string }): void {
    const role = this.roles.get(d.role)
    if (role === undefined || this.active.has(d.role)) return
    const controller = new AbortController()
    this.active.set(d.role, { term: d.term, since: Date.now(), controller })
    const h = this.history.get(d.role)
    if (h !== undefined) h.activations++
    this.metrics.activations.inc({ role: d.role })
    this.metrics.active.set({ role: d.role }, 1)
    this.logger.info({ role: d.role, term: d.term, region: d.region }, 'role activated')
    this.dispatchEvent(new CustomEvent('role:activated', { detail: { role: d.role, term: d.term } }))
    Promise.resolve()
      .then(async () => { await role.onElected(d.term, controller.signal) })
      .catch(err => { this.metrics.dutyErrors.inc({ role: d.role }); this.logger.error({ err, role: d.role }, 'role failed to start its duty') })
  }

  private deactivate (name: string, reason: string): void {
    const a = this.active.get(name)
    if (a === undefined) return
    this.active.delete(name)
    // Abort first and synchronously: the duty must not emit again from here on.
    a.controller.abort()
    const role = this.roles.get(name)
    Promise.resolve()
      .then(async () => { await role?.onDemoted() })
      .catch(err => { this.logger.warn({ err, role: name }, 'role onDemoted failed') })
    const h = this.history.get(name)
    if (h !== undefined) h.lastHandoff = { at: Date.now(), term: a.term, reason }
    this.metrics.handoffs.inc({ role: name, reason })
    this.metrics.active.set({ role: name }, 0)
    this.logger.info({ role: name, term: a.term, reason, heldMs: Date.now() - a.since }, 'role handed off')
    this.dispatchEvent(new CustomEvent('role:deactivated', { detail: { role: name, term: a.term, reason } }))
  }
}
