/**
 * Errors raised while decoding or verifying anything that arrived from the
 * network. Protocol handlers catch these at the boundary, count them in a
 * metric and drop the message: network input never throws past a handler.
 */
export class MalformedMessageError extends Error {
  static name = 'MalformedMessageError'
  override name = 'MalformedMessageError'
}

export class OversizedMessageError extends Error {
  static name = 'OversizedMessageError'
  override name = 'OversizedMessageError'
}

export class InvalidSignatureError extends Error {
  static name = 'InvalidSignatureError'
  override name = 'InvalidSignatureError'
}

export class UnsupportedVersionError extends Error {
  static name = 'UnsupportedVersionError'
  override name = 'UnsupportedVersionError'
}

/** Short reason label for metrics, derived from a thrown error. */
export function rejectReason (err: unknown): string {
  const name = (err as Error | undefined)?.name
  switch (name) {
    case 'MalformedMessageError': return 'malformed'
    case 'OversizedMessageError': return 'oversized'
    case 'InvalidSignatureError': return 'bad_signature'
    case 'UnsupportedVersionError': return 'unsupported_version'
    case 'TimeoutError': case 'AbortError': return 'timeout'
    default: return 'error'
  }
}
