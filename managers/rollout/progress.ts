/**
 * How far a rollout has got in one region: its waves, which nodes of the
 * active wave have been told to switch, and whether the region passed or
 * failed. Written only by the region's update manager, under its fencing
 * term: key `<rollout id>/<region>/<term>` in the built-in namespace
 * `mycel.rollout-progress`, read as "the highest term wins"
 * (term-records.ts), so a holder that lost its role can never overwrite its
 * successor's decision, and a successor continues from the record in force:
 * the waves are planned once, when the region starts, and never replanned,
 * so no node is updated twice and no wave is skipped.
 *
 * Every node reads these records to know which version it should run
 * (state.ts `rolloutVersion`): assigning a node is writing its peer id into
 * the active wave's `assigned`.
 */
import { z } from 'zod'
import { REGION_PATTERN, REGION_RULE } from '../../lib/region.js'
import { parseOrRefuse } from '../../lib/zod-issue.js'
import { inForce, isTermText, type InForce } from '../term-records.js'
import { GATE_FAIL_REASONS } from './gate.js'
import { InvalidRolloutError, MAX_PEER_ID, MAX_REGION_NODES, MAX_WAVES, ROLLOUT_ID_PATTERN } from './record.js'

/** The replicated-config namespace of region progress records (crdt/namespaces.ts BuiltinNamespaces). */
export const ROLLOUT_PROGRESS_NAMESPACE = 'mycel.rollout-progress'

/**
 * A wave's state: `pending` (not started), `active` (its nodes are being
 * switched and gated), `passed` (its gate passed), `failed` (its gate
 * failed). Returning touched nodes to the last stable version is derived
 * from the rollout's state (state.ts), not written per wave.
 */
export const WAVE_STATES = ['pending', 'active', 'passed', 'failed'] as const
export type WaveState = typeof WAVE_STATES[number]

/** A region's state: its waves are `running`, all `passed`, or one `failed`. */
export const REGION_STATES = ['running', 'passed', 'failed'] as const
export type RegionState = typeof REGION_STATES[number]

const peerIdSchema = z.string().min(1).max(MAX_PEER_ID)
const unixMs = z.number().int().nonnegative()

export const waveSchema = z.object({
  /** The wave's nodes, in the order the plan gave them (waves.ts). */
  nodes: z.array(peerIdSchema).min(1).max(MAX_REGION_NODES),
  /** Nodes told to switch to the rollout's version (a subset of `nodes`; all of them once the wave passed). */
  assigned: z.array(peerIdSchema).max(MAX_REGION_NODES).default([]),
  state: z.enum(WAVE_STATES),
  /** Unix ms the wave became active. */
  startedAt: unixMs.optional(),
  /** Unix ms its gate passed. */
  passedAt: unixMs.optional()
})

export type Wave = z.output<typeof waveSchema>

/**
 * Why a region failed: a gate's reason (gate.ts), or `incompatible`: the
 * region's update manager found, before its first wave, target nodes whose
 * installed versions do not meet the new manifest's `requires` (the node that
 * took the start request can check only its own region's nodes fully).
 */
export const FAILURE_REASONS = [...GATE_FAIL_REASONS, 'incompatible'] as const
export type FailureReason = typeof FAILURE_REASONS[number]

export const failureSchema = z.object({
  /** Unix ms the gate failed. */
  at: unixMs,
  reason: z.enum(FAILURE_REASONS),
  /** One line: which node and why. */
  detail: z.string().max(512),
  /** Index of the wave whose gate failed. */
  wave: z.number().int().nonnegative().max(MAX_WAVES)
})

