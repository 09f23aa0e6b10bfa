/**
 * Errors of the configuration store. Writers see them as API errors with
 * the status each carries; for envelopes from the network they become the
 * `reason` label of `mycel_config_envelopes_total{result="rejected"}`.
 */
import { StatusError } from '../lib/errors.js'
import { rejectReason } from '../wire/errors.js'

export class AccessDeniedError extends StatusError {
  static name = 'AccessDeniedError'
  override name = 'AccessDeniedError'
  readonly status = 403
}

export class SchemaViolationError extends StatusError {
  static name = 'SchemaViolationError'
  override name = 'SchemaViolationError'
  readonly status = 422
}

export class LimitExceededError extends StatusError {
  static name = 'LimitExceededError'
  override name = 'LimitExceededError'
  readonly status = 413
}

/** A Yjs update that does not decode or that touches what an envelope may not touch. */
export class InvalidUpdateError extends Error {
  static name = 'InvalidUpdateError'
  override name = 'InvalidUpdateError'
}

/** A key no replica may hold (empty, control characters, not valid Unicode). */
export class InvalidKeyError extends StatusError {
  static name = 'InvalidKeyError'
  override name = 'InvalidKeyError'
  readonly status = 400
}

export class InvalidNamespaceError extends StatusError {
  static name = 'InvalidNamespaceError'
  override name = 'InvalidNamespaceError'
  readonly status = 400
}

/** The store refuses a local write because it could not keep its promises (e.g. its log failed). */
export class StoreUnavailableError extends StatusError {
  static name = 'StoreUnavailableError'
  override name = 'StoreUnavailableError'
  readonly status = 503
}

/** Metric label for an error raised while ingesting a network envelope: the store's own, else the wire's (rejectReason). */
export function configRejectReason (err: unknown): string {
  switch ((err as Error | undefined)?.name) {
    case 'AccessDeniedError': return 'access_denied'
    case 'LimitExceededError': return 'limit'
    case 'InvalidUpdateError': return 'invalid_update'
    case 'InvalidNamespaceError': return 'invalid_namespace'
    case 'InvalidKeyError': return 'invalid_key'
    default: return rejectReason(err)
  }
}
