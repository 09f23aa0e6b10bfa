/**
 * A rollout as the operator asked for it (issue 14), in replicated config
 * so that any holder of the update manager role continues it: which
 * component moves from which version to which, through which regions, how
 * fast, and the operator's last control (pause, resume, abort, rollback,
 * promote). How far each region has got is not here but in the region's
 * progress records (progress.ts), written by that region's update manager
 * under its fencing term; the state an operator sees is derived from both
 * (state.ts). Splitting them keeps each key single-writer: operators write
 * this one, one elected holder per region writes its progress, so neither
 * can overwrite the other's decision by last-writer-wins.
 *
 * The knobs and their defaults are Nomad's `update` block: `canary`,
 * `max_parallel`, `min_healthy_time` 10 s, `healthy_deadline` 5 min,
 * `progress_deadline` 10 min, `auto_revert` (on here, off in Nomad) and,
 * from Kubernetes, `maxUnavailable`.
 *
 * Like deployment.ts, every writer and receiver parses the record with this
 * schema, and fields this release does not know are dropped, not refused
 * (docs/wire.md rule 1); `checkRolloutEntry` is the namespace's built-in
 * rule, run by the writer and every receiver.
 */
import { z } from 'zod'
import semver from 'semver'
import { StatusError } from '../../lib/errors.js'
import { parseOrRefuse } from '../../lib/zod-issue.js'
import { REGION_PATTERN, REGION_RULE } from '../../lib/region.js'
import { componentName } from '../../protocols/artifacts/manifest.js'
import { traceContextSchema } from '../../wire/trace-context.js'

/**
 * The replicated-config namespace of rollouts: key = rollout id, value = the
 * rollout record (with its `id`). A built-in namespace whose values every
 * node checks with `checkRolloutEntry`, as `mycel.deployments`.
 */
export const ROLLOUTS_NAMESPACE = 'mycel.rollouts'

/** Rollout ids: letters, digits, `.`, `_`, `-`, starting with a letter or digit, at most 64: safe as a config key, a URL path segment and a log field. */
export const ROLLOUT_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

/**
 * Regions one rollout may name; the same bound as a deployment's (a longer
 * list is a typo or a script gone wrong, and regions roll one after another,
 * so each one adds at least a wave's worth of time).
 */
export const MAX_REGIONS = 64

/**
 * Nodes one region's waves may hold, and the largest canary and
 * `maxParallel.count`: a region holds at most membership's `maxMembers`
 * (4,096) nodes and a node is in at most one wave. In practice the
 * replicated-config value limit (64 KiB, crdt/constants.ts) holds about a
 * thousand peer ids per record; the bound refuses a forged or corrupt record
 * before anything iterates over it.
 */
export const MAX_REGION_NODES = 4_096

/** Waves one region may have: at most one per node. */
export const MAX_WAVES = MAX_REGION_NODES

/** Longest peer id, characters (the same bound as placement records; an Ed25519 peer id is 52). */
export const MAX_PEER_ID = 128

/**
 * Longest duration knob, ms: one day. A gate that waits longer is a typo
 * (ms for s), and the deadlines are compared with clock readings, where a
 * huge value would never fire.
 */
export const MAX_DURATION_MS = 24 * 60 * 60 * 1000

/** Defaults (Nomad's `update` block). */
export const DEFAULT_MIN_HEALTHY_TIME_MS = 10_000
export const DEFAULT_HEALTHY_DEADLINE_MS = 5 * 60_000
export const DEFAULT_PROGRESS_DEADLINE_MS = 10 * 60_000

/**
 * A rollout's state as operators see it; derived on every node from the
 * record and the regions' progress (state.ts), never stored as such.
 */
export const ROLLOUT_STATES = ['running', 'paused', 'succeeded', 'failed', 'rolled-back', 'aborted'] as const
export type RolloutState = typeof ROLLOUT_STATES[number]

/**
 * What the operator asked for last (`mycel rollout start|pause|resume|abort|
 * rollback`): `running`, `paused` (assign nothing more, judge no gate),
 * `aborted` (stop where it is, for good), `rollback` (return every touched
 * node to the last stable version now).
 */
export const CONTROL_STATES = ['running', 'paused', 'aborted', 'rollback'] as const
export type ControlState = typeof CONTROL_STATES[number]

const versionSchema = z.string().max(256).refine(v => semver.valid(v) === v, 'version must be a semver version such as 1.2.0')
const regionSchema = z.string().regex(REGION_PATTERN, `invalid region: ${REGION_RULE}`)
const unixMs = z.number().int().nonnegative()
const durationMs = z.number().int().nonnegative().max(MAX_DURATION_MS)

/**
 * `{count: N}` nodes, or `{percent: P}` of the region's nodes (rounded
 * down, at least one: waves.ts `waveSize`). Exactly one of the two: a
 * record with both is ambiguous, so it is refused rather than guessed.
 */
