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

/** Bad command-line usage the parser cannot catch (a missing argument pair, a bad combination); the CLI exits 2. */
export class UsageError extends Error {
  static name = 'UsageError'
  override name = 'UsageError'
}

/** A data dir without an identity where one is required (`mycel id`); create it with `mycel init`. */
export class NoIdentityError extends Error {
  static name = 'NoIdentityError'
  override name = 'NoIdentityError'
}

/** The agent could not listen on a configured libp2p address (port in use, address not on this host). */
export class ListenError extends Error {
  static name = 'ListenError'
  override name = 'ListenError'
}

/**
 * The admin API token file (`<dataDir>/api.token`) is unusable: readable by
 * others than its owner, empty or not a token. The agent refuses to start
 * (exit 2: a restart cannot fix it) and says how to recover.
 */
export class ApiTokenFileError extends Error {
  static name = 'ApiTokenFileError'
  override name = 'ApiTokenFileError'
  constructor (readonly file: string, problem: string, readonly recovery: string) {
    super(`admin API token file ${file}: ${problem}`)
  }
}

/** The agent refused a CLI request for a missing or wrong admin API token (401). */
export class ApiUnauthorizedError extends Error {
  static name = 'ApiUnauthorizedError'
  override name = 'ApiUnauthorizedError'
}
