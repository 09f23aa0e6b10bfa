/**
 * Named errors of the bottom layer.
 *
 * Errors a caller can act on, with a status.
 *
 * A protocol or store throws a named error (`class XError extends
 * StatusError`), callers branch on `.name`, and every front end (the HTTP
 * admin API, the CLI, the coming command interface) reads the same
 * `status` from it. The status uses HTTP's numbers because they are the
 * vocabulary every operator and client already knows (400 bad request, 403
 * forbidden, 404 not found, 409 conflict with the current state, 413 too
 * large, 422 well-formed but refused by a schema, 429 too many, 503 not now,
 * 504 not in time); nothing here depends on HTTP. A plain `Error` (or
 * anything else) is an internal error: 500, never blamed on the caller.
 *
 * Errors of durable files (below): each names the file and the step an
 * operator takes to recover, because that is what `/readyz` and the logs
 * must say when a component stops on it (fail-stop).
 */

/**
 * Statuses a `StatusError` may carry: client errors and the retryable server
 * ones (405 and 415 are the admin API's own: a method or body type the
 * endpoint does not take).
 */
const ERROR_STATUSES = [400, 403, 404, 405, 409, 413, 415, 422, 429, 503, 504] as const
export type ErrorStatus = typeof ERROR_STATUSES[number]

export function isErrorStatus (n: number): n is ErrorStatus {
  return (ERROR_STATUSES as readonly number[]).includes(n)
}

/**
 * Base of every error with a status. Subclasses fix `status` and carry a
 * `static name`, e.g.
 * `class AccessDeniedError extends StatusError { static name = 'AccessDeniedError'; override name = 'AccessDeniedError'; readonly status = 403 }`.
 */
export abstract class StatusError extends Error {
  abstract readonly status: ErrorStatus
}

/**
 * A status error raised directly by a front end or handler (e.g. a bad query
 * parameter), or rebuilt by a client from the status the agent answered.
 */
export class RequestError extends StatusError {
  static name = 'RequestError'
  override name = 'RequestError'
  constructor (readonly status: ErrorStatus, message: string) {
    super(message)
  }
}

/** The status of any thrown value: its own for a `StatusError`, else 500 (internal). */
export function statusOf (err: unknown): number {
  return err instanceof StatusError ? err.status : 500
}

// Durable files: fail-stop errors.

/** A durable file's bytes fail their checks (header, length, checksum, schema): damaged, not merely torn by a crash. */
export class CorruptFileError extends Error {
  static name = 'CorruptFileError'
  override name = 'CorruptFileError'
  constructor (readonly file: string, readonly problem: string, readonly recovery: string) {
    super(`${file}: ${problem}`)
  }
}

/**
 * Writing or syncing a durable file failed. After a failed fsync the kernel
 * may have dropped dirty pages, so nothing written since the last good sync
 * can be trusted: the owner stops rather than retry.
 */
export class StorageFailedError extends Error {
  static name = 'StorageFailedError'
  override name = 'StorageFailedError'
  constructor (readonly file: string, readonly problem: string, readonly recovery: string = STORAGE_RECOVERY) {
    super(`${file}: ${problem}`)
  }
}

/** Another live process holds the data dir's lock. */
export class DataDirLockedError extends Error {
  static name = 'DataDirLockedError'
  override name = 'DataDirLockedError'
}

/** Recovery step of an I/O failure. */
export const STORAGE_RECOVERY = 'check the disk and file system (free space, permissions, kernel log), then restart the agent'

/** Errors that stop the component owning the file (fail-stop), with the file and the recovery step. */
export type FailStopError = CorruptFileError | StorageFailedError

export function isFailStop (err: unknown): err is FailStopError {
  const name = (err as Error | undefined)?.name
  return name === CorruptFileError.name || name === StorageFailedError.name
}

/** Wrap an I/O error from `file` (already fail-stop errors pass through). */
export function storageFailed (file: string, what: string, err: unknown): FailStopError {
  if (isFailStop(err)) return err
  return new StorageFailedError(file, `${what} failed: ${(err as Error).message}`)
}

/** `Name: message` of anything thrown: for a log field, or a refusal's detail. */
export function errText (err: unknown): string {
  return `${(err as Error)?.name ?? 'Error'}: ${(err as Error)?.message ?? String(err)}`
}
