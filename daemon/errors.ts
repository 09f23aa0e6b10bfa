/** Named errors of the daemon; callers branch on `.name`. */
export class ConfigError extends Error {
  static name = 'ConfigError'
  override name = 'ConfigError'
}

export class IdentityExistsError extends Error {
  static name = 'IdentityExistsError'
  override name = 'IdentityExistsError'
}

export class ApiUnreachableError extends Error {
  static name = 'ApiUnreachableError'
  override name = 'ApiUnreachableError'
}

/** Raised by API handlers; the server turns it into a JSON error with this status. */
export class HttpError extends Error {
  static name = 'HttpError'
  override name = 'HttpError'
  constructor (readonly status: number, message: string) {
    super(message)
  }
}