export const maxParallelSchema = z.object({
  count: z.number().int().min(1).max(MAX_REGION_NODES).optional(),
  percent: z.number().int().min(1).max(100).optional()
}).superRefine((m, ctx) => {
  if ((m.count === undefined) === (m.percent === undefined)) ctx.addIssue({ code: 'custom', message: 'give exactly one of count or percent' })
}).transform((m): MaxParallel => m.count !== undefined ? { count: m.count } : { percent: m.percent as number })

export type MaxParallel = { count: number } | { percent: number }

export const controlSchema = z.object({
  state: z.enum(CONTROL_STATES),
  /** Unix ms of the operator's last control write. */
  at: unixMs,
  /**
   * Unix ms the rollout last went (back) to running: a pause does not eat
   * into a gate's deadlines, so the gate counts from here at the earliest.
   */
  resumedAt: unixMs.optional(),
  /** `mycel rollout promote`: the canary wave passes as soon as its nodes pass health, without waiting out min healthy time. */
  promoted: z.boolean().default(false)
})

export type Control = z.output<typeof controlSchema>

export const rolloutSchema = z.object({
  id: z.string().regex(ROLLOUT_ID_PATTERN, 'rollout ids are letters, digits, . _ - (starting with a letter or digit, max 64)'),
  component: componentName,
  /**
   * The deployment's version when the rollout started. The rollout speaks
   * for the deployment only while the deployment still says `from`: when it
   * succeeds the update manager writes `to` into the deployment, and an
   * operator who redeploys another version by hand overrides it the same way.
   */
  from: versionSchema,
  to: versionSchema,
  /** The version a failed gate returns touched nodes to: the last one healthy everywhere it ran (default `from`). */
  lastStable: versionSchema.optional(),
  /** Regions in rollout order; the first is the canary region. No duplicates (a region rolls once). */
  regions: z.array(regionSchema).min(1).max(MAX_REGIONS)
    .refine(rs => new Set(rs).size === rs.length, 'a region is listed twice'),
  /** Canary nodes of each region (the first wave); 0: none. */
  canary: z.number().int().nonnegative().max(MAX_REGION_NODES).default(0),
  maxParallel: maxParallelSchema,
  minHealthyTimeMs: durationMs.default(DEFAULT_MIN_HEALTHY_TIME_MS),
  healthyDeadlineMs: durationMs.default(DEFAULT_HEALTHY_DEADLINE_MS),
  progressDeadlineMs: durationMs.default(DEFAULT_PROGRESS_DEADLINE_MS),
  /**
   * Most nodes of the component in a region down or not yet healthy at
   * once; at least 1, or no node could ever switch. Absent: the wave's size
   * (Nomad's `max_parallel` is how many update at once).
   */
  maxUnavailable: z.number().int().min(1).max(MAX_REGION_NODES).optional(),
  autoRevert: z.boolean().default(true),
  /** Unix ms the operator started it; the newest rollout of a component speaks first (state.ts). */
  createdAt: unixMs,
  control: controlSchema,
  /**
   * W3C traceparent of the rollout's start (docs/tracing.md): each region's
   * update manager records its steps as children of it, so `mycel trace`
   * shows the whole rollout. Optional and checked only for type and length
   * (wire/trace-context.ts): a record without it, or an older node that
   * drops it, loses only the trace.
   */
  tc: traceContextSchema.optional()
}).superRefine((r, ctx) => {
  // Nomad's rule: a node must be able to stay healthy for min-healthy-time
  // before its deadline, and a wave's deadline fits in the progress deadline.
  if (r.minHealthyTimeMs >= r.healthyDeadlineMs) ctx.addIssue({ code: 'custom', path: ['minHealthyTimeMs'], message: 'must be less than healthyDeadlineMs' })
  if (r.healthyDeadlineMs > r.progressDeadlineMs) ctx.addIssue({ code: 'custom', path: ['healthyDeadlineMs'], message: 'must not exceed progressDeadlineMs' })
  if (r.from === r.to) ctx.addIssue({ code: 'custom', path: ['to'], message: `the deployment already runs ${r.to}` })
})

export type Rollout = z.output<typeof rolloutSchema>

/** A rollout record the edge refuses: the message says which field and why. */
export class InvalidRolloutError extends StatusError {
  static name = 'InvalidRolloutError'
  override name = 'InvalidRolloutError'
  readonly status = 422
}

/** Parse a rollout from untrusted input (CLI, API body, replicated config); throws `InvalidRolloutError`. */
export function parseRollout (input: unknown): Rollout {
  return parseOrRefuse(rolloutSchema, input, 'rollout', (m) => new InvalidRolloutError(m))
}

/** The built-in rule of ROLLOUTS_NAMESPACE: the value parses as a rollout whose id is its key. */
export function checkRolloutEntry (key: string, value: unknown): void {
  const r = parseRollout(value)
  if (r.id !== key) throw new InvalidRolloutError(`invalid rollout: id: ${JSON.stringify(r.id)} stored under key ${JSON.stringify(key.slice(0, 80))}`)
}
