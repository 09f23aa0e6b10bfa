/**
 * A rollout as it lives in replicated config (issue 14): which component
 * moves from which version to which, through which regions, how fast, and
 * how far it has got. It lives in config, not in the memory of the update
 * manager that drives it, so that any later holder of the role continues
 * from the same facts: the waves are written once, when a region starts,
 * and each wave's state is the single record of what has been done, so a
 * new holder neither updates a node twice nor skips a wave.
 *
 * The knobs and their defaults are Nomad's `update` block: `canary`,
 * `max_parallel`, `min_healthy_time` 10 s, `healthy_deadline` 5 min,
 * `progress_deadline` 10 min, `auto_revert` (on here, off in Nomad) and,
 * from Kubernetes, `maxUnavailable` (1).
 *
 * Like deployment.ts, every writer and receiver parses the record with this
 * schema, and fields this release does not know are dropped, not refused
 * (docs/wire.md rule 1). Nothing here is wired into the agent yet: the
 * namespace rule below is registered once the update manager drives
 * rollouts (docs/rollouts.md).
 */
import { z } from 'zod'
import semver from 'semver'
import { StatusError } from '../../lib/errors.js'
import { parseOrRefuse } from '../../lib/zod-issue.js'
import { REGION_PATTERN, REGION_RULE } from '../../lib/region.js'
import { componentName } from '../../protocols/artifacts/manifest.js'

/**
 * The replicated-config namespace of rollouts: key = rollout id, value = the
 * rollout record (with its `id`). Meant as a built-in namespace whose values
 * every node checks with `checkRolloutEntry`, as `mycel.deployments` does.
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

/** Defaults (Nomad's `update` block; `maxUnavailable` as Kubernetes'). */
export const DEFAULT_MIN_HEALTHY_TIME_MS = 10_000
export const DEFAULT_HEALTHY_DEADLINE_MS = 5 * 60_000
export const DEFAULT_PROGRESS_DEADLINE_MS = 10 * 60_000
export const DEFAULT_MAX_UNAVAILABLE = 1

export const ROLLOUT_STATES = ['running', 'paused', 'succeeded', 'failed', 'rolled-back', 'aborted'] as const
export type RolloutState = typeof ROLLOUT_STATES[number]

/**
 * A wave's state: `pending` (not started), `active` (its nodes are being
 * switched and gated), `passed` (its gate passed), `failed` (its gate
 * failed), `reverted` (its nodes were returned to the last stable version).
 */
export const WAVE_STATES = ['pending', 'active', 'passed', 'failed', 'reverted'] as const
export type WaveState = typeof WAVE_STATES[number]

const versionSchema = z.string().max(256).refine(v => semver.valid(v) === v, 'version must be a semver version such as 1.2.0')
const regionSchema = z.string().regex(REGION_PATTERN, `invalid region: ${REGION_RULE}`)
const peerIdSchema = z.string().min(1).max(MAX_PEER_ID)
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

export const waveSchema = z.object({
  /** The wave's nodes, in the order the plan gave them (waves.ts). */
  nodes: z.array(peerIdSchema).min(1).max(MAX_REGION_NODES),
  state: z.enum(WAVE_STATES),
  /** Unix ms the wave became active. */
  startedAt: unixMs.optional(),
  /** Unix ms its gate passed. */
  passedAt: unixMs.optional()
})

export type Wave = z.output<typeof waveSchema>

export const rolloutSchema = z.object({
  id: z.string().regex(ROLLOUT_ID_PATTERN, 'rollout ids are letters, digits, . _ - (starting with a letter or digit, max 64)'),
  component: componentName,
  /** The version the rollout moves from, when the component ran one. */
  from: versionSchema.optional(),
  to: versionSchema,
  /** The version a failed gate returns touched nodes to: the last one healthy everywhere it ran. */
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
  /** Most nodes of the component in a region down or not yet healthy at once; at least 1, or no node could ever switch. */
  maxUnavailable: z.number().int().min(1).max(MAX_REGION_NODES).default(DEFAULT_MAX_UNAVAILABLE),
  autoRevert: z.boolean().default(true),
  state: z.enum(ROLLOUT_STATES),
  /** Fencing term of the update manager that last wrote the record (manager.ts). */
  term: z.number().int().nonnegative(),
  /**
   * Waves per region, keyed by region; a region has none until it starts
   * (its nodes are read then, not when the rollout was asked for).
   */
  waves: z.preprocess((w, ctx) => {
    // zod's record drops an own `__proto__` key without a word; refuse it
    // rather than lose a region's waves (no region may be named so anyway).
    if (w !== null && typeof w === 'object' && Object.hasOwn(w, '__proto__')) ctx.addIssue({ code: 'custom', path: ['__proto__'], message: `invalid region: ${REGION_RULE}` })
    return w
  }, z.record(regionSchema, z.array(waveSchema).min(1).max(MAX_WAVES))).default({})
}).superRefine((r, ctx) => {
  // Nomad's rule: a node must be able to stay healthy for min-healthy-time
  // before its deadline, and a wave's deadline fits in the progress deadline.
  if (r.minHealthyTimeMs >= r.healthyDeadlineMs) ctx.addIssue({ code: 'custom', path: ['minHealthyTimeMs'], message: 'must be less than healthyDeadlineMs' })
  if (r.healthyDeadlineMs > r.progressDeadlineMs) ctx.addIssue({ code: 'custom', path: ['healthyDeadlineMs'], message: 'must not exceed progressDeadlineMs' })
  let active = 0
  for (const [region, waves] of Object.entries(r.waves)) {
    if (!r.regions.includes(region)) ctx.addIssue({ code: 'custom', path: ['waves', region], message: 'waves of a region the rollout does not name' })
    const seen = new Set<string>()
    let total = 0
    for (const w of waves) {
      if (w.state === 'active') active++
      total += w.nodes.length
      for (const n of w.nodes) {
        if (seen.has(n)) ctx.addIssue({ code: 'custom', path: ['waves', region], message: `node ${n.slice(0, 80)} is in two waves` })
        seen.add(n)
      }
    }
    if (total > MAX_REGION_NODES) ctx.addIssue({ code: 'custom', path: ['waves', region], message: `more than ${MAX_REGION_NODES} nodes` })
  }
  // Regions roll one after another and a wave starts only after the one before it passed.
  if (active > 1) ctx.addIssue({ code: 'custom', path: ['waves'], message: 'more than one active wave' })
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
