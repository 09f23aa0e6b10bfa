/**
 * Starting a rollout (issue 14, points 1 and 3, "Bad input"): a start
 * request becomes a rollout record, or is refused before anything is
 * written, with a named error and one line (errors.ts). The checks, in the
 * order they run (cheap and local first, the network probe last):
 *
 * 1. the request parses (record.ts bounds; 422);
 * 2. the component has a deployment (404), and `to` is not its version (409);
 * 3. no other rollout of the component is open (`running|paused|failed`,
 *    state.ts OPEN_STATES): the second is refused with the open one's id,
 *    not queued (409). A queue would start a rollout later, from a version
 *    nobody chose then, on a network nobody checked then; refusing leaves
 *    the decision with the operator, who aborts, rolls back or waits;
 * 4. regions: absent, every region the deployment runs in, sorted (the
 *    same list whatever node is asked; `--region` picks the canary region);
 *    given, exactly those regions in any order (409): one left out would have
 *    its version switched when the rollout succeeds (the update manager writes
 *    `to` into the deployment) without ever being rolled;
 * 5. the release: the artifact service's own verdict (`release(name,
 *    version)`: unknown 404, untrusted 403, conflicted 409), unchanged;
 * 6. compatibility: the manifest's `requires` against every target node
 *    (targets.ts), every problem listed (409);
 * 7. the archive is reachable: in this node's blocks, or a provider found
 *    in the DHT in bounded time (503).
 *
 * `from` is the deployment's version, or the `to` of a rollout from it that
 * succeeded and whose write into the deployment has not arrived here yet
 * (state.ts `settledVersion`); `lastStable` comes from the component's
 * earlier rollouts (history.ts), the id is readable and unique.
 */
import { randomBytes } from 'node:crypto'
import type { Deployment } from '../deployment.js'
import type { CurrentPlacements } from '../placement-namespace.js'
import { MYCEL_REQUIREMENT } from '../../protocols/artifacts/constants.js'
import { checkCompatibility, describeProblem, type CompatProblem } from './compat.js'
import { IncompatibleRolloutError, NoDeploymentError, RolloutOpenError, RolloutRegionsError, SameVersionError, ArchiveUnreachableError } from './errors.js'
import { stableVersion } from './history.js'
import { parseRollout, ROLLOUT_ID_PATTERN, type Rollout } from './record.js'
import { parseStartRequest } from './request.js'
import { OPEN_STATES, rolloutState, settledVersion, type RolloutWithProgress } from './state.js'
import { deploymentRegions, targetNodes, type NetworkFacts } from './targets.js'

/** Hex characters of the random part of a rollout id: 24 bits, so two rollouts of one version in one second still differ. */
export const ID_SUFFIX_HEX = 6

/** What a start needs of the release: the artifact service's `release()` manifest. */
export interface StartRelease {
  requires?: Readonly<Record<string, string>>
  archive: { cid: string, size: number }
}

/** Everything the checks read, as of now. */
export interface StartFacts {
  /** The component's deployment, parsed; undefined when there is none. */
  deployment: Deployment | undefined
  /** The component's rollouts with their progress (any order). */
  rollouts: readonly RolloutWithProgress[]
  network: NetworkFacts
  placements: CurrentPlacements
  /** The verified release of `name@version`; throws the artifact service's named error. */
  release: (name: string, version: string) => StartRelease
  now: number
}

/** An accepted start: the record to write, and what could not be checked here. */
export interface StartPlan {
  rollout: Rollout
  archive: { cid: string, size: number }
  /** Target nodes whose installed components this node cannot see (no report here: another region); only `requires.mycel` was checked on them. */
  unchecked: string[]
}

/**
 * Checks 1 to 6 over `facts`, and the record (`id` from `makeId`). Throws
 * the named refusal of the first check that fails. Pure but for `release`.
 */
