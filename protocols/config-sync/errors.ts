/** Named errors of config replication. */
export class InvalidConfigSyncConfigError extends Error {
  static name = 'InvalidConfigSyncConfigError'
  override name = 'InvalidConfigSyncConfigError'
}

/** A write was made durable here but fewer members than asked acknowledged it in time. */
export class AckTimeoutError extends Error {
  static name = 'AckTimeoutError'
  override name = 'AckTimeoutError'
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
export class TooManyWatchersError extends Error {
  static name = 'TooManyWatchersError'
  override name = 'TooManyWatchersError'
}
