/**
 * What a management role is: an object whose duty runs only between
 * `onElected(term, signal)` and `onDemoted()`. The framework (manager.ts)
 * calls them when the election says this node starts or stops acting; the
 * signal aborts at demotion, and every duty must stop when it does.
 *
 * A role keeps no state it needs across holders in memory: what it produces
 * goes out as fenced actions (every region member keeps the latest accepted
 * output) and later into replicated config, so a new holder starts from there.
 */
import { z } from 'zod'
import type { RoleAction } from '../protocols/election/index.js'
import { defineTunables, tunable, type ProfileName, type Tunables } from '../lib/tunables.js'

export interface Role {
  /** One of the registry's names (registry.ts). */
  readonly name: string
  /** Start acting in `term`. Work must stop when `signal` aborts. */
  onElected: (term: number, signal: AbortSignal) => void | Promise<void>
  /** Stopped acting (lease lapsed, superseded, not the winner any more, stopping). */
  onDemoted: () => void | Promise<void>
  /** A fenced action of this role from the current holder (every node gets these, including the holder). */
  onAction?: (action: RoleAction, body: unknown) => void
  /** Role-specific state for the API. */
  status?: () => unknown
}

/**
 * Sends a fenced action for a role; resolves false when this node does not
 * act for it. `parent`: the traceparent of the traced operation the action
 * belongs to (a rollout's step); the action then carries its own span's
 * and every receiver records its hops (docs/tracing.md). A role's periodic
 * statements pass none and are not traced.
 */
export type Emit = (role: string, kind: string, body: unknown, parent?: string) => Promise<boolean>

/**
 * A role's periodic statement of its state (region metrics, topology,
 * findings, update status): the holder applies it locally at once and sends
 * it when it changed (at most every `statementMinGapMs`) or every
 * `statementRefreshMs` unchanged (managers/constants.ts). Resolves false
 * when this node does not act for the role. A top-level `at` field is not a
 * change. Events (a rollout's decisions) go through `Emit`, never this.
 */
export type State = (role: string, kind: string, body: unknown) => Promise<boolean>

/** What every role's duty needs; a role with more tunables extends it. */
export interface DutyTunables {
  /** Period of the role's duty loop, ms; each run states the role's output (sent when changed or due, `State`). */
  intervalMs: number
}

/** A role's duty tunables, one set per profile, validated when the role's module loads. */
export function dutyTunables (role: string, profiles: Record<ProfileName, DutyTunables>): Tunables<DutyTunables> {
  return defineTunables<DutyTunables>({ module: `roles.${role}`, schema: z.strictObject({ intervalMs: tunable.positive() }), profiles })
}

/**
 * Run `fn` now and then every `intervalMs` until `signal` aborts. A failing
 * run is counted and logged; the loop goes on.
 */
export function dutyLoop (signal: AbortSignal, intervalMs: number, fn: () => Promise<void> | void, onError: (err: unknown) => void): void {
  let timer: ReturnType<typeof setTimeout> | undefined
  const tick = async (): Promise<void> => {
    if (signal.aborted) return
    try {
      await fn()
    } catch (err) {
      if (!signal.aborted) onError(err)
    }
    if (!signal.aborted) timer = setTimeout(() => { void tick() }, intervalMs)
  }
  signal.addEventListener('abort', () => { clearTimeout(timer) }, { once: true })
  void tick()
}
