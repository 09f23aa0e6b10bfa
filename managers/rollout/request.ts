/**
 * A start request as the operator sends it (`mycel rollout start`, POST
 * /v1/rollouts): the component, the version to roll to, and the knobs of
 * the rollout record (record.ts), with the record's own field schemas and
 * bounds, so the CLI, the admin API and every receiver of the record refuse
 * the same values. Unlike the record, whose unknown fields are dropped (wire
 * rule 1), a request is strict: a misspelt knob (`minHealthyTime`) is
 * refused, not silently replaced by its default.
 *
 * `from`, `lastStable`, the id, `createdAt` and `control` are not the
 * operator's to give: start.ts derives them from the deployment and the
 * component's earlier rollouts.
 */
import { z } from 'zod'
import { parseOrRefuse } from '../../lib/zod-issue.js'
import { parseDuration } from '../../protocols/artifacts/manifest.js'
import { InvalidRolloutError, MAX_DURATION_MS, maxParallelSchema, rolloutSchema, type MaxParallel } from './record.js'

const field = rolloutSchema.shape

/**
 * Nodes a wave switches at once when the request does not say: one, as
 * Nomad's `max_parallel` default. Slow but safe: a bad version reaches one
 * node before its gate fails.
 */
export const DEFAULT_MAX_PARALLEL: MaxParallel = { count: 1 }

export const startRequestSchema = z.strictObject({
  component: field.component,
  /** The version to roll to (the record's `to`). */
  version: field.to,
  /** Regions in rollout order, the first the canary region; absent: every region the deployment runs in (start.ts). */
  regions: field.regions.optional(),
  canary: field.canary,
  maxParallel: maxParallelSchema.default(DEFAULT_MAX_PARALLEL),
  minHealthyTimeMs: field.minHealthyTimeMs,
  healthyDeadlineMs: field.healthyDeadlineMs,
  progressDeadlineMs: field.progressDeadlineMs,
  maxUnavailable: field.maxUnavailable,
  autoRevert: field.autoRevert
}).superRefine((r, ctx) => {
  // The record's rule (record.ts), checked here too so that a request the
  // record would refuse is refused before any lookup, and by the CLI before
  // the agent is contacted.
  if (r.minHealthyTimeMs >= r.healthyDeadlineMs) ctx.addIssue({ code: 'custom', path: ['minHealthyTimeMs'], message: 'must be less than healthyDeadlineMs' })
  if (r.healthyDeadlineMs > r.progressDeadlineMs) ctx.addIssue({ code: 'custom', path: ['healthyDeadlineMs'], message: 'must not exceed progressDeadlineMs' })
})

export type StartRequest = z.output<typeof startRequestSchema>
/** What a client sends: every knob optional. */
export type StartRequestInput = z.input<typeof startRequestSchema>

/** Parse a start request from untrusted input (API body, CLI flags); throws `InvalidRolloutError` (422) naming the field. */
export function parseStartRequest (input: unknown): StartRequest {
  return parseOrRefuse(startRequestSchema, input, 'rollout request', (m) => new InvalidRolloutError(m))
}

/** Milliseconds of a duration knob (`500ms`, `2s`, `5m`, `1h`: the manifest's units), or undefined when it is not one or over a day. */
export function parseDurationKnob (s: string): number | undefined {
  const ms = parseDuration(s)
  return ms !== undefined && ms <= MAX_DURATION_MS ? ms : undefined
}

/** `N` nodes or `P%` of a region's nodes, or undefined when it is neither; the bounds are the schema's. */
export function parseMaxParallel (s: string): MaxParallel | undefined {
  const m = /^([0-9]{1,9})(%?)$/.exec(s)
  if (m === null) return undefined
  const n = Number(m[1])
  return m[2] === '%' ? { percent: n } : { count: n }
}
