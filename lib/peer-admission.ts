/**
 * Who may exchange protocol data with this node. Implemented by the
 * admission protocol (protocols/admission): a peer is admitted once it
 * proved, on a live connection, that it belongs to the same network (the
 * same genesis, or none on both sides); until then nothing but that
 * handshake flows, and a peer that failed it is refused everywhere.
 *
 * Lower layers (wire helpers, membership) depend on this small interface,
 * not on the protocol, so they can be tested with a stub.
 */

/** Why a peer was refused; stable strings used in logs, metrics and the API. */
export type RefusalReason =
  /** Both sides have a genesis, and they differ. */
  | 'genesis_mismatch'
  /** This node has a genesis; the peer runs without one. */
  | 'peer_without_genesis'
  /** The peer has a genesis; this node runs without one. */
  | 'peer_has_genesis'
  /** The peer does not speak the admission protocol (not a mycel agent, or too old). */
  | 'no_handshake'
  /** The peer answered the handshake with something malformed. */
  | 'bad_handshake'
  /** The network runs an allowlist and the peer is not on it (or not for its region). */
  | 'not_allowed'
  /** Committed critical config revoked the peer (or retired its key after a hand-over). */
  | 'revoked'
  /** The peer presented a join token past its expiry. */
  | 'token_expired'
  /** The peer presented a join token already used as often as it allows. */
  | 'token_used'
  /** The peer presented a join token that is forged, altered, for another network or otherwise unusable. */
  | 'token_invalid'

export const REFUSAL_REASONS: readonly RefusalReason[] = ['genesis_mismatch', 'peer_without_genesis', 'peer_has_genesis', 'no_handshake', 'bad_handshake', 'not_allowed', 'revoked', 'token_expired', 'token_used', 'token_invalid']

export interface Refusal {
  reason: RefusalReason
  /** One human sentence: what differs, with both sides' values. */
  detail: string
  /** Unix ms of the refusal. */
  at: number
}

export interface PeerAdmission {
  /** True while the peer is connected and passed the handshake. */
  isAdmitted: (peer: string) => boolean
  /** Why the peer was refused, while that refusal is remembered. */
  refusal: (peer: string) => Refusal | undefined
  /**
   * Resolves once the peer has a verdict: true if admitted, false if it was
   * refused, is not connected, or no verdict came in time. Never rejects.
   */
  admit: (peer: string, signal?: AbortSignal) => Promise<boolean>
  /** Called on every new refusal; returns the unsubscribe function. */
  onRefused: (listener: (peer: string, refusal: Refusal) => void) => () => void
}

/** Admits everyone: for components built without an admission protocol (unit tests, tools). */
export const OPEN_ADMISSION: PeerAdmission = {
  isAdmitted: () => true,
  refusal: () => undefined,
  admit: async () => true,
  onRefused: () => () => {}
}
