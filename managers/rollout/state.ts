/**
 * What a rollout's records mean, computed the same way on every node from
 * replicated config alone (the rollout record, record.ts, and the regions'
 * progress records in force, progress.ts): the state operators see, and the
 * version of the component a node should run. No node needs the update
 * manager to be alive to know what to run: a holder that dies mid-rollout
 * leaves every node running what the records say, and its successor
 * continues from the same records.
 */
import { currentProgress, progressOf, type RegionProgress } from './progress.js'
import { checkRolloutEntry, parseRollout, type Rollout, type RolloutState } from './record.js'

/** States in which a rollout still speaks for its component: a second rollout of it is refused. */
export const OPEN_STATES: readonly RolloutState[] = ['running', 'paused', 'failed']

/**
 * The rollout's state: the operator's abort or rollback first; then a failed
 * region (rolled back when auto-revert is on, else failed and paused); then
 * succeeded once every region passed; then the operator's pause.
 */
export function rolloutState (r: Rollout, progress: ReadonlyMap<string, RegionProgress>): RolloutState {
  if (r.control.state === 'aborted') return 'aborted'
  if (r.control.state === 'rollback') return 'rolled-back'
  for (const p of progress.values()) if (p.state === 'failed') return r.autoRevert ? 'rolled-back' : 'failed'
  if (r.regions.every(region => progress.get(region)?.state === 'passed')) return 'succeeded'
  if (r.control.state === 'paused') return 'paused'
  return 'running'
}

/** The version touched nodes return to when the rollout is rolled back. */
export function revertVersion (r: Rollout): string {
  return r.lastStable ?? r.from
}

/** Whether the node was told to switch: assigned in its wave, or in a wave that passed. */
export function touched (progress: RegionProgress | undefined, peerId: string): boolean {
  if (progress === undefined) return false
  for (const w of progress.waves) {
    if (w.state === 'pending') continue
    if (w.state === 'passed' ? w.nodes.includes(peerId) : w.assigned.includes(peerId)) return true
  }
  return false
}

/** Newest first: by `createdAt`, then id, so every node orders the same. */
export function newestFirst (a: Rollout, b: Rollout): number {
  return b.createdAt - a.createdAt || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)
}

export interface RolloutVersionInput {
  peerId: string
  region: string
  /** The component's deployment version (what runs where no rollout says otherwise). */
  deploymentVersion: string
  /** The component's rollouts with their progress by region (any order). */
  rollouts: ReadonlyArray<{ rollout: Rollout, progress: ReadonlyMap<string, RegionProgress> }>
}

/** The rollouts started from `version`, newest first: the only ones that speak while the deployment says it. */
function fromVersion<T extends { rollout: Rollout }> (rollouts: readonly T[], version: string): T[] {
  return rollouts.filter(x => x.rollout.from === version).sort((a, b) => newestFirst(a.rollout, b.rollout))
}

/**
 * The version a rollout makes this node run, or undefined when none speaks
 * for it (it runs the deployment's version). Only rollouts started from the
 * deployment's current version count (once one succeeds the deployment says
 * its `to`, and a version deployed by hand overrides them all); among those
 * the newest that touched the node decides: its `to`, or, when it was rolled
 * back, the version it returns to. A node no rollout touched runs the
 * deployment's version, so a node that joins mid-rollout gets the old one.
 */
export function rolloutVersion (input: RolloutVersionInput): string | undefined {
  for (const { rollout, progress } of fromVersion(input.rollouts, input.deploymentVersion)) {
    if (!rollout.regions.includes(input.region) || !touched(progress.get(input.region), input.peerId)) continue
    return rolloutState(rollout, progress) === 'rolled-back' ? revertVersion(rollout) : rollout.to
  }
  return undefined
}

/**
 * The version the component runs where no open rollout says otherwise: the
 * deployment's, or the `to` of the newest rollout from it once that one
 * succeeded. The last region's update manager writes a succeeded rollout's
 * `to` into the deployment (driver.ts `finish`), and that write reaches each
 * node a moment after the progress record that made the rollout succeed;
 * meanwhile every node it touched runs `to` already (`rolloutVersion`). A
 * rollout started in that moment starts from `to`, not from the version the
 * deployment is about to stop saying (a rollout from that one would count on
 * no node once the write arrives, and nobody would drive it).
 */
export function settledVersion (deploymentVersion: string, rollouts: RolloutVersionInput['rollouts']): string {
  const newest = fromVersion(rollouts, deploymentVersion)[0]
  return newest !== undefined && rolloutState(newest.rollout, newest.progress) === 'succeeded' ? newest.rollout.to : deploymentVersion
}

export type Entries = Iterable<readonly [string, { value: unknown, writer?: string }]>

export interface RolloutWithProgress {
  rollout: Rollout
  /** Progress in force by region. */
  progress: Map<string, RegionProgress>
}

export interface RolloutIndex {
  /** By component name. */
  byComponent: Map<string, RolloutWithProgress[]>
  /** Rollout entries skipped (they do not parse, or the id is not the key). */
  invalidRollouts: number
  /** Progress entries skipped. */
  invalidProgress: number
}

/** Every rollout of `mycel.rollouts` with its progress in force, by component. Never throws. */
export function indexRollouts (rollouts: Entries, progress: Entries): RolloutIndex {
  const current = currentProgress(progress)
  const byComponent = new Map<string, RolloutWithProgress[]>()
  let invalidRollouts = 0
  for (const [key, { value }] of rollouts) {
    let r: Rollout
    try {
      checkRolloutEntry(key, value)
      r = parseRollout(value)
    } catch {
      invalidRollouts++
      continue
    }
    const list = byComponent.get(r.component) ?? []
    list.push({ rollout: r, progress: progressOf(current, r.id, r.regions) })
    byComponent.set(r.component, list)
  }
  for (const list of byComponent.values()) list.sort((a, b) => newestFirst(a.rollout, b.rollout))
  return { byComponent, invalidRollouts, invalidProgress: current.invalid }
}
