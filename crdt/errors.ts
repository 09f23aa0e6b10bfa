/**
 * Errors of the configuration store. Writers see them as API errors; for
 * envelopes from the network they become the `reason` label of
 * `mycel_config_envelopes_total{result="rejected"}`.
 */
export class AccessDeniedError extends Error {
  static name = 'AccessDeniedError'
  override name = 'AccessDeniedError'
}

export class SchemaViolationError extends Error {
  static name = 'SchemaViolationError'
  override name = 'SchemaViolationError'
}

export class LimitExceededError extends Error {
  static name = 'LimitExceededError'
  override name = 'LimitExceededError'
}

/** A Yjs update that does not decode or that touches what an envelope may not touch. */
export class InvalidUpdateError extends Error {
  static name = 'InvalidUpdateError'
  override name = 'InvalidUpdateError'
}

/** A key no replica may hold (empty, control characters, not valid Unicode). */
export class InvalidKeyError extends Error {
  static name = 'InvalidKeyError'
  override name = 'InvalidKeyError'
}

export class InvalidNamespaceError extends Error {
  static name = 'InvalidNamespaceError'
  override name = 'InvalidNamespaceError'
}

/** The store refuses a local write because it could not keep its promises (e.g. its log failed). */
export class StoreUnavailableError extends Error {
  static name = 'StoreUnavailableError'
  override name = 'StoreUnavailableError'
}

/** Metric label for an error raised while ingesting a network envelope. */
export function configRejectReason (err: unknown): string {
  switch ((err as Error | undefined)?.name) {
    case 'AccessDeniedError': return 'access_denied'
    case 'LimitExceededError': return 'limit'
    case 'InvalidUpdateError': return 'invalid_update'
    case 'InvalidNamespaceError': return 'invalid_namespace'
    case 'InvalidKeyError': return 'invalid_key'
    case 'MalformedMessageError': return 'malformed'
    case 'OversizedMessageError': return 'oversized'
    case 'InvalidSignatureError': return 'bad_signature'
    case 'UnsupportedVersionError': return 'unsupported_version'
    default: return 'error'
  }
}
