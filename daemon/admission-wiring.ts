/**
 * Admission policy wiring (docs/security.md): once critical config runs,
 * the admission protocol judges every peer by the committed policy
 * (policy/admission-policy.ts), relays join-token redemptions to the
 * validators, catches up from peers that claim a newer policy, and times
 * each revocation from its commit to the disconnect here. A joining agent
 * whose token is refused stops with one line: running on, admitted nowhere,
 * would look like a network problem.
 */
import type { Logger } from 'pino'
import type { PrivateKey } from '@libp2p/interface'
import type { AdmissionService } from '../protocols/admission/index.js'
import type { CriticalService } from '../protocols/bft/service.js'
import { AdmissionPolicyView } from '../policy/admission-policy.js'
import { REVOKED_PREFIX } from '../policy/admission-values.js'
import { checkRedemption, redemptionSource } from '../policy/join-redemption.js'
import { parseJoinTokenText } from '../policy/join-token.js'

/** The joiner's side, needed before libp2p starts (its hello carries the redemption). */
export function joinRedemption (token: string | undefined, key: PrivateKey, peerId: string, admitted: () => boolean): (() => Promise<Uint8Array | undefined>) | undefined {
  if (token === undefined) return undefined
  return redemptionSource(parseJoinTokenText(token), key, peerId, admitted)
}

export interface AdmissionWiring {
  critical: CriticalService
  admission: AdmissionService
  self: string
  /** Set when the agent joins with a token: a peer's refusal of it ends the agent with this message. */
  onTokenRefused?: (message: string) => void
  logger: Logger
}

export function wireAdmission (w: AdmissionWiring): AdmissionPolicyView {
  // Registered before the policy view's own listener: the revocation's clock starts while the
  // connections it is about to close are still there.
  w.critical.config.onChange(c => {
    if (!c.key.startsWith(REVOKED_PREFIX)) return
    w.admission.observeRevocation(c.key.slice(REVOKED_PREFIX.length), c.certificate.block.time)
  })
  const policy = new AdmissionPolicyView(w.critical.config)
  w.admission.attach({
    policy,
    join: async (peer, raw) => await checkRedemption(w.critical.state, peer, raw, async (e) => await w.critical.relay(e)),
    catchUp: async (peer) => { await w.critical.syncFrom(peer) }
  })
  if (w.onTokenRefused !== undefined) {
    const fatal = w.onTokenRefused
    w.admission.onRefusedBy((peer, r) => {
      if (!r.reason.startsWith('token_') && r.reason !== 'revoked') return
      // Already admitted (the token was used by this very node before): nothing to stop for.
      if (policy.standing(w.self) === 'admitted') return
      fatal(`join token refused by ${peer}: ${r.detail}`)
    })
  }
  return policy
}