export function planStart (input: unknown, facts: StartFacts, makeId: (component: string, to: string) => string = rolloutId): StartPlan {
  const req = parseStartRequest(input)
  const name = req.component
  const d = facts.deployment
  if (d === undefined) throw new NoDeploymentError(`no deployment of ${name}: deploy it first (mycel component deploy ${name}@VERSION)`)
  // A rollout that succeeded an instant ago speaks for the component until its write of `to` into the deployment arrives.
  const from = settledVersion(d.version, facts.rollouts)
  if (from === req.version) throw new SameVersionError(`${name} is deployed at ${req.version} already: nothing to roll`)
  for (const { rollout, progress } of facts.rollouts) {
    const state = rolloutState(rollout, progress)
    if (OPEN_STATES.includes(state)) {
      throw new RolloutOpenError(`rollout ${rollout.id} of ${name} is ${state}: a second rollout is refused, not queued (abort it or roll it back first)`, rollout.id)
    }
  }
  const regions = chooseRegions(d, req.regions, facts.network)
  const release = facts.release(name, req.version)
  const targets = targetNodes(d, regions, facts.network, facts.placements)
  const seen = targets.filter(t => t.components !== undefined)
  const unseen = targets.filter(t => t.components === undefined)
  const problems: CompatProblem[] = [
    ...checkCompatibility(release.requires, seen.map(t => ({ peerId: t.peerId, mycel: t.mycel ?? '', components: t.components ?? [] }))).problems,
    ...mycelOnly(release.requires, unseen.map(t => ({ peerId: t.peerId, mycel: t.mycel })))
  ]
  if (problems.length > 0) {
    throw new IncompatibleRolloutError(`${name}@${req.version} is incompatible with ${new Set(problems.map(p => p.node)).size} of ${targets.length} target nodes: ${problems.map(describeProblem).join('; ')}`, problems)
  }
  const { component, version, regions: _regions, ...knobs } = req
  const rollout = parseRollout({
    ...knobs,
    id: makeId(component, version),
    component,
    from,
    to: version,
    lastStable: stableVersion(facts.rollouts, from, version, facts.now),
    regions,
    createdAt: facts.now,
    control: { state: 'running', at: facts.now, promoted: false }
  })
  return { rollout, archive: { ...release.archive }, unchecked: unseen.map(t => t.peerId) }
}

/** The regions of the rollout (check 4). */
function chooseRegions (d: Deployment, asked: readonly string[] | undefined, network: NetworkFacts): string[] {
  const runs = deploymentRegions(d, network)
  if (runs.length === 0) throw new RolloutRegionsError(`${d.name} runs in no region with a known member: nothing to roll`)
  if (asked === undefined) return runs
  const missing = runs.filter(r => !asked.includes(r))
  const extra = asked.filter(r => !runs.includes(r))
  if (missing.length > 0 || extra.length > 0) {
    const parts = [
      ...(missing.length > 0 ? [`missing ${missing.join(', ')} (the deployment runs there, and its version would switch there unrolled when the rollout succeeds)`] : []),
      ...(extra.length > 0 ? [`${extra.join(', ')}: the deployment does not run there`] : [])
    ]
    throw new RolloutRegionsError(`regions must be every region ${d.name} runs in (${runs.join(', ')}), in the order to roll them: ${parts.join('; ')}`)
  }
  return [...asked]
}

/** `requires.mycel` on nodes whose components are unknown here (their agent version comes from membership). */
function mycelOnly (requires: Readonly<Record<string, string>> | undefined, nodes: Array<{ peerId: string, mycel?: string }>): CompatProblem[] {
  const range = requires?.[MYCEL_REQUIREMENT]
  if (range === undefined) return []
  const known = nodes.filter(n => n.mycel !== undefined).map(n => ({ peerId: n.peerId, mycel: n.mycel as string, components: [] }))
  const problems = checkCompatibility({ [MYCEL_REQUIREMENT]: range }, known).problems
  // An agent this node knows no version of cannot be shown to meet the range.
  for (const n of nodes) if (n.mycel === undefined) problems.push({ node: n.peerId, requirement: MYCEL_REQUIREMENT, range, reason: 'missing' })
  return problems
}

/**
 * A readable, unique id: `<component>-<to>-<random>`, `+` (build metadata)
 * as `_`, shortened to fit ROLLOUT_ID_PATTERN's 64 characters.
 */
export function rolloutId (component: string, to: string, suffix: string = randomBytes(ID_SUFFIX_HEX / 2).toString('hex')): string {
  const head = `${component}-${to.replaceAll('+', '_')}`.slice(0, 64 - 1 - suffix.length)
  const id = `${head}-${suffix}`
  if (!ROLLOUT_ID_PATTERN.test(id)) throw new Error(`rollout id ${id} does not match the id pattern`)
  return id
}

/** Whether the archive can be fetched: in this node's blocks, or offered by a provider (reachability.ts). */
export type ArchiveProbe = (archive: { cid: string, size: number }, signal: AbortSignal) => Promise<boolean>

/**
 * Check 7 on an accepted plan: throws ArchiveUnreachableError when `probe`
 * says no. `probe` bounds its own time.
 */
export async function checkReachable (plan: StartPlan, probe: ArchiveProbe, signal: AbortSignal): Promise<void> {
  const { component, to } = plan.rollout
  if (await probe(plan.archive, signal)) return
  signal.throwIfAborted()
  throw new ArchiveUnreachableError(`${component}@${to}: archive ${plan.archive.cid} is not held here and no provider was found in time; is the node that published it up?`)
}
