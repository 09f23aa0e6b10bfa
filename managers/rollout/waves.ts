/**
 * Wave planning for a rollout, as pure functions (issue 14): which nodes of
 * a region switch together, and how many of the active wave may switch
 * right now. The region's update manager plans a region's waves once, when
 * the region starts, and writes them into the rollout record
 * (record.ts); a later holder continues from the record, never replans.
 * Nothing here does I/O, reads a clock or depends on the order of its
 * inputs, so any holder computes the same answer from the same facts.
 *
 * Rules (docs/rollouts.md):
 * - Nodes are ordered by SHA-256 of rollout id and peer id: reproducible for
 *   a rollout, but a different spread for each rollout, so the canaries are
 *   not always the same few nodes (nor the ones with the smallest ids).
 * - The canary wave comes first when `canary` > 0 and holds min(canary,
 *   nodes). As in Nomad, the canary count is its own knob, not bounded by
 *   `maxParallel`; `maxUnavailable` still bounds how many switch at once.
 * - Then waves of `waveSize` nodes (the last one may be smaller):
 *   `{count: N}` is N nodes, `{percent: P}` is P % of the region's nodes
 *   rounded down, at least one (rounding down errs towards smaller waves).
 */
import { createHash } from 'node:crypto'
import type { MaxParallel } from './record.js'
import type { Wave } from './progress.js'

/** Nodes in one wave for a region of `regionNodes` nodes: at least 1, so a rollout always moves. */
export function waveSize (maxParallel: MaxParallel, regionNodes: number): number {
  if ('count' in maxParallel) return Math.max(1, maxParallel.count)
  return Math.max(1, Math.floor(regionNodes * maxParallel.percent / 100))
}

/** The nodes without duplicates, ordered by SHA-256(rollout id, peer id), ties (never in practice) by peer id. */
export function orderNodes (rolloutId: string, peers: readonly string[]): string[] {
  const keyed = [...new Set(peers)].map(peer => ({ peer, key: createHash('sha256').update(`${rolloutId}\n${peer}`).digest('hex') }))
  keyed.sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0)
  return keyed.map(k => k.peer)
}

export interface WavePlanInput {
  rolloutId: string
  /** The region's target nodes (peer ids), in any order; duplicates count once. */
  nodes: readonly string[]
  /** Canary nodes; 0: no canary wave. */
  canary: number
  maxParallel: MaxParallel
}

/** The region's waves, canary wave first: every node in exactly one wave, none empty. */
export function planWaves (input: WavePlanInput): string[][] {
  const ordered = orderNodes(input.rolloutId, input.nodes)
  const size = waveSize(input.maxParallel, ordered.length)
  const canary = Math.min(Math.max(0, input.canary), ordered.length)
  const waves: string[][] = canary > 0 ? [ordered.slice(0, canary)] : []
  for (let i = canary; i < ordered.length; i += size) waves.push(ordered.slice(i, i + size))
  return waves
}

/** A plan as the record's waves, every one `pending`. */
export function pendingWaves (plan: readonly string[][]): Wave[] {
  return plan.map(nodes => ({ nodes: [...nodes], assigned: [], state: 'pending' }))
}

/** One node of the component in the region, as the update manager sees it now. */
export interface NodeStatus {
  peerId: string
  /** Reachable (membership `alive`); a `suspect`, `dead` or absent node is not up. */
  up: boolean
  /** The version of the component it runs, if any. */
  version?: string
  /**
   * Counts as healthy: health `passing`, and on a node switched to the new
   * version passing for as long as the gate asks (`minHealthyTimeMs`); the
   * caller decides, so this stays a pure count.
   */
  healthy: boolean
  /** Already told to switch to the rollout's version (its assignment is written). */
  assigned: boolean
}

export interface AssignableInput {
  /** The active wave's nodes, in the plan's order. */
  wave: readonly string[]
  /** Every node of the component in the region (the wave's and the others). */
  nodes: readonly NodeStatus[]
  /** The rollout's version. */
  to: string
  maxUnavailable: number
}

/**
 * Whether a node is down or not yet healthy: not up, not healthy, or told
 * to switch and not yet running the new version. A node without a status
 * is unknown and counts as unavailable.
 */
export function isUnavailable (s: NodeStatus | undefined, to: string): boolean {
  return s === undefined || !s.up || !s.healthy || (s.assigned && s.version !== to)
}

/**
 * Statuses by peer id. Two statuses of one node merge to the worse one:
 * unavailable if either is, and taken as assigned (not switched yet) if
 * either is assigned or either already runs `to`, so a node that may have
 * been switched is never switched again and still counts as down.
 */
function byPeer (nodes: readonly NodeStatus[], to: string): Map<string, NodeStatus> {
  const m = new Map<string, NodeStatus>()
  for (const s of nodes) {
    const prev = m.get(s.peerId)
    if (prev === undefined) { m.set(s.peerId, s); continue }
    m.set(s.peerId, {
      peerId: s.peerId,
      up: prev.up && s.up,
      healthy: prev.healthy && s.healthy,
      assigned: prev.assigned || s.assigned || (prev.version !== s.version && (prev.version === to || s.version === to)),
      // Differing versions: neither is believed, so the node does not count as switched.
      version: prev.version === s.version ? s.version : undefined
    })
  }
  return m
}

/**
 * The nodes of the active wave to switch now, in wave order, such that
 * switching them (each down until it runs the new version and is healthy)
 * never takes more than `maxUnavailable` nodes of the component down at
 * once. Candidates are the wave's nodes not yet assigned and not already on
 * the new version. A candidate that is already unavailable (down, failing)
 * costs nothing and is always returned: it is counted already, and holding
 * it back would stall the rollout behind a dead node (the gate's deadline
 * decides about it). The others are taken while the budget lasts. When the
 * component is already over the limit, only the free candidates are
 * returned, so a switch never makes it worse.
 */
export function nextAssignable (input: AssignableInput): string[] {
  const status = byPeer(input.nodes, input.to)
  const all = new Set([...status.keys(), ...input.wave])
  let unavailable = 0
  for (const peer of all) if (isUnavailable(status.get(peer), input.to)) unavailable++
  let budget = Math.max(0, input.maxUnavailable - unavailable)
  const out: string[] = []
  for (const peer of new Set(input.wave)) {
    const s = status.get(peer)
    if (s !== undefined && (s.assigned || s.version === input.to)) continue
    if (isUnavailable(s, input.to)) out.push(peer)
    else if (budget > 0) { out.push(peer); budget-- }
  }
  return out
}
