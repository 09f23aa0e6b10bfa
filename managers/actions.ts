/**
 * Fenced role actions on the region's action topic. The sender is the
 * holder; every receiver (the holder included, locally) accepts an action
 * only if:
 *  1. it is signed by the holder it names and published by that holder;
 *  2. its (term, holder) is the token of the best lease this node knows for
 *     the role — an action from a token whose lease it has not seen is
 *     ignored, so nobody can raise the fence with actions alone;
 *  3. the fencing store does not hold a higher token (stale holders).
 * Rejected actions are counted by reason and dropped; they are also not
 * forwarded (the topic validator returns Ignore/Reject).
 *
 * Tracing (docs/tracing.md): an action emitted with a parent traceparent
 * (it belongs to a traced operation, e.g. a rollout's step) records the
 * holder's `acted` span and carries its traceparent in the signed `tc`;
 * every receiver that accepts it records `received` (child of the holder's)
 * and `applied` (its dispatch to the role, child of `received`).
 */
import { z } from 'zod'
import type { Logger } from 'pino'
import type { PrivateKey } from '@libp2p/interface'
import type { Registry } from 'prom-client'
import { VerifiedTopic, type PubSubHost } from '../wire/topic.js'
import { decodeCbor, encodeCbor } from '../wire/codec.js'
import { MalformedMessageError } from '../wire/errors.js'
import {
  actionTopic, compareTokens, decodeAction, encodeAction, type ElectionEngine, type FencingStore, type RoleAction
} from '../protocols/election/index.js'
import type { RolesMetrics } from './metrics.js'
import type { Tracer } from '../wire/tracing.js'
import type { RolesConfig } from './constants.js'

/** The operation name of role-action spans. */
export const ROLE_ACTION_SPAN = 'role.action'

const MAX_BODY_BYTES = 120 * 1024

export interface ReceivedOutput {
  role: string
  kind: string
  term: number
  holder: string
  issuedAt: number
  receivedAt: number
  body: unknown
}

export interface FencedActionsInit {
  /** The region's action topic. */
  pubsub: PubSubHost
  peerId: string
  privateKey: PrivateKey
  region: string
  logger: Logger
  registry?: Registry
  fencing: FencingStore
  election: ElectionEngine
  metrics: RolesMetrics
  dispatch: (action: RoleAction, body: unknown) => void
  tracer?: Tracer
  /** False while the management services do not have control (handoff pending, frozen): nothing is sent. */
  mayAct?: () => boolean
  /** When an unchanged periodic statement is sent again (managers/constants.ts); absent: every one is sent. */
  statements?: Pick<RolesConfig, 'statementRefreshMs' | 'statementMinGapMs'>
  now?: () => number
}

/** The last statement sent per role/kind: its term, content (without `at`) and when. */
interface SentStatement { term: number, content: string, sentAt: number }

type Verdict = 'accepted' | 'stale_term' | 'unknown_lease'

export class FencedActions {
  private topic: VerifiedTopic<RoleAction> | undefined
  private readonly outputs = new Map<string, ReceivedOutput>()
  /** Last term each role acted in here; the test hook replays it after demotion. */
  private readonly lastTerms = new Map<string, number>()
  private readonly sentStatements = new Map<string, SentStatement>()

  constructor (private readonly init: FencedActionsInit) {}

  start (): void {
    if (this.topic !== undefined) return
    this.topic = new VerifiedTopic<RoleAction>({
      pubsub: this.init.pubsub,
      topic: actionTopic(this.init.region),
      metricTopic: 'role-actions',
      decode: async (data, from) => {
        const action = await decodeAction(data)
        if (action.region !== this.init.region) throw new MalformedMessageError(`action for region ${action.region} on ${this.init.region}'s topic`)
        if (action.holder !== from) throw new MalformedMessageError(`action of ${action.holder} published by ${from}`)
        const verdict = this.admit(action)
        if (verdict !== 'accepted') {
          this.init.metrics.actions.inc({ role: action.role, result: verdict })
          this.init.logger.debug({ role: action.role, term: action.term, holder: action.holder, verdict }, 'role action ignored')
          return undefined
        }
        return action
      },
      onMessage: (action) => { this.deliverTraced(action) },
      registry: this.init.registry,
      logger: this.init.logger
    })
    this.topic.start()
  }

