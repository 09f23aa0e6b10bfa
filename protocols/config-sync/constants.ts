/**
 * Tunables of config replication, with units and reasons, in three profiles
 * (`lan`, `wan`, `test`) like every protocol module, validated when this
 * module loads. `configSyncConfig(profile, overrides)` (=
 * `configSyncTunables.create`, lib/tunables.ts) resolves one.
 */
import { z } from 'zod'
import { defineTunables, tunable, type ProfileName } from '../../lib/tunables.js'
import { DEFAULT_LIMITS, type ConfigLimits } from '../../crdt/constants.js'
import { ENVELOPE_OVERHEAD } from '../../crdt/entry.js'

/** Anti-entropy stream protocol. */
export const SYNC_PROTOCOL = '/mycel/config-sync/1.0.0'
/** gossipsub topic carrying each new envelope once, from its writer. */
export const CONFIG_TOPIC = 'mycel/config/1'

export interface ConfigSyncConfig {
  /** ms between anti-entropy rounds with one random live member. Gossip delivers nearly everything; this repairs losses and partitions, so it trades repair latency against one small exchange per interval. */
  antiEntropyIntervalMs: number
  /** ± fraction of random jitter on the interval, so rounds across the cluster do not synchronise. */
  antiEntropyJitter: number
  /** ms deadline of one anti-entropy request (pull or push). */
  rpcTimeoutMs: number
  /** Envelopes per response frame; a frame is also cut at batchMaxBytes. */
  batchMaxEnvelopes: number
  /** Bytes of envelopes per response frame. */
  batchMaxBytes: number
  /** Envelopes one pull returns at most; the requester pulls again at once while the responder says there is more. Bounds the work one request costs the responder. */
  pullMaxEnvelopes: number
  /** Pulls in a row within one round before yielding to the next round (keeps a huge catch-up from starving other work). */
  maxPullsPerRound: number
  /** Largest frame accepted on the sync protocol, bytes (a version vector of many writers, or a batch). */
  maxFrameBytes: number
  /** Event-triggered rounds (member join/alive, gaps) running at once; beyond it they are skipped and the periodic round covers them. Stops a node that sees 50 members join at start from pulling everything 50 times. */
  maxConcurrentRounds: number
  /** Concurrent inbound sync streams per connection. */
  maxInboundStreams: number
  /** ms after a received envelope before its fsync (group commit). Received envelopes are advertised to peers only once synced, so this adds to what peers see as our lag, not to write latency. */
  syncDelayMs: number
  /** Envelopes appended since the last snapshot that trigger a new one; bounds start-up replay. */
  snapshotEveryEnvelopes: number
  /** ms between checks for a due snapshot. */
  snapshotCheckMs: number
  /** ms a `waitFor` write waits for acknowledgements by default (the API may ask for less or more up to maxWaitForMs). */
  waitForTimeoutMs: number
  maxWaitForMs: number
  /** ms between active pushes while a write waits for acknowledgements. */
  waitForRetryMs: number
  /** ms a gap seen in gossip (an envelope from the future) waits before we pull from the peer that forwarded it; the missing one is often just behind. */
  gapPullDelayMs: number
  /**
   * A received envelope whose writer signed it longer ago than this, ms,
   * records no spans here even if it carries a trace (docs/tracing.md): a
   * node catching up on history (a late joiner, a healed partition) would
   * otherwise log two span lines per old traced write and crowd its log
   * store with hops nobody follows any more. Judged by the writer's clock.
   */
  traceMaxAgeMs: number
  /** Size and shape limits of envelopes and values (crdt/constants.ts). */
  limits: ConfigLimits
  /**
   * Concurrent watch streams (`GET /v1/config/:ns?watch=1`) per agent;
   * beyond it a new watch is answered 503. Each may buffer up to
   * watchBacklogBytes, so this times that bounds the memory watchers can
   * take (64 × 1 MiB). Watchers are local tools and sidecars: a handful.
   */
  maxWatchers: number
  /**
   * Bytes of events one watcher may have waiting for it to read. A watcher
   * further behind is dropped (final `dropped` event; it must watch again
   * and gets a fresh snapshot) instead of making the agent buffer without
   * bound, as etcd does with slow watchers. 1 MiB is 16 of the largest
   * values (64 KiB).
   */
  watchBacklogBytes: number
  /** ms a dropped watcher has to take its last bytes and the `dropped` event before its connection is cut (one that never reads would otherwise hold its buffer for good). */
  watchDropGraceMs: number
  /** ms between SSE keep-alive comments (proxies and idle timeouts). */
  watchKeepaliveMs: number
}

const lan: ConfigSyncConfig = {
  // Repair only: gossip and gap pulls deliver, and a subject that joins or comes back gets a round at once
  // (service.ts). 15 s as on wan (it was 5 s): a third of the streams an idle agent opens for it.
  antiEntropyIntervalMs: 15_000,
  antiEntropyJitter: 0.2,
  rpcTimeoutMs: 10_000,
  batchMaxEnvelopes: 256,
  batchMaxBytes: 512 * 1024,
  pullMaxEnvelopes: 4_096,
  maxPullsPerRound: 16,
  maxFrameBytes: 8 * 1024 * 1024,
  maxInboundStreams: 8,
  maxConcurrentRounds: 4,
  syncDelayMs: 20,
  snapshotEveryEnvelopes: 10_000,
  snapshotCheckMs: 30_000,
  waitForTimeoutMs: 5_000,
  maxWaitForMs: 60_000,
  waitForRetryMs: 200,
  gapPullDelayMs: 200,
  traceMaxAgeMs: 10 * 60_000,
  limits: DEFAULT_LIMITS,
  maxWatchers: 64,
  watchBacklogBytes: 1024 * 1024,
  watchDropGraceMs: 10_000,
  watchKeepaliveMs: 15_000
}

