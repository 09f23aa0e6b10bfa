/** Named errors of the election protocol; callers branch on `.name`. */
export class InvalidLeaseError extends Error {
  static name = 'InvalidLeaseError'
  override name = 'InvalidLeaseError'
}

/** A fenced action whose (term, holder) is below the highest seen for its role. */
export class StaleTermError extends Error {
  static name = 'StaleTermError'
  override name = 'StaleTermError'
}

/** An action emitted by a node that does not currently act for the role. */
export class NotHolderError extends Error {
  static name = 'NotHolderError'
  override name = 'NotHolderError'
}
