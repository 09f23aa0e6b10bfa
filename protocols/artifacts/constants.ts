/**
 * Limits of component manifests and archives. A manifest and an archive come
 * from a publisher the network trusts, but trust in a publisher is not trust
 * in every byte it ever signs (a bug in its build, a stolen key): every node
 * bounds what one component can make it store or run.
 */
import { z } from 'zod'
import { defineTunables, tunable } from '../../lib/tunables.js'

/** The file in a component directory that describes it. */
export const MANIFEST_FILE = 'mycel.component.yaml'

/** Longest component name, characters (a path segment of `components/<name>/<version>/` and a DNS label). */
export const MAX_NAME_CHARS = 64

/** Component names: lowercase letters, digits and `-`, starting and ending with a letter or digit. */
export const NAME_PATTERN = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/

/** Longest version string, characters (semver allows build metadata; a path segment must stay short). */
export const MAX_VERSION_CHARS = 128

/** Arguments of `entry` or a health `exec` at most: far more than any real command line. */
export const MAX_ARGV = 64

/** Longest argument, characters. */
export const MAX_ARG_CHARS = 4096

/** Environment variables a manifest may set at most. */
export const MAX_ENV_VARS = 128

/** Longest environment value, characters. */
export const MAX_ENV_VALUE_CHARS = 4096

/** Environment names: POSIX shell identifiers. */
export const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/

/**
 * Environment names a manifest may not set: the host passes its own
 * variables with this prefix to every component, and a manifest must not be
 * able to shadow them.
 */
export const RESERVED_ENV_PREFIX = 'MYCEL_'

/** Entries of `requires` at most. */
export const MAX_REQUIRES = 32

/** Longest semver range in `requires`, characters. */
export const MAX_RANGE_CHARS = 256

/**
 * mycel's own core as a component: a release of this name is a core build
 * (package.json and dist/ of an agent build), which the component host
 * hands to the launcher instead of running it (host/core-update.ts,
 * docs/core-update.md). Reserved here, the one place: deployments and
 * rollouts of it use the ordinary records.
 */
export const CORE_COMPONENT = 'mycel'

/** The name in `requires` that means the mycel agent itself: the core component's version. */
export const MYCEL_REQUIREMENT = CORE_COMPONENT

/** Shortest health interval, ms: a check every few hundred ms is a busy loop on a small node. */
export const MIN_HEALTH_INTERVAL_MS = 1_000

/** Longest health interval or timeout, ms: a failure must show within the hour. */
export const MAX_HEALTH_INTERVAL_MS = 3_600_000

/** Shortest health timeout, ms: a check answers within a few ms on a healthy host; less is noise. */
export const MIN_HEALTH_TIMEOUT_MS = 100

/** Health interval when the manifest names none, ms (Habitat's default is 30 s; components here are small). */
export const DEFAULT_HEALTH_INTERVAL_MS = 10_000

/** Health timeout when the manifest names none, ms. */
export const DEFAULT_HEALTH_TIMEOUT_MS = 2_000

/** Consecutive failed checks before a component is `failing`, when the manifest names none (as Kubernetes). */
export const DEFAULT_FAILURE_THRESHOLD = 3

/** Highest failure threshold: beyond it a broken component would pass as healthy for too long. */
export const MAX_FAILURE_THRESHOLD = 100

/** Largest encoded signed manifest, bytes (the fields above at their limits stay far below it). */
export const MAX_SIGNED_MANIFEST_BYTES = 1024 * 1024

/** Signing domain of a manifest (wire/signing.ts: `mycel/component-manifest/v1`). */
export const MANIFEST_SIGN_DOMAIN = 'component-manifest'

/** What one archive may hold. Unpack refuses an archive past any limit; pack refuses a directory past them. */
export interface ArchiveLimits {
  /** Largest single file, bytes. */
  maxEntryBytes: number
  /** Largest sum of all file sizes, bytes. */
  maxTotalBytes: number
  /** Most entries (files and directories). */
  maxEntries: number
  /** Longest entry path, bytes (Linux PATH_MAX is 4096 for the whole path under the data dir). */
  maxPathBytes: number
}

/**
 * Default archive limits. The benchmark ships a 100 MB artifact;
 * 1 GiB leaves room for a real service with its runtime, and a node with less
 * free disk than that refuses by disk space anyway. 10,000 entries covers a
 * vendored node_modules of a small service; more is a sign of a packing
 * mistake (a build cache, a home directory).
 */
