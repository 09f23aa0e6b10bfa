/** Named errors of log queries; callers branch on `.name`, front ends read `status`. */
import { StatusError } from '../../lib/errors.js'

/** A query that cannot be run as asked (bad field, bad regex, limit too high): the caller's mistake. */
export class InvalidLogQueryError extends StatusError {
  static name = 'InvalidLogQueryError'
  override name = 'InvalidLogQueryError'
  readonly status = 400
}

/** A node answered a query with an error frame (its reason is the message). */
export class LogQueryRefusedError extends Error {
  static name = 'LogQueryRefusedError'
  override name = 'LogQueryRefusedError'
}
