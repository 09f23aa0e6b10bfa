/**
 * A rollout as `mycel rollout status` shows it (issue 14, point 4), pure:
 * the record, the regions' progress in force and what this node knows of
 * the nodes (membership everywhere, health reports of its own region) make
 * one view, the same JSON the admin API answers:
 *
 *   {id, component, from, to, state, wave, waves: [{region, index, nodes, state}],
 *    nodes: {<peer>: {region, version, state, health, member, stale, target}},
 *    region, lastStable, regions: [...], failure?, control, createdAt, knobs}
 *
 * - `waves` is every planned wave, region after region in rollout order;
 *   `wave` the index in it of the active wave (null when none is active).
 *   A region not started yet has no waves (its nodes are read when it
 *   starts). Once the rollout is rolled back, every wave that touched a node
 *   shows `reverted`: its nodes return to `lastStable`.
 * - `nodes` are the nodes of the planned waves. `state` is the component's
 *   state from the node's report, or what keeps it from being known: `dead`
 *   or `left` (membership), `gone` (no longer a member), `unknown` (no report
 *   held here: another region's node), `absent` (its report lists no such
 *   component). `target` is the version the rollout makes it run, null
 *   while the rollout has not touched it.
 */
import type { ComponentHealth, ComponentState } from '../../protocols/health/report.js'
import type { MemberState } from '../../protocols/membership/types.js'
import type { RegionProgress, RegionState, WaveState } from './progress.js'
import type { Control, MaxParallel, Rollout, RolloutState } from './record.js'
import { revertVersion, rolloutState, touched, type RolloutWithProgress } from './state.js'
import type { NetworkFacts } from './targets.js'

export type ViewWaveState = WaveState | 'reverted'
export type NodeViewState = ComponentState | 'dead' | 'left' | 'gone' | 'unknown' | 'absent'

export interface NodeView {
  region: string
  /** The version of the component it reports, null when unknown. */
  version: string | null
  state: NodeViewState
  health: ComponentHealth
  /** Membership's word on it; `unknown`: not a member (any more). */
  member: MemberState | 'unknown'
  /** Its report is older than the stale bound, or it is not alive: what it said may be untrue now. */
  stale: boolean
  /** The version this rollout makes it run; null when it has not touched it. */
  target: string | null
}

export interface RegionView {
  region: string
  /** `pending`: its update manager has not started it yet. */
  state: RegionState | 'pending'
  /** Fencing term of the update manager whose record is in force. */
  term?: number
  startedAt?: number
  lastProgressAt?: number
  passedAt?: number
  failure?: RegionProgress['failure']
  waves: Array<{ nodes: string[], assigned: string[], state: ViewWaveState, startedAt?: number, passedAt?: number }>
}

export interface RolloutView {
  id: string
  component: string
  from: string
  to: string
  state: RolloutState
  /** Index in `waves` of the active wave; null when none is active. */
  wave: number | null
  waves: Array<{ region: string, index: number, nodes: string[], state: ViewWaveState }>
  nodes: Record<string, NodeView>
  /** The region rolling now (the first not passed); null when every region passed or the rollout is closed. */
  region: string | null
  /** The version a rollback returns touched nodes to. */
  lastStable: string
  regions: RegionView[]
  /** The first failed region's failure (in rollout order). */
  failure?: { region: string, at: number, reason: string, detail: string, wave: number }
  control: Control
  createdAt: number
  knobs: {
    canary: number
    maxParallel: MaxParallel
    minHealthyTimeMs: number
    healthyDeadlineMs: number
    progressDeadlineMs: number
    /** Absent: the wave's size. */
    maxUnavailable?: number
    autoRevert: boolean
  }
}