export const DEFAULT_ARCHIVE_LIMITS: Readonly<ArchiveLimits> = Object.freeze({
  maxEntryBytes: 512 * 1024 * 1024,
  maxTotalBytes: 1024 * 1024 * 1024,
  maxEntries: 10_000,
  maxPathBytes: 1024
})

/**
 * Largest archive a node fetches, bytes: the file total allowed above plus the
 * tar framing of the most entries allowed (a header, a pax header and up to
 * 511 bytes of padding each) and the two end blocks.
 */
export const MAX_ARCHIVE_BYTES = DEFAULT_ARCHIVE_LIMITS.maxTotalBytes + DEFAULT_ARCHIVE_LIMITS.maxEntries * 3 * 512 + 1024

/** Smallest chunk size an index may name, bytes: smaller makes the index and the per-block overhead grow for nothing. */
export const MIN_CHUNK_BYTES = 16 * 1024

/**
 * Largest chunk (block) size, bytes. A block travels in one frame and is held
 * whole in memory while it is hashed; 1 MiB is bitswap's block size limit too.
 */
export const MAX_CHUNK_BYTES = 1024 * 1024

/** Largest encoded index block, bytes: MAX_ARCHIVE_BYTES / MIN_CHUNK_BYTES chunks of 36-byte CIDs fit (~2.5 MiB). */
export const MAX_INDEX_BYTES = 4 * 1024 * 1024

/** Most CIDs one request may want (K): a response is at most K blocks, so a request stays one small frame. */
export const MAX_WANT = 64

/** Largest request frame, bytes: MAX_WANT CIDs with their CBOR framing, and an archive CID. */
export const MAX_REQUEST_BYTES = MAX_WANT * 40 + 512

/** Largest response frame, bytes: the largest index block (a chunk is smaller) with its framing. */
export const MAX_RESPONSE_BYTES = MAX_INDEX_BYTES + 1024

/** How artifacts travel (transfer.ts, server.ts, fetcher.ts). */
export interface ArtifactConfig {
  /**
   * Chunk size of archives this node imports (publishes), bytes. 256 KiB is
   * the IPFS default chunker: a bad chunk costs little to fetch again, a few
   * MB spread over several providers, and a 1 GiB archive's index stays at
   * 4,096 CIDs (~150 KB). Fetchers take whatever size an index names, within
   * [MIN_CHUNK_BYTES, MAX_CHUNK_BYTES].
   */
  chunkBytes: number
  /** Chunks asked for in one request (K), at most MAX_WANT. */
  wantPerRequest: number
  /** Requests in flight to one provider at a time: K × window chunks are on the way from each. */
  windowPerProvider: number
  /** Deadline of one request and its response frames, ms. */
  requestTimeoutMs: number
  /** Deadline of one DHT provider lookup or announcement, ms. */
  dhtTimeoutMs: number
  /** Failed requests in a row (timeouts, refused dials) before a provider is dropped for the fetch. */
  maxProviderErrors: number
  /** Bytes per second this node serves to all peers together; 0 = no limit. */
  serveBytesPerSecond: number
  /** Bytes per second this node fetches in all; 0 = no limit. */
  fetchBytesPerSecond: number
  /** Burst of both token buckets, bytes (at least one chunk, so a chunk never waits for more than the rate allows). */
  bucketBurstBytes: number
  /** Inbound artifact streams served at once. */
  maxInboundStreams: number
  /**
   * Peers this node sends blocks to at once (BitTorrent's upload slots, 4 by
   * default there too). A request from another peer while every slot is
   * taken is answered at once with all its chunks `missing` ("choked"): the
   * fetcher asks another provider and this one again after `lackingRetryMs`.
   * Without it a publisher splits its uplink over every fetcher at once, each
   * request crawls (19 fetchers on 10 Mbit/s: ~0.5 Mbit/s each), nobody
   * finishes chunks early enough to serve them to the others, and requests
   * hit their deadline: the swarm degenerates into a single source.
   */
  uploadSlots: number
  /**
   * How long a peer keeps an upload slot while others are choked, ms; then
   * its next request is choked and the slot goes to a waiting peer.
   */
  slotRotateMs: number
  /**
   * How long a provider that answered `missing` for a chunk is not asked for it
   * again, ms. A provider may be a fetcher itself that holds only part of the
   * archive (it announces itself once it holds the index), so `missing` means
   * "not yet", not "never".
   */
  lackingRetryMs: number
  /**
   * First interval of provider lookups during a fetch, ms: partial holders that announced since are found. It
   * doubles after each lookup up to `rediscoverMaxMs`: fetchers that start together announce within moments of each
   * other, and a long fetch should not keep the DHT busy.
   */
  rediscoverMs: number
  /** Longest interval of provider lookups during a fetch, ms. */
  rediscoverMaxMs: number
  /** A fetch fails when every provider lacks what is left and no chunk has arrived for this long, ms. */
  stallTimeoutMs: number
}

