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
