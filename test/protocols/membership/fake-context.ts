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
