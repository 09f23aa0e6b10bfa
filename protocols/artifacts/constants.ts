/**
 * Limits of component manifests and archives. A manifest and an archive come
 * from a publisher the network trusts, but trust in a publisher is not trust
 * in every byte it ever signs (a bug in its build, a stolen key): every node
 * bounds what one component can make it store or run.
 */

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

/** The name in `requires` that means the mycel agent itself. */
export const MYCEL_REQUIREMENT = 'mycel'

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