export function rolloutView ({ rollout: r, progress }: RolloutWithProgress, facts: NetworkFacts): RolloutView {
  const state = rolloutState(r, progress)
  const reverted = state === 'rolled-back'
  const waveState = (w: RegionProgress['waves'][number]): ViewWaveState =>
    reverted && (w.state === 'passed' || w.assigned.length > 0) ? 'reverted' : w.state
  const regions: RegionView[] = r.regions.map(region => {
    const p = progress.get(region)
    if (p === undefined) return { region, state: 'pending', waves: [] }
    return {
      region,
      state: p.state,
      term: p.term,
      startedAt: p.startedAt,
      lastProgressAt: p.lastProgressAt,
      ...(p.passedAt !== undefined ? { passedAt: p.passedAt } : {}),
      ...(p.failure !== undefined ? { failure: p.failure } : {}),
      waves: p.waves.map(w => ({
        nodes: [...w.nodes],
        assigned: [...w.assigned],
        state: waveState(w),
        ...(w.startedAt !== undefined ? { startedAt: w.startedAt } : {}),
        ...(w.passedAt !== undefined ? { passedAt: w.passedAt } : {})
      }))
    }
  })
  const waves: RolloutView['waves'] = []
  let wave: number | null = null
  for (const rv of regions) {
    rv.waves.forEach((w, index) => {
      if (w.state === 'active') wave = waves.length
      waves.push({ region: rv.region, index, nodes: w.nodes, state: w.state })
    })
  }
  const closed = state === 'aborted' || state === 'rolled-back' || state === 'succeeded'
  const firstFailed = regions.find(rv => rv.failure !== undefined)
  return {
    id: r.id,
    component: r.component,
    from: r.from,
    to: r.to,
    state,
    wave,
    waves,
    nodes: nodeViews(r, progress, state, facts),
    region: closed ? null : (regions.find(rv => rv.state !== 'passed')?.region ?? null),
    lastStable: revertVersion(r),
    regions,
    ...(firstFailed?.failure !== undefined ? { failure: { region: firstFailed.region, ...firstFailed.failure } } : {}),
    control: r.control,
    createdAt: r.createdAt,
    knobs: {
      canary: r.canary,
      maxParallel: r.maxParallel,
      minHealthyTimeMs: r.minHealthyTimeMs,
      healthyDeadlineMs: r.healthyDeadlineMs,
      progressDeadlineMs: r.progressDeadlineMs,
      ...(r.maxUnavailable !== undefined ? { maxUnavailable: r.maxUnavailable } : {}),
      autoRevert: r.autoRevert
    }
  }
}

function nodeViews (r: Rollout, progress: ReadonlyMap<string, RegionProgress>, state: RolloutState, facts: NetworkFacts): Record<string, NodeView> {
  const members = new Map(facts.members.map(m => [m.peerId, m]))
  const peers: Array<{ peerId: string, region: string }> = []
  for (const region of r.regions) {
    for (const w of progress.get(region)?.waves ?? []) for (const peerId of w.nodes) peers.push({ peerId, region })
  }
  peers.sort((a, b) => a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0)
  const out: Record<string, NodeView> = {}
  for (const { peerId, region } of peers) {
    const member = members.get(peerId)?.state ?? 'unknown'
    const report = facts.reports.get(peerId)
    const entry = report?.components?.find(c => c.name === r.component)
    const nodeState: NodeViewState = member === 'unknown'
      ? 'gone'
      : member === 'dead' || member === 'left'
        ? member
        : report === undefined ? 'unknown' : entry === undefined ? 'absent' : entry.state
    // defineProperty: a forged peer id `__proto__` stays an own key, not the prototype.
    Object.defineProperty(out, peerId, { enumerable: true, configurable: true, writable: true, value: {
      region,
      version: entry?.version ?? null,
      state: nodeState,
      health: entry?.health ?? 'unknown',
      member,
      stale: member !== 'alive' || report?.stale === true,
      target: touched(progress.get(region), peerId) ? (state === 'rolled-back' ? revertVersion(r) : r.to) : null
    } satisfies NodeView })
  }
  return out
}
