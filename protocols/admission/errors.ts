/** Named errors of the admission protocol (callers branch on `.name`). */

/** A stream was refused because its peer is not (or not yet) admitted. */
export class NotAdmittedError extends Error {
  static name = 'NotAdmittedError'
  override name = 'NotAdmittedError'
}
