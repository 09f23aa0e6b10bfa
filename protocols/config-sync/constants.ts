/**
 * Tunables of config replication, with units and reasons, in three profiles
 * (`lan`, `wan`, `test`) like every protocol module. `configSyncConfig()`
 * resolves one with overrides and validates it.
 */
import type { ProfileName } from '../../lib/tunables.js'
import { DEFAULT_LIMITS, type ConfigLimits } from '../../crdt/constants.js'
import { InvalidConfigSyncConfigError } from './errors.js'

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
  antiEntropyIntervalMs: 5_000,
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
  limits: DEFAULT_LIMITS,
  maxWatchers: 64,
  watchBacklogBytes: 1024 * 1024,
  watchDropGraceMs: 10_000,
  watchKeepaliveMs: 15_000
}

export const CONFIG_SYNC_PROFILES: Record<ProfileName, ConfigSyncConfig> = {
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
}

export function configSyncConfig (profile: ProfileName, overrides: Partial<ConfigSyncConfig> = {}): ConfigSyncConfig {
  const cfg = { ...CONFIG_SYNC_PROFILES[profile], ...overrides }
  const positive: Array<keyof ConfigSyncConfig> = ['antiEntropyIntervalMs', 'rpcTimeoutMs', 'batchMaxEnvelopes', 'batchMaxBytes', 'pullMaxEnvelopes',
    'maxPullsPerRound', 'maxFrameBytes', 'maxInboundStreams', 'maxConcurrentRounds', 'snapshotEveryEnvelopes', 'snapshotCheckMs', 'waitForTimeoutMs', 'maxWaitForMs', 'waitForRetryMs',
    'maxWatchers', 'watchBacklogBytes', 'watchDropGraceMs', 'watchKeepaliveMs']
  for (const k of positive) {
    const v = cfg[k]
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new InvalidConfigSyncConfigError(`${k} must be a positive number`)
  }
  if (cfg.antiEntropyJitter < 0 || cfg.antiEntropyJitter >= 1) throw new InvalidConfigSyncConfigError('antiEntropyJitter must be in [0, 1)')
  if (cfg.syncDelayMs < 0 || cfg.gapPullDelayMs < 0) throw new InvalidConfigSyncConfigError('delays must be >= 0')
  if (cfg.batchMaxBytes + cfg.limits.maxEnvelopeBytes + 1024 > cfg.maxFrameBytes) throw new InvalidConfigSyncConfigError('maxFrameBytes must hold a full batch')
  return cfg
}
