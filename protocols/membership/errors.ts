/** Named errors of the membership protocol. Callers branch on `.name`. */

export class InvalidMembershipConfigError extends Error {
  static name = 'InvalidMembershipConfigError'
  override name = 'InvalidMembershipConfigError'
}

/** A probe got neither an ack nor a refusal before its deadline. */
export class ProbeTimeoutError extends Error {
  static name = 'ProbeTimeoutError'
  override name = 'ProbeTimeoutError'
}

/** The incarnation file in the data dir exists but cannot be read or parsed. */
export class IncarnationStoreError extends Error {
  static name = 'IncarnationStoreError'
  override name = 'IncarnationStoreError'
}