  stop (): void {
    this.topic?.stop()
    this.topic = undefined
  }

  /** Fencing decision for an incoming (or own) action; raises the fence when accepted. */
  admit (action: Pick<RoleAction, 'region' | 'role' | 'term' | 'holder'>): Verdict {
    const best = this.init.election.book.get(action.region, action.role)
    if (best === undefined || compareTokens(action, best.lease) > 0) return 'unknown_lease'
    if (this.init.fencing.check(action.region, action.role, action) === 'stale') return 'stale_term'
    return 'accepted'
  }

  /** Send a fenced action for `role` if, and only if, this node acts for it now; `parent` traces it (the class comment). */
  async emit (role: string, kind: string, body: unknown, parent?: string): Promise<boolean> {
    // A duty that had an action under way when control was taken back sends nothing more.
    if (this.init.mayAct?.() === false) {
      this.init.metrics.actions.inc({ role, result: 'held' })
      return false
    }
    const term = this.init.election.actingTerm(role)
    if (term === undefined) {
      this.init.metrics.actions.inc({ role, result: 'not_holder' })
      return false
    }
    // Our own fence may have moved past us (a newer lease arrived): we are superseded.
    const fence = this.init.fencing.highest(this.init.region, role)
    if (fence !== undefined && compareTokens({ term, holder: this.init.peerId }, fence) < 0) {
      this.init.metrics.actions.inc({ role, result: 'superseded' })
      return false
    }
    this.lastTerms.set(role, term)
    const span = parent === undefined ? undefined : this.init.tracer?.start(ROLE_ACTION_SPAN, 'acted', parent, { role, kind, term })
    await this.send(role, kind, body, term, false, span?.traceparent)
    span?.end()
    return true
  }

  /**
   * A periodic statement (role.ts `State`): sent like `emit` when it is the
   * first of this term, changed and `statementMinGapMs` passed, or unchanged
   * for `statementRefreshMs`; otherwise only applied here, so the holder's
   * own view is current. Receivers keep the last one they got.
   */
  async state (role: string, kind: string, body: unknown): Promise<boolean> {
    const cfg = this.init.statements
    if (cfg === undefined || cfg.statementRefreshMs === 0) return await this.emit(role, kind, body)
    const term = this.init.election.actingTerm(role)
    const key = `${role}/${kind}`
    const last = this.sentStatements.get(key)
    const now = (this.init.now ?? Date.now)()
    const content = statementContent(body)
    if (term !== undefined && last !== undefined && last.term === term && this.init.mayAct?.() !== false) {
      const age = now - last.sentAt
      const due = age >= cfg.statementRefreshMs || (content !== last.content && age >= cfg.statementMinGapMs)
      if (!due) {
        this.init.metrics.actions.inc({ role, result: 'unchanged' })
        this.applyLocally(role, kind, body, term)
        return true
      }
    }
    const sent = await this.emit(role, kind, body)
    if (sent && term !== undefined) this.sentStatements.set(key, { term, content, sentAt: now })
    return sent
  }

  /** The holder's own statement, applied through the same fence as a sent one, without sending it. */
  private applyLocally (role: string, kind: string, body: unknown, term: number): void {
    const action = this.action(role, kind, body, term)
    if (this.admit(action) === 'accepted') this.deliver(action)
  }

