/**
 * What admission asks of the network's admission policy once critical config
 * runs (the agent attaches it: daemon/admission-rules.ts). Kept to three
 * questions so the protocol stays testable with a table.
 */
import type { PeerId } from '@libp2p/interface'
import type { PeerPolicy } from '../../lib/peer-policy.js'
import type { Refusal } from '../../lib/peer-admission.js'

export interface AdmissionRules {
  policy: PeerPolicy
  /**
   * A peer outside the policy presented a token redemption: check it as the
   * validators will and hand it to them. A refusal when it is unusable
   * (expired, used up, forged); undefined once it is on its way.
   */
  join: (peer: string, redemption: Uint8Array) => Promise<Omit<Refusal, 'at'> | undefined>
  /** Fetch certified blocks from `peer`, which claims a newer critical config than ours. */
  catchUp: (peer: PeerId) => Promise<void>
}

/** What the policy makes of a peer whose genesis matched. */
export type PolicyVerdict =
  | { kind: 'admit' }
  | { kind: 'refuse', refusal: Omit<Refusal, 'at'> }
  /** Only the limited protocols (block catch-up) may flow until the policy decides. */
  | { kind: 'limit', why: 'joining' | 'catching-up' }
  /** Judged once the catch-up in progress ends: our policy may be older than a peer says. */
  | { kind: 'wait' }

export interface PeerClaims {
  /** Their critical height, from the hello. */
  height: number
  join?: Uint8Array
  /** We already caught up from this peer on this connection. */
  caughtUp: boolean
  /** Some other peer the policy admits claims a newer critical config and we are fetching it. */
  othersCatchingUp: boolean
}

/**
 * The policy's verdict on `peer` (its genesis already matched ours). A peer
 * that claims a newer critical config than ours is heard first: we fetch its
 * blocks (they verify themselves) before judging it, and judge nobody else
 * meanwhile, so a node back from being offline applies a revocation it missed
 * before it admits the revoked peer, whatever that peer claims.
 */
export async function policyVerdict (rules: AdmissionRules, peer: string, claims: PeerClaims): Promise<PolicyVerdict> {
  const standing = rules.policy.standing(peer)
  const detail = (): string => rules.policy.explain(peer)
  if (standing === 'revoked') return { kind: 'refuse', refusal: { reason: 'revoked', detail: detail() } }
  if (claims.height > rules.policy.height() && !claims.caughtUp) return { kind: 'limit', why: 'catching-up' }
  if (claims.othersCatchingUp) return { kind: 'wait' }
  if (standing === 'admitted') return { kind: 'admit' }
  if (claims.join !== undefined) {
    const refusal = await rules.join(peer, claims.join)
    if (refusal !== undefined) return { kind: 'refuse', refusal }
    // The policy may have changed while the token was checked (another node relayed it first).
    if (rules.policy.standing(peer) === 'admitted') return { kind: 'admit' }
    return { kind: 'limit', why: 'joining' }
  }
  return { kind: 'refuse', refusal: { reason: 'not_allowed', detail: detail() } }
}
