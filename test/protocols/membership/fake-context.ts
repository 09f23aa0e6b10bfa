/**
 * Pieces of a SwimContext for tests that run one membership part (Prober,
 * PushPull) against fakes: the virtual clock as membership reads it, and a
 * sink for the metrics a test does not read.
 */
import type { VirtualClock } from '../../sim/clock.js'

/** Accepts any call chain (counters and histograms the test does not read). */
export const ignoreCalls: any = new Proxy(() => {}, { get: () => ignoreCalls, apply: () => ignoreCalls })

/** Membership's clock over a virtual one: wall time from a fixed epoch, monotonic from 0. */
export function swimClock (clock: VirtualClock): { now: () => number, monotonic: () => number, setTimeout: VirtualClock['setTimeout'], clearTimeout: VirtualClock['clearTimeout'] } {
  return { now: () => 1_700_000_000_000 + clock.now(), monotonic: clock.now, setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout }
}

/** A member table in which every member is alive at incarnation 1, none in its join grace, none suspected. */
export function aliveTable (ids: string[]): { get: () => { state: 'alive', incarnation: number }, ids: () => string[], claimOf: () => undefined, inJoinGrace: () => boolean, markSeen: () => void, markContact: () => void } {
  return {
    get: () => ({ state: 'alive', incarnation: 1 }),
    ids: () => ids,
    claimOf: () => undefined,
    inJoinGrace: () => false,
    markSeen: () => {},
    markContact: () => {}
  }
}