  private action (role: string, kind: string, body: unknown, term: number, tc?: string): RoleAction {
    // JSON round trip: role outputs are plain data, and CBOR decoding refuses `undefined`.
    const plain = JSON.parse(JSON.stringify(body ?? null)) as unknown
    return { v: 1, region: this.init.region, role, term, holder: this.init.peerId, kind, issuedAt: Date.now(), body: encodeCbor(plain), ...(tc !== undefined ? { tc } : {}) }
  }

  /**
   * TEST HOOK ONLY (see daemon/test-hooks.ts): send an action with
   * `term` (default: the last term this node acted in for the role), whether
   * or not it still acts. Receivers must fence it off.
   */
  async emitStale (role: string, kind: string, body: unknown, term?: number): Promise<number | undefined> {
    const t = term ?? this.lastTerms.get(role)
    if (t === undefined) return undefined
    await this.send(role, kind, body, t, true)
    return t
  }

  private async send (role: string, kind: string, body: unknown, term: number, skipLocal = false, tc?: string): Promise<void> {
    const action = this.action(role, kind, body, term, tc)
    if (!skipLocal) {
      // The holder applies its own action through the same fence as everyone.
      if (this.admit(action) === 'accepted') this.deliver(action)
    }
    const bytes = await encodeAction(action, this.init.privateKey)
    try {
      await this.init.pubsub.publish(actionTopic(this.init.region), bytes)
      this.init.metrics.actions.inc({ role, result: 'sent' })
    } catch (err) {
      this.init.metrics.actions.inc({ role, result: 'send_failed' })
      this.init.logger.debug({ err, role, kind }, 'role action publish failed')
    }
  }

  /** A remote action: with a trace context, its hops here are spans. */
  private deliverTraced (action: RoleAction): void {
    const tracer = this.init.tracer
    if (action.tc === undefined || tracer === undefined) { this.deliver(action); return }
    const attrs = { role: action.role, kind: action.kind, term: action.term, holder: action.holder }
    const received = tracer.start(ROLE_ACTION_SPAN, 'received', action.tc, attrs)
    received.end({ lagMs: Math.max(0, Date.now() - action.issuedAt) })
    const applied = tracer.start(ROLE_ACTION_SPAN, 'applied', received.traceparent, attrs)
    try {
      this.deliver(action)
      applied.end()
    } catch (err) {
      applied.end({}, err)
      throw err
    }
  }

  private deliver (action: RoleAction): void {
    let body: unknown
    try {
      body = decodeCbor(action.body, z.unknown(), MAX_BODY_BYTES)
    } catch {
      this.init.metrics.actions.inc({ role: action.role, result: 'malformed' })
      return
    }
    this.init.metrics.actions.inc({ role: action.role, result: 'accepted' })
    const key = `${action.role}/${action.kind}`
    const prev = this.outputs.get(key)
    // Within one token keep the holder's latest statement; a higher token always wins.
    if (prev === undefined || compareTokens(action, prev) > 0 || (compareTokens(action, prev) === 0 && action.issuedAt >= prev.issuedAt)) {
      this.outputs.set(key, { role: action.role, kind: action.kind, term: action.term, holder: action.holder, issuedAt: action.issuedAt, receivedAt: Date.now(), body })
    }
    this.init.dispatch(action, body)
  }

  /** Latest accepted output per (role, kind), newer than `maxAgeMs`. */
  latest (maxAgeMs: number): ReceivedOutput[] {
    const now = Date.now()
    return [...this.outputs.values()].filter(o => now - o.receivedAt <= maxAgeMs).sort((a, b) => a.role.localeCompare(b.role) || a.kind.localeCompare(b.kind))
  }
}

/** A statement's content for change detection: its JSON without a top-level `at` (when it was made is not a change). */
export function statementContent (body: unknown): string {
  if (body !== null && typeof body === 'object' && !Array.isArray(body) && 'at' in body) {
    const { at: _at, ...rest } = body as Record<string, unknown>
    return JSON.stringify(rest)
  }
  return JSON.stringify(body ?? null)
}
