/**
 * Pieces of a SwimContext for tests that run one membership part (Prober,
 * PushPull) against fakes: the virtual clock as membership reads it, and a
 * sink for the metrics a test does not read.
 */
import pino from 'pino'
import type { VirtualClock } from '../../sim/clock.js'
import { membershipConfig } from '../../../protocols/membership/constants.js'
import { decoders } from '../../../protocols/membership/messages.js'
import { prng } from '../../../harness/prng.js'

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

/**
 * The parts of a Prober's context every probe test sets alike (`lan` config, silent log, metrics ignored,
 * Lifeguard's score fixed at healthy); a test adds the table, peers, transport and hooks it scripts.
 */
export function proberBase (clock: VirtualClock, seed: number, selfId = 'self', signal = new AbortController().signal): Record<string, unknown> & { cfg: ReturnType<typeof membershipConfig>, codec: ReturnType<typeof decoders> } {
  const cfg = membershipConfig('lan')
  return {
    cfg,
    selfId,
    signal,
    clock: swimClock(clock),
    random: prng(seed),
    log: pino({ level: 'silent' }),
    metrics: ignoreCalls,
    awareness: { scaleTimeout: (t: number) => t, applyDelta: () => {}, healthScore: () => 0 },
    codec: decoders(cfg),
    observersOf: () => [],
    piggyback: () => [],
    ingest: async () => {}
  }
}
