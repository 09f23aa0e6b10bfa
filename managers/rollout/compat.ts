/**
 * Rollout compatibility (issue 14, point 3): before a rollout starts, every
 * target node's installed versions are checked against the new manifest's
 * `requires`, and an incompatible network is refused with the list of nodes
 * and reasons. Pure: the caller gathers what each node runs (its health
 * report's `version` and `components`) and acts on the answer.
 *
 * Prereleases: ranges are matched with `includePrerelease: true`. A version
 * a node actually runs is a fact, and the question is only where it sits in
 * semver's order; without the flag a dev build such as `0.4.0-rc.1` would
 * satisfy no range like `>=0.3.0` and every rollout to a test network would
 * be refused. The cost, said here so nobody is surprised: `1.0.0-rc.1`
 * satisfies `<1.0.0`, because semver orders it below `1.0.0`.
 */
import semver from 'semver'
import { MYCEL_REQUIREMENT } from '../../protocols/artifacts/constants.js'

/** How a range is matched (see the file comment for why prereleases are included). */
export const RANGE_OPTIONS: semver.RangeOptions = { includePrerelease: true }

/** What one target node runs, from its health report. */
export interface NodeInstalled {
  peerId: string
  /** The agent's own version (the report's `version`), checked against `requires.mycel`. */
  mycel: string
  /** Components installed on the node, one version each. */
  components: Array<{ name: string, version: string }>
}

export type CompatReason = 'missing' | 'unsatisfied' | 'invalid-version'

export interface CompatProblem {
  node: string
  /** The requirement's name: `mycel` or a component name. */
  requirement: string
  /** The range required. */
  range: string
  /** The version found, absent when the node has no such component. */
  found?: string
  reason: CompatReason
}

export interface CompatResult {
  ok: boolean
  problems: CompatProblem[]
}

/**
 * Check `requires` (requirement name -> semver range, as in the manifest)
 * against every node. Problems come in node order, then requirement name
 * order, so the refusal reads the same on every holder.
 */
export function checkCompatibility (requires: Readonly<Record<string, string>> | undefined, nodes: readonly NodeInstalled[]): CompatResult {
  const problems: CompatProblem[] = []
  const names = Object.keys(requires ?? {}).sort()
  const sorted = [...nodes].sort((a, b) => a.peerId < b.peerId ? -1 : a.peerId > b.peerId ? 1 : 0)
  for (const node of sorted) {
    for (const name of names) {
      const range = (requires as Record<string, string>)[name] as string
      const found = name === MYCEL_REQUIREMENT ? node.mycel : node.components.find(c => c.name === name)?.version
      const reason = check(range, found)
      if (reason !== undefined) problems.push({ node: node.peerId, requirement: name, range, ...(found === undefined ? {} : { found }), reason })
    }
  }
  return { ok: problems.length === 0, problems }
}

function check (range: string, found: string | undefined): CompatReason | undefined {
  if (found === undefined) return 'missing'
  // A version that is not semver (an old or odd agent build string) cannot be placed in any range.
  if (semver.valid(found) === null) return 'invalid-version'
  return semver.satisfies(found, range, RANGE_OPTIONS) ? undefined : 'unsatisfied'
}

/** One line per problem, for the refusal an operator reads. */
export function describeProblem (p: CompatProblem): string {
  switch (p.reason) {
    case 'missing': return `${p.node}: requires ${p.requirement} ${p.range}, not installed`
    case 'invalid-version': return `${p.node}: requires ${p.requirement} ${p.range}, found "${p.found ?? ''}" (not a semver version)`
    case 'unsatisfied': return `${p.node}: requires ${p.requirement} ${p.range}, found ${p.found ?? ''}`
  }
}
