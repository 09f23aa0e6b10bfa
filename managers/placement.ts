/**
 * Placement: where a deployment's instances run in one region, decided as a
 * pure function of the deployment, the region's nodes as their health
 * reports describe them, the current assignment and the time. The region's
 * network manager runs it each round and writes the result into replicated
 * config (placement-record.ts); nothing here does I/O, reads a clock or
 * depends on the order of its inputs, so any holder computes the same answer
 * from the same facts.
 *
 * The shape follows Nomad's scheduler: a node must first be feasible
 * (alive, in the deployment's regions, every constraint met), then feasible
 * nodes are ranked and the best taken; its reconciler's split of the
 * existing allocations into keep / stop / replace comes first, so that a
 * running instance stays where it is unless something is wrong with it.
 * Unlike Nomad's default bin-packing, ranking prefers the node with the
 * most free resources (Nomad's `spread` algorithm), and two instances of one
 * deployment never share a node (the host installs one version of a
 * component per node); a count the nodes cannot meet is reported, never
 * met by stacking.
 *
 * Rules (docs/components.md "Placement"):
 * - An existing instance is kept while its node is present, not dead or
 *   left, still in the deployment's regions and meeting its constraints, and
 *   (for a counted deployment) not reporting the instance `failed`. A busier
 *   node keeps its instance; a `suspect` node keeps it too (SWIM suspicion
 *   is often refuted; once the node is declared dead the instance moves).
 * - New instances go only to `alive` eligible nodes, never to a node that
 *   reports this version `failed`, best score first, ties by peer id.
 * - A system deployment (no count) is assigned to every alive eligible node;
 *   an instance that failed stays where it is (there is no other node for
 *   it), and is reported as a problem.
 */
import type { MemberState } from '../protocols/membership/types.js'
import { isSystemDeployment, type Deployment } from './deployment.js'

import type { ComponentState } from '../protocols/health/report.js'
export type { ComponentState }

/** One node of the region as placement sees it: membership state plus the facts of its latest health report. */
export interface NodeFacts {
  peerId: string
  region: string
  state: MemberState
  /** Free memory, bytes. */
  freeMemoryBytes: number
  /** Free bytes on the file system of the data dir (where components are unpacked). */
  diskFreeBytes: number
  /** 1-minute load average. */
  load: number
  cpus: number
  /** Labels the node carries (agent config); constraints match against them. */
  labels: Readonly<Record<string, string>>
  /** Components the node reports, with their states. */
  components: ReadonlyArray<{ name: string, version: string, state: ComponentState }>
}

/** One instance of a deployment: the node it is assigned to, since when (Unix ms). */
export interface Assignment {
  node: string
  since: number
}

/**
 * Why an instance stops on a node: the node is `dead`/`left`, no longer in
 * the region's node list at all, no longer eligible (constraints, regions),
 * reported the instance `failed`, or holds one instance more than `count`.
 */
export type StopReason = 'node-dead' | 'node-gone' | 'ineligible' | 'failed' | 'excess'

/** Why an instance starts: a system deployment covers a new eligible node, or a counted one is below its count. */
export type StartReason = 'system' | 'count'

export interface Start {
  node: string
  reason: StartReason
  /** The node whose stopped instance this one takes over (counted deployments), when there is one. */
  replaces?: string
}

export interface Stop {
  node: string
  reason: StopReason
}

export type PlacementProblem =
  /** Fewer alive eligible nodes than `count`: `unplaced` instances wait for a node rather than share one. */
  | { kind: 'not-enough-nodes', wanted: number, placed: number, eligible: number }
  /** A system component failed on a node; it stays assigned there (the host's restart policy applies). */
  | { kind: 'failed-in-place', node: string }

export interface Placement {
  /** The desired assignment, sorted by node. */
  assignments: Assignment[]
  /** Instances to start, sorted by node. */
  start: Start[]
  /** Instances to stop, sorted by node. */
  stop: Stop[]
  /** Instances of `count` no node could take. */
  unplaced: number
  problems: PlacementProblem[]
}

/** The input broke a precondition (the caller's bug, not the operator's): two facts for one node. */
export class PlacementInputError extends Error {
  static name = 'PlacementInputError'
  override name = 'PlacementInputError'
}