export const progressSchema = z.object({
  id: z.string().regex(ROLLOUT_ID_PATTERN),
  region: z.string().regex(REGION_PATTERN, `invalid region: ${REGION_RULE}`),
  /** Fencing term of the update manager that wrote it; the key's term. */
  term: z.number().int().nonnegative(),
  state: z.enum(REGION_STATES),
  /** Unix ms the region started (its waves were planned). */
  startedAt: unixMs,
  /** Unix ms of the region's last progress: its start or its last passed wave (the gate's progress deadline counts from here). */
  lastProgressAt: unixMs,
  /** Empty only for a region with no node to update (it passed at once). */
  waves: z.array(waveSchema).max(MAX_WAVES),
  passedAt: unixMs.optional(),
  failure: failureSchema.optional()
}).superRefine((p, ctx) => {
  const seen = new Set<string>()
  let active = 0
  let total = 0
  p.waves.forEach((w, i) => {
    if (w.state === 'active') active++
    total += w.nodes.length
    for (const n of w.nodes) {
      if (seen.has(n)) ctx.addIssue({ code: 'custom', path: ['waves', i], message: `node ${n.slice(0, 80)} is in two waves` })
      seen.add(n)
    }
    const inWave = new Set(w.nodes)
    if (w.assigned.some(n => !inWave.has(n))) ctx.addIssue({ code: 'custom', path: ['waves', i, 'assigned'], message: 'a node assigned that is not in the wave' })
    if (w.state === 'pending' && w.assigned.length > 0) ctx.addIssue({ code: 'custom', path: ['waves', i, 'assigned'], message: 'nodes assigned in a pending wave' })
  })
  if (total > MAX_REGION_NODES) ctx.addIssue({ code: 'custom', path: ['waves'], message: `more than ${MAX_REGION_NODES} nodes` })
  // A wave starts only after the one before it passed.
  if (active > 1) ctx.addIssue({ code: 'custom', path: ['waves'], message: 'more than one active wave' })
  if (p.state === 'passed' && p.waves.some(w => w.state !== 'passed')) ctx.addIssue({ code: 'custom', path: ['state'], message: 'passed with a wave not passed' })
  if (p.state === 'failed' && p.failure === undefined) ctx.addIssue({ code: 'custom', path: ['failure'], message: 'failed without a failure' })
  if (p.state === 'running' && p.waves.length === 0) ctx.addIssue({ code: 'custom', path: ['waves'], message: 'running with no wave' })
})

export type RegionProgress = z.output<typeof progressSchema>

/** Parse a progress record from untrusted input; throws `InvalidRolloutError` (422) naming the field. */
export function parseProgress (input: unknown): RegionProgress {
  return parseOrRefuse(progressSchema, input, 'rollout progress', (m) => new InvalidRolloutError(m))
}

export interface ProgressKey { id: string, region: string, term: number }

/** The key the holder of `term` writes for rollout `id` in `region`. */
export function progressKey (id: string, region: string, term: number): string {
  return `${id}/${region}/${term}`
}

/** Map key of the records in force: one slot per (rollout, region). */
export function progressSlot (id: string, region: string): string {
  return `${id}/${region}`
}

/** Parses a key of the namespace; throws `InvalidRolloutError`. */
export function parseProgressKey (key: string): ProgressKey {
  const parts = key.split('/')
  const shown = JSON.stringify(key.slice(0, 80))
  if (parts.length !== 3) throw new InvalidRolloutError(`rollout progress key ${shown} is not <rollout>/<region>/<term>`)
  const [id, region, term] = parts as [string, string, string]
  if (!ROLLOUT_ID_PATTERN.test(id)) throw new InvalidRolloutError(`rollout progress key ${shown}: invalid rollout id`)
  if (!REGION_PATTERN.test(region)) throw new InvalidRolloutError(`rollout progress key ${shown}: invalid region`)
  if (!isTermText(term)) throw new InvalidRolloutError(`rollout progress key ${shown}: invalid term`)
  return { id, region, term: Number(term) }
}

/** The built-in rule of ROLLOUT_PROGRESS_NAMESPACE: the value is the progress of the rollout, region and term its key names. */
export function checkProgressEntry (key: string, value: unknown): void {
  readProgress(key, value)
}

function readProgress (key: string, value: unknown): { slot: string, term: number, record: RegionProgress } {
  const k = parseProgressKey(key)
  const p = parseProgress(value)
  if (p.id !== k.id || p.region !== k.region || p.term !== k.term) {
    throw new InvalidRolloutError(`invalid rollout progress: ${p.id}/${p.region}/${p.term} stored under key ${JSON.stringify(key.slice(0, 80))}`)
  }
  return { slot: progressSlot(k.id, k.region), term: k.term, record: p }
}

export interface CurrentProgress {
  /** By `progressSlot(id, region)`. */
  bySlot: Map<string, InForce<RegionProgress>>
  /** Entries skipped (they do not parse). */
  invalid: number
}

/** The progress records in force: per (rollout, region) the highest term. Never throws. */
export function currentProgress (entries: Iterable<readonly [string, { value: unknown, writer?: string }]>): CurrentProgress {
  return inForce(entries, readProgress)
}

/** The records in force of one rollout, by region. */
export function progressOf (current: CurrentProgress, id: string, regions: readonly string[]): Map<string, RegionProgress> {
  const m = new Map<string, RegionProgress>()
  for (const r of regions) {
    const e = current.bySlot.get(progressSlot(id, r))
    if (e !== undefined) m.set(r, e.record)
  }
  return m
}
