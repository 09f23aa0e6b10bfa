/** Named errors of config replication. */
import { StatusError } from '../../lib/errors.js'

/** A write was made durable here but fewer members than asked acknowledged it in time. */
export class AckTimeoutError extends StatusError {
  static name = 'AckTimeoutError'
  override name = 'AckTimeoutError'
  readonly status = 504
  constructor (message: string, readonly acked: string[]) {
    super(message)
  }
}

/** The anti-entropy peer answered out of protocol (wrong frame order or kind). */
export class SyncProtocolError extends Error {
  static name = 'SyncProtocolError'
  override name = 'SyncProtocolError'
}

/** A watch stream was refused: the agent already serves `maxWatchers` of them. */
export class TooManyWatchersError extends StatusError {
  static name = 'TooManyWatchersError'
  override name = 'TooManyWatchersError'
  readonly status = 503
}