const MiB = 1024 * 1024

export const artifactTunables = defineTunables<ArtifactConfig>({
  module: 'artifacts',
  schema: z.strictObject({
    chunkBytes: z.number().int().min(MIN_CHUNK_BYTES).max(MAX_CHUNK_BYTES),
    wantPerRequest: z.number().int().min(1).max(MAX_WANT),
    windowPerProvider: tunable.positive(),
    requestTimeoutMs: tunable.positive(),
    dhtTimeoutMs: tunable.positive(),
    maxProviderErrors: tunable.positive(),
    serveBytesPerSecond: tunable.nonNegative(),
    fetchBytesPerSecond: tunable.nonNegative(),
    bucketBurstBytes: z.number().int().min(MAX_CHUNK_BYTES),
    maxInboundStreams: tunable.positive(),
    uploadSlots: tunable.positive(),
    slotRotateMs: tunable.positive(),
    lackingRetryMs: tunable.positive(),
    rediscoverMs: tunable.positive(),
    rediscoverMaxMs: tunable.positive(),
    stallTimeoutMs: tunable.positive()
  }),
  profiles: {
    // LAN: serving is capped below a gigabit link so deploys do not starve the
    // node's own traffic; fetching is not (the servers' caps spread the load).
    lan: {
      // Requests of 1 MiB, 3 in flight per provider: a slot on a 10 Mbit/s uplink shared by 4 peers answers one in
      // ~3.4 s, far inside the deadline; on a gigabit link 3 MiB in flight keeps the pipe full.
      chunkBytes: 256 * 1024, wantPerRequest: 4, windowPerProvider: 3, requestTimeoutMs: 30_000, dhtTimeoutMs: 30_000,
      maxProviderErrors: 3, serveBytesPerSecond: 64 * MiB, fetchBytesPerSecond: 0, bucketBurstBytes: 4 * MiB, maxInboundStreams: 32, uploadSlots: 4, slotRotateMs: 10_000,
      // A partial holder fetches a K-chunk request from a capped server in ~0.1 s: 0.5 s lets it get several before
      // it is asked again, without leaving a chunk waiting long. A lookup is a few RPCs on a LAN; 0.2 s at first finds
      // the fetchers that started together while a 20 MB fetch (~1.5 s) is still on. Stall: a request's deadline.
      lackingRetryMs: 500, rediscoverMs: 200, rediscoverMaxMs: 5_000, stallTimeoutMs: 30_000
    },
    // WAN: slower links and longer round trips: a lower serving cap, longer deadlines.
    wan: {
      chunkBytes: 256 * 1024, wantPerRequest: 4, windowPerProvider: 4, requestTimeoutMs: 60_000, dhtTimeoutMs: 60_000,
      maxProviderErrors: 3, serveBytesPerSecond: 16 * MiB, fetchBytesPerSecond: 0, bucketBurstBytes: 4 * MiB, maxInboundStreams: 32, uploadSlots: 4, slotRotateMs: 20_000,
      // Round trips and the lower cap make partial holders slower to fill: longer waits, as the deadlines.
      lackingRetryMs: 2_000, rediscoverMs: 1_000, rediscoverMaxMs: 15_000, stallTimeoutMs: 60_000
    },
    test: {
      chunkBytes: 16 * 1024, wantPerRequest: 4, windowPerProvider: 2, requestTimeoutMs: 5_000, dhtTimeoutMs: 5_000,
      maxProviderErrors: 2, serveBytesPerSecond: 0, fetchBytesPerSecond: 0, bucketBurstBytes: MAX_CHUNK_BYTES, maxInboundStreams: 32, uploadSlots: 4, slotRotateMs: 500,
      // Short, so a test of a re-ask runs in well under a second.
      lackingRetryMs: 100, rediscoverMs: 100, rediscoverMaxMs: 500, stallTimeoutMs: 2_000
    }
  }
})
