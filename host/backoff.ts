/**
 * When a supervised component is started again after it exits: the
 * restart delay and the start limit, as pure functions of the policy and
 * the history, so they are tested without processes or real time.
 *
 * - The delay doubles with each quick exit (a run shorter than
 *   `backoffResetMs`) from `backoffMinMs` up to `backoffMaxMs`, with a random
 *   ±`backoffJitter` so components that crashed together do not come back in
 *   step. A healthy run resets it (systemd's RestartSteps= grows it the same
 *   way towards RestartMaxDelaySec=).
 * - The start limit is systemd's StartLimitBurst=/StartLimitIntervalSec=:
 *   a start is refused when `startLimitBurst` starts already happened in the
 *   `startLimitIntervalMs` before it. The supervisor asks when a process
 *   exits, for the start it would make after the delay, and goes to `failed`
 *   at once rather than wait out a delay that can only end in a refusal.
 */
import { jittered } from '../lib/clock.js'
import type { HostConfig } from './constants.js'

export type RestartPolicy = Pick<HostConfig, 'backoffMinMs' | 'backoffMaxMs' | 'backoffJitter' | 'backoffResetMs' | 'startLimitBurst' | 'startLimitIntervalMs'>

/** The pause before the next start after `quickExits` quick exits in a row (0 for the first), ms. */
export function restartDelay (quickExits: number, policy: RestartPolicy, random: () => number = Math.random): number {
  // 2^quickExits overflows to Infinity for absurd counts; min() keeps it at the cap.
  const base = Math.min(policy.backoffMaxMs, policy.backoffMinMs * 2 ** Math.max(0, quickExits))
  return Math.max(0, Math.round(jittered(base, policy.backoffJitter, random)))
}

/** Would a start at `at` break the limit, given the earlier start times `starts`? */
export function startLimitHit (starts: readonly number[], at: number, policy: RestartPolicy): boolean {
  return startsWithin(starts, at, policy.startLimitIntervalMs) >= policy.startLimitBurst
}

/** How many of `starts` fall in the window of `intervalMs` before `at`. */
function startsWithin (starts: readonly number[], at: number, intervalMs: number): number {
  let n = 0
  for (const s of starts) if (s > at - intervalMs && s <= at) n++
  return n
}

/** The start times still able to count against a start at `now` or later (older ones are dropped). */
export function recentStarts (starts: readonly number[], now: number, policy: RestartPolicy): number[] {
  return starts.filter(s => s > now - policy.startLimitIntervalMs)
}
