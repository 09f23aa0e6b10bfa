/**
 * The last stable version a new rollout returns to (its record's
 * `lastStable`), from what the component's earlier rollouts settled (pure).
 * The outcomes (last-stable.ts) are read off their progress records:
 * - every node of a passed wave ran the rollout's `to` healthy, settled at
 *   the wave's `passedAt`;
 * - the nodes assigned in a failed region's failing wave did not, settled
 *   at `failure.at`.
 * The deployment's version now (`from`) counts as healthy now: it is what
 * runs, and it is the way back unless an earlier rollout saw it fail, in
 * which case the last version that never failed is. With no stable version
 * at all, `from`.
 */
import { lastStable, type VersionOutcome } from './last-stable.js'
import type { RolloutWithProgress } from './state.js'

/** The outcomes the records of `rollouts` settled. */
export function outcomesOf (rollouts: readonly RolloutWithProgress[]): VersionOutcome[] {
  const out: VersionOutcome[] = []
  for (const { rollout, progress } of rollouts) {
    for (const p of progress.values()) {
      for (const w of p.waves) {
        if (w.state === 'passed' && w.passedAt !== undefined) {
          for (const peerId of w.nodes) out.push({ peerId, version: rollout.to, healthy: true, at: w.passedAt })
        }
      }
      const failed = p.failure !== undefined ? p.waves[p.failure.wave] : undefined
      if (p.state === 'failed' && p.failure !== undefined && failed !== undefined) {
        for (const peerId of failed.assigned) out.push({ peerId, version: rollout.to, healthy: false, at: p.failure.at })
      }
    }
  }
  return out
}

/** `lastStable` of a rollout of the component from `from` to `to`, at `now`. */
export function stableVersion (earlier: readonly RolloutWithProgress[], from: string, to: string, now: number): string {
  const outcomes = outcomesOf(earlier)
  // The deployment's version as it runs now; a settled failure of it (at any time) still makes it unstable.
  outcomes.push({ peerId: '', version: from, healthy: true, at: now })
  return lastStable(outcomes, to) ?? from
}
