/**
 * What this node should run: computed on every node from replicated config
 * alone (the deployments and the placement records), with no help from the
 * network manager at run time, so a node keeps running what it should while
 * the role changes hands. The component host (host/) installs and stops
 * until what runs equals this list; it does not import managers/ (host and
 * managers are siblings), so the agent hands it `desiredSource(...).desired`
 * and its `onChange`.
 *
 * - A system deployment (no `count`) is desired on every node whose region
 *   it applies to and whose labels meet its constraints.
 * - A counted deployment is desired where the record in force for this
 *   node's region (the highest term: placement-namespace.ts) assigns this
 *   node, and only while the deployment applies to the region and this
 *   node's labels meet its constraints (a node never runs what its own
 *   labels exclude, even on a record made from an older report).
 *
 * - A rollout of the component (rollout/state.ts `rolloutVersion`) may
 *   change the version on this node: the rollout's version once the
 *   region's update manager assigned the node, the version it returns to
 *   once the rollout is rolled back.
 *
 * Pure and total: a deployment or record that does not parse is skipped and
 * counted, never thrown; the answer does not depend on the order of the
 * entries.
 */
import { metricsOn } from '../lib/metrics.js'
import type { Registry } from 'prom-client'
import { DEPLOYMENTS_NAMESPACE, parseDeployment, type Deployment } from './deployment.js'
import { meetsConstraints } from './placement.js'
import { currentPlacements, placementSlot, PLACEMENTS_NAMESPACE } from './placement-namespace.js'
import { ROLLOUTS_NAMESPACE } from './rollout/record.js'
import { ROLLOUT_PROGRESS_NAMESPACE } from './rollout/progress.js'
import { indexRollouts, rolloutVersion } from './rollout/state.js'

/** One component version this node should run. */
export interface DesiredRelease {
  name: string
  version: string
  /**
   * Keep it if it runs here now, start nothing: a counted deployment the
   * region's network manager has not placed yet (just deployed, or turned
   * from a system deployment into a counted one). Stopping every instance
   * until the first placement record arrives would be an outage the
   * operator did not ask for; the record then says which of them stay.
   */
  keepOnly?: true
}

/** This node as deployments see it. */
export interface DesiredNode {
  peerId: string
  region: string
  labels: Readonly<Record<string, string>>
}

export type ConfigEntries = Iterable<readonly [string, { value: unknown, writer?: string }]>

export interface DesiredResult {
  /** Sorted by name. */
  releases: DesiredRelease[]
  /** Deployment entries skipped: not a deployment, or stored under another name. */
  invalidDeployments: number
  /** Placement entries skipped (placement-namespace.ts `currentPlacements`). */
  invalidPlacements: number
  /** Rollout and progress entries skipped (rollout/state.ts `indexRollouts`). */
  invalidRollouts: number
  invalidProgress: number
}

/** The rollout namespaces' entries; absent: no rollout anywhere. */
export interface RolloutEntries {
  rollouts: ConfigEntries
  progress: ConfigEntries
}

function appliesTo (d: Deployment, node: DesiredNode): boolean {
  return (d.regions === undefined || d.regions.includes(node.region)) &&
    meetsConstraints(d, node)
}

/** The releases `node` should run, from the entries of `mycel.deployments` and `mycel.placements`. */
export function desiredReleases (node: DesiredNode, deployments: ConfigEntries, placements: ConfigEntries, rollouts?: RolloutEntries): DesiredResult {
  const current = currentPlacements(placements)
  const index = indexRollouts(rollouts?.rollouts ?? [], rollouts?.progress ?? [])
  const releases: DesiredRelease[] = []
  let invalidDeployments = 0
  for (const [key, { value }] of deployments) {
    let d: Deployment
    try {
      d = parseDeployment(value)
    } catch {
      invalidDeployments++
      continue
    }
    if (d.name !== key) { invalidDeployments++; continue }
    if (!appliesTo(d, node)) continue
    if (d.count !== undefined) {
      const rec = current.byDeployment.get(placementSlot(node.region, d.name))?.record
      if (rec === undefined) { releases.push({ name: d.name, version: d.version, keepOnly: true }); continue }
      if (!rec.assignments.some(a => a.node === node.peerId)) continue
    }
    const ofComponent = index.byComponent.get(d.name)
    const version = ofComponent === undefined
      ? undefined
      : rolloutVersion({ peerId: node.peerId, region: node.region, deploymentVersion: d.version, rollouts: ofComponent })
    releases.push({ name: d.name, version: version ?? d.version })
  }
  releases.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  return { releases, invalidDeployments, invalidPlacements: current.invalid, invalidRollouts: index.invalidRollouts, invalidProgress: index.invalidProgress }
}

/** The namespaces what a node should run depends on. */
const WATCHED = new Set([DEPLOYMENTS_NAMESPACE, PLACEMENTS_NAMESPACE, ROLLOUTS_NAMESPACE, ROLLOUT_PROGRESS_NAMESPACE])

/** The slice of replicated config (protocols/config-sync ConfigService) the source reads. */
export interface DesiredConfig {
  entries: (ns: string) => Array<[string, { value: unknown, writer?: string }]>
  onChange: (listener: (e: { ns: string }) => void) => () => void
}

/** What the agent hands the component host: the list now, and a callback when it may have changed. */
export interface DesiredSource {
  /** Undefined while that is unknown (the config service is not running): the host then stops nothing. */
  desired: () => DesiredRelease[] | undefined
  /** `listener` runs after any change to deployments, placement records or rollouts; returns the unsubscribe. */
  onChange: (listener: () => void) => () => void
}

export interface DesiredSourceInit {
  node: DesiredNode
  /** Undefined while the config service is not running (not started, stopped on a fault): the desired set is unknown then. */
  config: () => DesiredConfig | undefined
  registry?: Registry
}

/**
 * `desiredReleases` over this node's replicated config. `desired()` reads the
 * store each call (cheap: four small namespaces) and sets
 * `mycel_desired_invalid_records{namespace}` to what it skipped.
 */
export function desiredSource (init: DesiredSourceInit): DesiredSource {
  const invalid = metricsOn(init.registry).gauge({
    name: 'mycel_desired_invalid_records',
    help: 'Entries of mycel.deployments / placements / rollouts / rollout-progress skipped when computing what this node should run (they do not parse)',
    labelNames: ['namespace']
  })
  return {
    desired: () => {
      const config = init.config()
      // Unknown, not empty: an empty set would stop every component on a config fault.
      if (config === undefined) return undefined
      const r = desiredReleases(init.node, config.entries(DEPLOYMENTS_NAMESPACE), config.entries(PLACEMENTS_NAMESPACE),
        { rollouts: config.entries(ROLLOUTS_NAMESPACE), progress: config.entries(ROLLOUT_PROGRESS_NAMESPACE) })
      invalid.set({ namespace: DEPLOYMENTS_NAMESPACE }, r.invalidDeployments)
      invalid.set({ namespace: PLACEMENTS_NAMESPACE }, r.invalidPlacements)
      invalid.set({ namespace: ROLLOUTS_NAMESPACE }, r.invalidRollouts)
      invalid.set({ namespace: ROLLOUT_PROGRESS_NAMESPACE }, r.invalidProgress)
      return r.releases
    },
    onChange: (listener) => {
      const config = init.config()
      if (config === undefined) return () => {}
      return config.onChange((e) => { if (WATCHED.has(e.ns)) listener() })
    }
  }
}
