/** Named errors of the BFT module; callers branch on `.name`. Those a proposer can act on carry a status. */
import { StatusError } from '../../lib/errors.js'

export class InvalidGenesisError extends Error {
  static name = 'InvalidGenesisError'
  override name = 'InvalidGenesisError'
}

export class InvalidCertificateError extends Error {
  static name = 'InvalidCertificateError'
  override name = 'InvalidCertificateError'
}

export class InvalidEntryError extends StatusError {
  static name = 'InvalidEntryError'
  override name = 'InvalidEntryError'
  readonly status = 400
}

export class NotAdminError extends StatusError {
  static name = 'NotAdminError'
  override name = 'NotAdminError'
  readonly status = 403
}

export class CommitTimeoutError extends StatusError {
  static name = 'CommitTimeoutError'
  override name = 'CommitTimeoutError'
  readonly status = 504
}

/** The WAL or block store is unreadable; the validator must not vote. */
export class CorruptStateError extends Error {
  static name = 'CorruptStateError'
  override name = 'CorruptStateError'
}

/** Consensus halted on an internal error (see `ConsensusStatus.fault`); it accepts no more input. */
export class ConsensusHaltedError extends StatusError {
  static name = 'ConsensusHaltedError'
  override name = 'ConsensusHaltedError'
  readonly status = 503
}
