/** Named errors of the BFT module; callers branch on `.name`. */
export class InvalidGenesisError extends Error {
  static name = 'InvalidGenesisError'
  override name = 'InvalidGenesisError'
}

export class InvalidCertificateError extends Error {
  static name = 'InvalidCertificateError'
  override name = 'InvalidCertificateError'
}

export class InvalidEntryError extends Error {
  static name = 'InvalidEntryError'
  override name = 'InvalidEntryError'
}

export class NotAdminError extends Error {
  static name = 'NotAdminError'
  override name = 'NotAdminError'
}

export class CommitTimeoutError extends Error {
  static name = 'CommitTimeoutError'
  override name = 'CommitTimeoutError'
}

/** The WAL or block store is unreadable; the validator must not vote. */
export class CorruptStateError extends Error {
  static name = 'CorruptStateError'
  override name = 'CorruptStateError'
}

/** Consensus halted on an internal error (see `ConsensusStatus.fault`); it accepts no more input. */
export class ConsensusHaltedError extends Error {
  static name = 'ConsensusHaltedError'
  override name = 'ConsensusHaltedError'
}
