/**
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
 */

/** Statuses a `StatusError` may carry: client errors and the retryable server ones. */
export type ErrorStatus = 400 | 403 | 404 | 409 | 413 | 422 | 429 | 503 | 504

/**
 * Base of every error with a status. Subclasses fix `status` and carry a
 * `static name`, e.g.
 * `class AccessDeniedError extends StatusError { static name = 'AccessDeniedError'; override name = 'AccessDeniedError'; readonly status = 403 }`.
 */
export abstract class StatusError extends Error {
  abstract readonly status: ErrorStatus
}

/** A status error raised directly by a front end or handler (e.g. a bad query parameter). */
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

/** True when the caller may retry the same request later (503, 504, 429). */
export function isRetryable (err: unknown): boolean {
  const s = statusOf(err)
  return s === 503 || s === 504 || s === 429
}
