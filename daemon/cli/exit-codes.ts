/**
 * The one place that turns an error into the CLI's exit code, for every
 * command: 0 ok, 1 runtime failure (no agent answers, timeout, refused by the
 * agent), 2 bad usage or configuration (unknown flag, bad value, a file that
 * is missing or invalid, a request the agent rejects as malformed); and,
 * for `mycel agent` under the launcher only, EXIT_SWITCH_CORE after a core
 * update (docs/core-update.md). Commands throw; they never pick an exit code themselves.
 */
import { CommanderError } from 'commander'
import { statusOf } from '../../lib/errors.js'

export const EXIT_OK = 0
export const EXIT_FAILURE = 1
export const EXIT_USAGE = 2
/** `mycel agent` under the launcher, after a core update: "start the build the launcher state names now" (launcher/contract.ts). */
export { EXIT_SWITCH_CORE } from '../../launcher/contract.js'

/** Errors that mean "what you asked for is wrong", by name (callers branch on `.name`). */
const USAGE_ERRORS = new Set([
  'UsageError', // the CLI's own argument checks
  'ConfigError', // config file, flags, the files they name
  'InvalidGenesisError', // genesis file unreadable or invalid, or a data dir of another network
  'IdentityExistsError',
  'BadIdentityError',
  'NoIdentityError',
  'ApiTokenFileError', // <data dir>/api.token readable by others, empty or garbled
  'PublisherKeyExistsError', // keygen over an existing key without --force
  'PublisherKeyNotFoundError'
])

/** Statuses (the agent's answer, or a status error raised here) that mean the request itself was bad: 400 malformed, 413 too large, 415 not JSON, 422 schema violation. */
const USAGE_STATUSES = new Set([400, 413, 415, 422])

export function exitCodeOf (err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE
  const name = (err as { name?: string } | undefined)?.name
  if (name !== undefined && USAGE_ERRORS.has(name)) return EXIT_USAGE
  if (USAGE_STATUSES.has(statusOf(err))) return EXIT_USAGE
  return EXIT_FAILURE
}