/**
 * Room a watch `set` event needs beyond its value, bytes: the key (JSON
 * escaping may grow it), the writer's peer id and the SSE framing.
 */
const WATCH_EVENT_SLACK_BYTES = 4 * 1024

const limitsSchema = z.strictObject({
  maxKeyBytes: tunable.positive(),
  maxValueBytes: tunable.positive(),
  maxEnvelopeBytes: tunable.positive(),
  maxKeysPerNamespace: tunable.positive(),
  maxValueDepth: tunable.positive(),
  maxHeldPerStream: tunable.positive(),
  maxHeldTotal: tunable.positive()
})

export const configSyncTunables = defineTunables<ConfigSyncConfig>({
  module: 'config-sync',
  schema: z.strictObject({
    antiEntropyIntervalMs: tunable.positive(),
    antiEntropyJitter: tunable.fraction(),
    rpcTimeoutMs: tunable.positive(),
    batchMaxEnvelopes: tunable.positive(),
    batchMaxBytes: tunable.positive(),
    pullMaxEnvelopes: tunable.positive(),
    maxPullsPerRound: tunable.positive(),
    maxFrameBytes: tunable.positive(),
    maxConcurrentRounds: tunable.positive(),
    maxInboundStreams: tunable.positive(),
    syncDelayMs: tunable.nonNegative(),
    snapshotEveryEnvelopes: tunable.positive(),
    snapshotCheckMs: tunable.positive(),
    waitForTimeoutMs: tunable.positive(),
    maxWaitForMs: tunable.positive(),
    waitForRetryMs: tunable.positive(),
    gapPullDelayMs: tunable.nonNegative(),
    traceMaxAgeMs: tunable.positive(),
    limits: limitsSchema,
    maxWatchers: tunable.positive(),
    watchBacklogBytes: tunable.positive(),
    watchDropGraceMs: tunable.positive(),
    watchKeepaliveMs: tunable.positive()
  }),
  profiles: {
    lan,
    wan: {
      ...lan,
      // Cross-region links: rounds cost more and fail slower.
      antiEntropyIntervalMs: 15_000,
      rpcTimeoutMs: 30_000,
      waitForTimeoutMs: 15_000,
      waitForRetryMs: 1_000,
      gapPullDelayMs: 1_000
    },
    test: {
      ...lan,
      // Fast repair so integration tests converge in seconds.
      antiEntropyIntervalMs: 500,
      rpcTimeoutMs: 5_000,
      syncDelayMs: 5,
      snapshotEveryEnvelopes: 1_000,
      snapshotCheckMs: 2_000,
      waitForRetryMs: 100,
      gapPullDelayMs: 50
    }
  },
  relations: [
    // A responder cuts a batch frame before the envelope that would take it
    // past batchMaxBytes, but a frame always holds at least one envelope; the
    // receiver refuses any frame above maxFrameBytes, so that must hold a full
    // batch, one envelope more and the framing.
    t => t.batchMaxBytes + t.limits.maxEnvelopeBytes + 1024 <= t.maxFrameBytes
      ? undefined
      : `maxFrameBytes (${t.maxFrameBytes}) must hold a full batch: batchMaxBytes + limits.maxEnvelopeBytes + 1024 (${t.batchMaxBytes + t.limits.maxEnvelopeBytes + 1024})`,
    // A single-key write is its value, its key and ENVELOPE_OVERHEAD
    // (crdt/entry.ts) in one envelope; with a smaller envelope limit a
    // value the value limit allows would be refused by the envelope limit.
    t => t.limits.maxValueBytes + t.limits.maxKeyBytes + ENVELOPE_OVERHEAD <= t.limits.maxEnvelopeBytes
      ? undefined
      : `limits.maxEnvelopeBytes (${t.limits.maxEnvelopeBytes}) must hold the largest single-key write: limits.maxValueBytes + limits.maxKeyBytes + ${ENVELOPE_OVERHEAD} (${t.limits.maxValueBytes + t.limits.maxKeyBytes + ENVELOPE_OVERHEAD})`,
    // A watcher with more than watchBacklogBytes waiting is dropped; if one
    // `set` event of the largest value did not fit, every write of such a
    // value would drop every watcher, however fast it reads.
    t => t.limits.maxValueBytes + WATCH_EVENT_SLACK_BYTES <= t.watchBacklogBytes
      ? undefined
      : `watchBacklogBytes (${t.watchBacklogBytes}) must hold one event of the largest value: limits.maxValueBytes + ${WATCH_EVENT_SLACK_BYTES} (${t.limits.maxValueBytes + WATCH_EVENT_SLACK_BYTES})`,
    // A write's wait is cut to maxWaitForMs (service.ts): a default above it
    // would never be what a caller gets.
    t => t.waitForTimeoutMs <= t.maxWaitForMs
      ? undefined
      : `waitForTimeoutMs (${t.waitForTimeoutMs}) must not exceed maxWaitForMs (${t.maxWaitForMs})`,
    // A waiting write pushes to unacknowledged members again every
    // waitForRetryMs; at or above the default wait it would push once and
    // leave a lost message to the next anti-entropy round.
    t => t.waitForRetryMs < t.waitForTimeoutMs
      ? undefined
      : `waitForRetryMs (${t.waitForRetryMs}) must be below waitForTimeoutMs (${t.waitForTimeoutMs}), or a waiting write never pushes again`
  ]
})

/** The profile's tunables with `overrides`, validated: the one way to resolve them. */
export const configSyncConfig = (profile: ProfileName, overrides?: Partial<ConfigSyncConfig>): Readonly<ConfigSyncConfig> => configSyncTunables.create(profile, overrides)
