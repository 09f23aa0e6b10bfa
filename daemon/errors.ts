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