/** Order by peer id by UTF-16 code units: the same on every host and locale. */
function byId (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** Whether the node carries every constraint label with exactly its value (own properties only). */
export function meetsConstraints (d: Deployment, node: Pick<NodeFacts, 'labels'>): boolean {
  for (const [key, value] of Object.entries(d.constraints ?? {})) {
    if (!Object.hasOwn(node.labels, key) || node.labels[key] !== value) return false
  }
  return true
}

function inRegions (d: Deployment, node: NodeFacts): boolean {
  return d.regions === undefined || d.regions.includes(node.region)
}

/** A node a new instance may go to: alive, in the regions, every constraint met. */
export function isEligible (d: Deployment, node: NodeFacts): boolean {
  return node.state === 'alive' && inRegions(d, node) && meetsConstraints(d, node)
}

/** Whether the node reports this deployment's version `failed`. */
export function reportsFailed (d: Deployment, node: NodeFacts): boolean {
  return node.components.some(c => c.name === d.name && c.version === d.version && c.state === 'failed')
}

/** A non-negative finite number, else 0: a report with a bad number must not make sort orders depend on input order. */
function finite (n: number): number {
  return Number.isFinite(n) && n > 0 ? n : 0
}

/**
 * Free resources of each node as one number in [0, 3]: free memory and free
 * disk each as a fraction of the largest among `nodes`, plus idle CPU
 * (1 − load per CPU, floored at 0). Equal weights: no resource is asked for
 * yet (manifests carry no requests), so none should dominate.
 */
export function freeScores (nodes: readonly NodeFacts[]): Map<string, number> {
  let maxMem = 0
  let maxDisk = 0
  for (const n of nodes) {
    maxMem = Math.max(maxMem, finite(n.freeMemoryBytes))
    maxDisk = Math.max(maxDisk, finite(n.diskFreeBytes))
  }
  const scores = new Map<string, number>()
  for (const n of nodes) {
    const mem = maxMem > 0 ? finite(n.freeMemoryBytes) / maxMem : 0
    const disk = maxDisk > 0 ? finite(n.diskFreeBytes) / maxDisk : 0
    const cpus = finite(n.cpus)
    const cpu = cpus > 0 && Number.isFinite(n.load) ? Math.max(0, 1 - Math.max(0, n.load) / cpus) : 0
    scores.set(n.peerId, mem + disk + cpu)
  }
  return scores
}

/** Most free first, ties by peer id. */
function rankOrder (scores: Map<string, number>): (a: string, b: string) => number {
  return (a, b) => ((scores.get(b) ?? 0) - (scores.get(a) ?? 0)) || byId(a, b)
}

/** One entry per node (the earliest `since` when a record names a node twice), sorted by node. */
function normalize (current: readonly Assignment[]): Assignment[] {
  const byNode = new Map<string, number>()
  for (const a of current) byNode.set(a.node, Math.min(a.since, byNode.get(a.node) ?? Infinity))
  return [...byNode].map(([node, since]) => ({ node, since })).sort((a, b) => byId(a.node, b.node))
}

/** Why an existing instance cannot stay on its node, or undefined when it can. */
function stopReason (d: Deployment, node: NodeFacts | undefined): StopReason | undefined {
  if (node === undefined) return 'node-gone'
  if (node.state === 'dead' || node.state === 'left') return 'node-dead'
  if (!inRegions(d, node) || !meetsConstraints(d, node)) return 'ineligible'
  if (!isSystemDeployment(d) && reportsFailed(d, node)) return 'failed'
  return undefined
}

/**
 * The desired assignment of `deployment` over `nodes` (one region's
 * members) given the `current` one, and the minimal diff to get there.
 * New assignments start at `now`; kept ones keep their `since`.
 */
export function place (deployment: Deployment, nodes: readonly NodeFacts[], current: readonly Assignment[], now: number): Placement {
  const facts = new Map<string, NodeFacts>()
  for (const n of nodes) {
    if (facts.has(n.peerId)) throw new PlacementInputError(`two facts for node ${n.peerId}`)
    facts.set(n.peerId, n)
  }
  const kept: Assignment[] = []
  const stop: Stop[] = []
  for (const a of normalize(current)) {
    const reason = stopReason(deployment, facts.get(a.node))
    if (reason === undefined) kept.push(a)
    else stop.push({ node: a.node, reason })
  }
  const scores = freeScores(nodes)
  const order = rankOrder(scores)
  const problems: PlacementProblem[] = []
  const held = new Set(kept.map(a => a.node))
  const eligible = nodes.filter(n => isEligible(deployment, n)).map(n => n.peerId)
  let chosen: string[]
  let unplaced = 0
  let reason: StartReason
  if (deployment.count === undefined) {
    reason = 'system'
    chosen = eligible.filter(id => !held.has(id))
    for (const a of kept) if (reportsFailed(deployment, facts.get(a.node)!)) problems.push({ kind: 'failed-in-place', node: a.node })
  } else {
    reason = 'count'
    const count = deployment.count
    if (kept.length > count) {
      // Stop the instances on suspect nodes first, then on the nodes with the least free resources.
      const suspectFirst = (a: string, b: string): number =>
        Number(facts.get(b)!.state === 'suspect') - Number(facts.get(a)!.state === 'suspect') || order(b, a)
      const excess = kept.map(a => a.node).sort(suspectFirst).slice(0, kept.length - count)
      for (const node of excess) { stop.push({ node, reason: 'excess' }); held.delete(node) }
      kept.splice(0, kept.length, ...kept.filter(a => held.has(a.node)))
    }
    const candidates = eligible.filter(id => !held.has(id) && !reportsFailed(deployment, facts.get(id)!)).sort(order)
    const need = count - kept.length
    chosen = candidates.slice(0, need)
    unplaced = need - chosen.length
    if (unplaced > 0) problems.push({ kind: 'not-enough-nodes', wanted: count, placed: count - unplaced, eligible: eligible.length })
  }
  chosen.sort(byId)
  stop.sort((a, b) => byId(a.node, b.node))
  // Pair each new instance with a moved one (not an excess one), both in node order, so a log can say "moved from".
  const moved = stop.filter(s => s.reason !== 'excess').map(s => s.node)
  const start: Start[] = chosen.map((node, i) => reason === 'count' && i < moved.length ? { node, reason, replaces: moved[i] } : { node, reason })
  const assignments = [...kept, ...chosen.map(node => ({ node, since: now }))].sort((a, b) => byId(a.node, b.node))
  problems.sort((a, b) => byId(a.kind, b.kind) || byId(a.kind === 'failed-in-place' ? a.node : '', b.kind === 'failed-in-place' ? b.node : ''))
  return { assignments, start, stop, unplaced, problems }
}
