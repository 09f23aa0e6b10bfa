/**
 * Limits of the replicated configuration store. They are enforced twice: by
 * the writer (a clear error to the caller) and by every receiver (an envelope
 * over a limit is rejected and counted), because a receiver cannot trust that
 * the writer ran the same code.
 */

/** Name of the one Y.Map in every namespace document. Anything else in a document is rejected. */
export const ROOT_MAP = 'config'

/** Signature domain of config envelopes (see wire/signing.ts). */
export const ENVELOPE_DOMAIN = 'config-envelope'

/** Namespace names: short, lowercase, safe in URLs, metric labels and file names. */
export const NAMESPACE_PATTERN = /^[a-z0-9][a-z0-9._-]{0,62}$/

/** Writer names are peer id strings (base58btc or base32 multibase): plain alphanumerics. */
export const WRITER_PATTERN = /^[0-9A-Za-z]{1,128}$/

export interface ConfigLimits {
  /** Longest key, UTF-8 bytes. Keys appear in every envelope and in URLs. */
  maxKeyBytes: number
  /** Largest value, bytes of its JSON text. Config, not blobs: artifacts go through artifact-fetch. */
  maxValueBytes: number
  /**
   * Largest encoded envelope, bytes. A single-key write is value + key + a
   * few hundred bytes of Yjs and signature overhead.
   */
  maxEnvelopeBytes: number
  /** Most keys one namespace may hold; checked by the writer (receivers cannot refuse a key that converged). */
  maxKeysPerNamespace: number
  /** Deepest nesting of a JSON value; deeper input could exhaust the stack of recursive decoders. */
  maxValueDepth: number
  /**
   * Envelopes held per (namespace, writer) stream while waiting for an
   * earlier sequence number. Beyond it the newest are dropped; anti-entropy
   * fetches them again once the gap is filled.
   */
  maxHeldPerStream: number
  /** Envelopes held in all streams together (memory bound under a flood of future sequence numbers). */
  maxHeldTotal: number
}

export const DEFAULT_LIMITS: ConfigLimits = {
  maxKeyBytes: 256,
  maxValueBytes: 64 * 1024,
  maxEnvelopeBytes: 80 * 1024,
  maxKeysPerNamespace: 100_000,
  maxValueDepth: 32,
  maxHeldPerStream: 1_024,
  maxHeldTotal: 16_384
}
