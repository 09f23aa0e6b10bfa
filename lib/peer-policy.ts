/**
 * Where a peer stands under the network's admission policy (committed
 * critical config, read by every node alike: policy/admission-policy.ts).
 * Lower layers (admission handshake, membership, gossip topics, config
 * store, election) take this small interface, so enforcement never depends
 * on who holds the security role, and tests pass a table.
 */

/** `admitted`: may take part. `not-allowed`: outside an allowlist (or its regions). `revoked`: cut off for good. */
export type PeerStanding = 'admitted' | 'not-allowed' | 'revoked'

export interface PeerPolicy {
  /** Where `peer` stands; with `region`, also whether it may be a member of that region. */
  standing: (peer: string, region?: string) => PeerStanding
  /**
   * For a revoked peer: per namespace, the last sequence number of its config
   * writes that stays valid (later ones are refused); undefined otherwise.
   */
  cutoff: (peer: string) => Readonly<Record<string, number>> | undefined
  /** One human sentence on why `peer` stands where it does. */
  explain: (peer: string) => string
  /** Height of the critical config the policy is read from. */
  height: () => number
  /** Called after every change of the policy (a commit, a hand-over grace ending); returns the unsubscribe function. */
  onChange: (listener: () => void) => () => void
}

/** Admits everyone: agents without a genesis (no network-wide policy) and unit tests. */
export const OPEN_POLICY: PeerPolicy = {
  standing: () => 'admitted',
  cutoff: () => undefined,
  explain: () => 'no admission policy (open)',
  height: () => 0,
  onChange: () => () => {}
}
