/** Named errors of the membership protocol. Callers branch on `.name`. */

/** A probe got neither an ack nor a refusal before its deadline. */
export class ProbeTimeoutError extends Error {
  static name = 'ProbeTimeoutError'
  override name = 'ProbeTimeoutError'
}
