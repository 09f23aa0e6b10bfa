/**
 * Admin API of the emergency freeze (docs/minimal-core.md):
 *
 *   GET  /v1/emergency                    {source, control, records: [{scope, frozen, reason, by, at, height?, tc?}]}
 *   POST /v1/emergency/freeze  {region?, reason}   freeze region (default `*`: every region)
 *   POST /v1/emergency/thaw    {region?, reason?}  thaw it: hand control back to the management services
 *
 * With a genesis the record is a BFT commit of `emergency/<scope>` signed by
 * this agent, which must be an admin (403 otherwise); without one it is a
 * signed write of `mycel.emergency/<scope>` by this agent. The record is
 * checked with the rule every receiver runs before anything is proposed
 * (policy/emergency.ts). A freeze of a scope already frozen, or a thaw of one
 * that is not, is a 409 naming what is frozen. Each request starts (or
 * continues, from the caller's `traceparent` header) a trace whose context
 * the record carries in `tc`; every node records its `applied` span.
 */
import { z } from 'zod'
import type { Route } from '../router.js'
import { RequestError } from '../../../lib/errors.js'
import type { Tracer } from '../../../wire/tracing.js'
import type { CriticalService } from '../../../protocols/bft/service.js'
import type { ControlState } from '../../../managers/control-state.js'
import type { RolloutView } from '../../../managers/rollout/view.js'
import type { RolloutOperator } from '../../../managers/rollout/operator.js'
import {
  EMERGENCY_NAMESPACE, EMERGENCY_PREFIX, EVERY_REGION, checkScope, freezesFor, parseFreezeRecord, type FreezeRecord, type FreezeState
} from '../../../policy/emergency.js'
import type { FreezeSource } from '../../control-wiring.js'

export interface EmergencyRoutesDeps {
  control: Pick<ControlState, 'status'>
  source: FreezeSource
  /** With a genesis: records are proposed here. */
  critical?: Pick<CriticalService, 'propose'>
  /** Without one: records are written here. */
  config: { write: (ns: string, key: string, value: unknown) => Promise<unknown> }
  tracer: Tracer
}

// Only the shape here: the scope and the record are judged by the receivers' own rule (policy/emergency.ts) in write().
const freezeBody = z.strictObject({ region: z.string().max(256).optional(), reason: z.string() })
const thawBody = z.strictObject({ region: z.string().max(256).optional(), reason: z.string().optional() })

function body<T> (schema: z.ZodType<T>, raw: unknown): T {
  const r = schema.safeParse(raw ?? {})
  if (!r.success) throw new RequestError(400, `invalid body: ${r.error.issues[0]?.path.join('.') ?? ''} ${r.error.issues[0]?.message ?? ''}`.trim())
  return r.data
}

function describe (s: FreezeState): string {
  return `${s.scope} (by ${s.by} at ${new Date(s.record.at).toISOString()}: ${s.record.reason})`
}

export function emergencyRoutes (d: EmergencyRoutesDeps): Route[] {
  const write = async (target: string, record: FreezeRecord): Promise<{ height?: number, latencyMs: number }> => {
    // The receivers' own checks, here first: what this node proposes, every node accepts.
    try {
      checkScope(target)
      parseFreezeRecord(record)
    } catch (err) { throw new RequestError(422, (err as Error).message) }
    const started = Date.now()
    if (d.critical !== undefined) {
      const r = await d.critical.propose(EMERGENCY_PREFIX + target, JSON.stringify(record))
      return { height: r.height, latencyMs: r.latencyMs }
    }
    await d.config.write(EMERGENCY_NAMESPACE, target, record)
    return { latencyMs: Date.now() - started }
  }
  const act = async (frozen: boolean, target: string, reason: string, traceparent: string | undefined): Promise<unknown> => {
    try { checkScope(target) } catch (err) { throw new RequestError(422, (err as Error).message) }
    const records = d.source.records()
    const current = records.find(r => r.scope === target)
    if (frozen && current?.record.frozen === true) throw new RequestError(409, `already frozen: ${describe(current)}`)
    if (!frozen && current?.record.frozen !== true) {
      const others = records.filter(r => r.record.frozen)
      throw new RequestError(409, `${target === EVERY_REGION ? 'no network-wide freeze (*)' : `region ${target} is not frozen`} to thaw` +
        (others.length > 0 ? `; frozen: ${others.map(describe).join('; ')} (thaw with --region${others[0]?.scope === EVERY_REGION ? '' : ` ${others[0]?.scope ?? ''}`})` : '; nothing is frozen'))
    }
    const span = d.tracer.start(frozen ? 'emergency.freeze' : 'emergency.thaw', 'sent', traceparent, { scope: target })
    const record: FreezeRecord = { v: 1, frozen, reason, at: Date.now(), tc: span.traceparent }
    try {
      const r = await write(target, record)
      span.end({ ...(r.height !== undefined ? { height: r.height } : {}) })
      return { scope: target, source: d.source.kind, record, ...r, trace: span.traceId }
    } catch (err) {
      span.end({}, err)
      throw err
    }
  }
  const header = (raw: { headers: Record<string, string | string[] | undefined> } | undefined): string | undefined => {
    const h = raw?.headers.traceparent
    return typeof h === 'string' ? h : undefined
  }
  return [
    {
      method: 'GET',
      path: '/v1/emergency',
      handler: () => ({
        json: {
          source: d.source.kind,
          control: d.control.status(),
          records: d.source.records().sort((a, b) => a.scope.localeCompare(b.scope)).map(r => ({ scope: r.scope, ...r.record, by: r.by, ...(r.height !== undefined ? { height: r.height } : {}) }))
        }
      })
    },
    {
      method: 'POST',
      path: '/v1/emergency/freeze',
      handler: async (req) => {
        const b = body(freezeBody, req.body)
        return { json: await act(true, b.region ?? EVERY_REGION, b.reason, header(req.raw)) }
      }
    },
    {
      method: 'POST',
      path: '/v1/emergency/thaw',
      handler: async (req) => {
        const b = body(thawBody, req.body)
        return { json: await act(false, b.region ?? EVERY_REGION, b.reason ?? '', header(req.raw)) }
      }
    }
  ]
}

/** A rollout view with `held` when a freeze covers the region it rolls in now (or every region it names, when it is not rolling). */
export type HeldRolloutView = RolloutView & { held?: { scope: string, reason: string, by: string, at: number } }

/**
 * The rollout operator with each view marked `held` while a freeze stops the
 * update manager that would move it (`mycel rollout status` shows it).
 */
export function withFreezeHold<T extends Pick<RolloutOperator, 'start' | 'list' | 'get' | 'control'>> (op: T, records: () => FreezeState[]): Pick<RolloutOperator, 'start' | 'list' | 'get' | 'control'> {
  const mark = (v: RolloutView): HeldRolloutView => {
    const all = records()
    const regions = v.region !== null ? [v.region] : v.regions.map(r => r.region)
    const f = regions.map(r => freezesFor(r, all)[0]).find(x => x !== undefined)
    return f === undefined || !(v.state === 'running' || v.state === 'paused') ? v : { ...v, held: { scope: f.scope, reason: f.record.reason, by: f.by, at: f.record.at } }
  }
  return {
    start: async (...args) => await op.start(...args),
    list: (...args) => op.list(...args).map(mark),
    get: (...args) => mark(op.get(...args)),
    control: async (...args) => { const r = await op.control(...args); return { ...r, rollout: mark(r.rollout) } }
  }
}
