/**
 * The last stable version of a component (issue 14: auto-revert returns
 * every touched node to "the last one that was healthy everywhere it ran").
 * Pure: the rollout record keeps one outcome per node and version it ran,
 * and this picks the version to return to.
 *
 * The minimal input is one outcome per (node, version): did that version
 * become healthy there (passed a gate's min healthy time) or not (failed,
 * failing, missed a deadline), and when that was settled. A version is
 * stable when it has at least one outcome and every outcome is healthy; the
 * last stable one is the one settled most recently. Time, not semver order:
 * after a bad 2.0.0 was rolled back to 1.4.0, 1.4.0 is the one to return to.
 */
import semver from 'semver'

export interface VersionOutcome {
  peerId: string
  version: string
  /** It ran the version healthy (true) or the version failed there (false). */
  healthy: boolean
  /** Unix ms at which the outcome was settled. */
  at: number
}

/**
 * The last stable version among `outcomes`, leaving out `excluding` (the
 * version being rolled out, which cannot be its own way back); undefined
 * when no version qualifies. Ties in time go to the higher version, so
 * every holder picks the same one.
 */
export function lastStable (outcomes: readonly VersionOutcome[], excluding?: string): string | undefined {
  const byVersion = new Map<string, { stable: boolean, at: number }>()
  for (const o of outcomes) {
    if (o.version === excluding) continue
    const v = byVersion.get(o.version) ?? { stable: true, at: -Infinity }
    byVersion.set(o.version, { stable: v.stable && o.healthy, at: Math.max(v.at, o.at) })
  }
  let best: { version: string, at: number } | undefined
  for (const [version, v] of byVersion) {
    if (!v.stable) continue
    if (best === undefined || v.at > best.at || (v.at === best.at && higher(version, best.version))) best = { version, at: v.at }
  }
  return best?.version
}

function higher (a: string, b: string): boolean {
  if (semver.valid(a) !== null && semver.valid(b) !== null) return semver.gt(a, b)
  return a > b
}
