/**
 * Where a deployment runs, as the node that checks a rollout start sees it
 * (pure): the regions, and in each the target nodes a rollout would switch.
 *
 * What a node knows: membership is network-wide (every member's region and
 * agent version), but health reports travel on the region's own topic, so a
 * node holds the labels and installed components only of its own region's
 * members (and its own). Hence:
 * - Regions: the regions of known members (not `left`) that the deployment
 *   applies to (its `regions`, or all).
 * - Target nodes of a region: for a counted deployment, the nodes the
 *   placement record in force assigns (replicated config, known
 *   everywhere); before the first placement, the nodes that report running
 *   the component. For a system deployment, the region's members (dead ones
 *   included: they may come back and run it) whose labels meet its
 *   constraints; a member without a report here has unknown labels and is a
 *   target only when the deployment has no constraints.
 * - `components` is known only for nodes with a report here; for the others
 *   only the agent version (membership) is, and start.ts checks
 *   `requires.mycel` alone on them (docs/rollouts.md says so).
 */
import type { Deployment } from '../deployment.js'
import type { ComponentReport } from '../../protocols/health/report.js'
import type { MemberState } from '../../protocols/membership/types.js'
import { meetsConstraints } from '../placement.js'
import { placementSlot, type CurrentPlacements } from '../placement-namespace.js'

export interface MemberFacts {
  peerId: string
  region: string
  state: MemberState
  /** The agent's version. */
  version: string
}

/** What one node reports about itself (its latest health report held here; the own node's live). */
export interface ReportFacts {
  /** The agent's version. */
  version: string
  labels?: Readonly<Record<string, string>>
  components?: readonly ComponentReport[]
  /** Older than the health stale bound. */
  stale?: boolean
}

/** What this node knows of the network when it checks a start or shows a status. */
export interface NetworkFacts {
  /** Every known member, self included. */
  members: readonly MemberFacts[]
  /** Reports by peer id: this node's region (and itself) only. */
  reports: ReadonlyMap<string, ReportFacts>
}

export interface TargetNode {
  peerId: string
  region: string
  /** The agent's version (report, else membership); absent when neither is known. */
  mycel?: string
  /** Installed components, from its report; absent when this node holds no report of it. */
  components?: Array<{ name: string, version: string }>
}

/** The regions of known members the deployment applies to, sorted. */
export function deploymentRegions (d: Deployment, facts: NetworkFacts): string[] {
  const regions = new Set<string>()
  for (const m of facts.members) {
    if (m.state === 'left') continue
    if (d.regions === undefined || d.regions.includes(m.region)) regions.add(m.region)
  }
  return [...regions].sort()
}

/** The target nodes of `d` in `regions`, sorted by region then peer id. */
export function targetNodes (d: Deployment, regions: readonly string[], facts: NetworkFacts, placements: CurrentPlacements): TargetNode[] {
  const byPeer = new Map<string, MemberFacts>()
  for (const m of facts.members) if (m.state !== 'left') byPeer.set(m.peerId, m)
  const out: TargetNode[] = []
  const node = (peerId: string, region: string): TargetNode => {
    const report = facts.reports.get(peerId)
    const mycel = report?.version ?? byPeer.get(peerId)?.version
    return {
      peerId,
      region,
      ...(mycel !== undefined ? { mycel } : {}),
      ...(report !== undefined ? { components: (report.components ?? []).map(c => ({ name: c.name, version: c.version })) } : {})
    }
  }
  for (const region of [...new Set(regions)].sort()) {
    const peers = new Set<string>()
    if (d.count !== undefined) {
      const rec = placements.byDeployment.get(placementSlot(region, d.name))?.record
      if (rec !== undefined) for (const a of rec.assignments) peers.add(a.node)
      else {
        for (const [peerId, r] of facts.reports) {
          if (byPeer.get(peerId)?.region === region && (r.components ?? []).some(c => c.name === d.name)) peers.add(peerId)
        }
      }
    } else {
      for (const m of byPeer.values()) {
        if (m.region !== region) continue
        const labels = facts.reports.get(m.peerId)?.labels
        const eligible = labels !== undefined ? meetsConstraints(d, { labels }) : Object.keys(d.constraints ?? {}).length === 0
        if (eligible) peers.add(m.peerId)
      }
    }
    for (const p of [...peers].sort()) out.push(node(p, region))
  }
  return out
}
