/** Named errors of the component host; callers branch on `.name`. */

/** A supervisor was asked for something its state does not allow (start after stop, a bad spec). */
export class SupervisorStateError extends Error {
  static name = 'SupervisorStateError'
  override name = 'SupervisorStateError'
}

/** A health check spec is malformed (no kind, two kinds, a bad port or URL). */
export class InvalidHealthCheckError extends Error {
  static name = 'InvalidHealthCheckError'
  override name = 'InvalidHealthCheckError'
}

/** A component user names no entry of the passwd file (or its group no entry of the group file), or is malformed. */
export class UnknownUserError extends Error {
  static name = 'UnknownUserError'
  override name = 'UnknownUserError'
}

/** Running a component as another user needs an agent running as root; this one is not. */
export class UserSwitchError extends Error {
  static name = 'UserSwitchError'
  override name = 'UserSwitchError'
}

/** A release of the core component whose archive is not a core build (no package.json of mycel at its version, no dist/daemon/cli.js). */
export class NotACoreBuildError extends Error {
  static name = 'NotACoreBuildError'
  override name = 'NotACoreBuildError'
}

/** A component this node runs no instance of (component-restart). */
export class UnknownComponentError extends Error {
  static name = 'UnknownComponentError'
  override name = 'UnknownComponentError'
}
