/**
 * Admin API of admission (docs/security.md):
 * (GET /v1/admission, in routes/core.ts, shows the handshake view and the committed policy.)
 *   POST /v1/admission/mode         {mode: open|allowlist, force?}   → BFT commit of `admission`
 *   POST /v1/admission/allow        {peer, regions?}                 → BFT commit of admission/allow/<peer>
 *   POST /v1/admission/revoke       {peer, reason?}                  → BFT commit of admission/revoked/<peer>
 *   POST /v1/admission/tokens       {ttlMs, uses, regions?}          → a join token signed by this agent (an admin)
 * Every change is proposed as this agent, which must be an admin (403
 * otherwise); the validators check the value with the same rule as every node.
 */
import { z } from 'zod'
import type { PrivateKey } from '@libp2p/interface'
import { RequestError } from '../../../lib/errors.js'
import { REGION_PATTERN, REGION_RULE } from '../../../lib/region.js'
import type { Route } from '../router.js'
import type { CriticalService } from '../../../protocols/bft/service.js'
import type { AdmissionService } from '../../../protocols/admission/index.js'
import { NotAdminError } from '../../../protocols/bft/errors.js'
import { isEd25519PeerId } from '../../../protocols/bft/genesis.js'
import type { AdmissionPolicyView } from '../../../policy/admission-policy.js'
import {
  ADMISSION_KEY, ALLOW_PREFIX, MAX_REASON_CHARS, REVOKED_PREFIX, allowEntryJson, parseAdmissionSetting, revokedEntryJson
} from '../../../policy/admission-values.js'
import { MAX_TOKEN_TTL_MS, MAX_TOKEN_USES, createJoinToken, joinTokenText, tokenIdHex } from '../../../policy/join-token.js'

export interface AdmissionRoutesDeps {
  self: string
  key: PrivateKey
  critical: CriticalService
  policy: AdmissionPolicyView
  admission: AdmissionService
  /** Per namespace, the last sequence number of `peer`'s config writes this node holds (a revocation's cut-off). */
  writerHeads: (peer: string) => Record<string, number>
  /** Members the policy would cut off under an allowlist (alive, not allowed). */
  members: () => Array<{ peerId: string, region: string, state: string }>
}

const peer = z.string().min(1).max(128).refine(isEd25519PeerId, { message: 'not an Ed25519 peer id' })
const regions = z.array(z.string().regex(REGION_PATTERN, REGION_RULE)).min(1).max(64)
const modeBody = z.object({ mode: z.enum(['open', 'allowlist']), force: z.boolean().optional() }).strict()
const allowBody = z.object({ peer, regions: regions.optional() }).strict()
const revokeBody = z.object({ peer, reason: z.string().max(MAX_REASON_CHARS).optional() }).strict()
const tokenBody = z.object({ ttlMs: z.number().int().min(1000).max(MAX_TOKEN_TTL_MS), uses: z.number().int().min(1).max(MAX_TOKEN_USES), regions: regions.optional() }).strict()

function body<T> (schema: z.ZodType<T>, raw: unknown): T {
  const r = schema.safeParse(raw)
  if (!r.success) throw new RequestError(400, `invalid body: ${r.error.issues[0]?.path.join('.') ?? ''} ${r.error.issues[0]?.message ?? ''}`.trim())
  return r.data
}

export function admissionRoutes (d: AdmissionRoutesDeps): Route[] {
  const commit = async (key: string, value: string, signal: AbortSignal): Promise<{ key: string, value: string, height: number, latencyMs: number }> => {
    const r = await d.critical.propose(key, value, { signal })
    return { key, value, height: r.height, latencyMs: r.latencyMs }
  }
  return [
    {
      method: 'POST',
      path: '/v1/admission/mode',
      handler: async (req) => {
        const b = body(modeBody, req.body)
        if (b.mode === 'allowlist' && b.force !== true) {
          // Switching on an allowlist cuts off every member not on it: name them, and make the operator say so.
          const cut = d.members().filter(m => (m.state === 'alive' || m.state === 'suspect') && !d.policy.onAllowlist(m.peerId))
          if (cut.length > 0) {
            throw new RequestError(409, `an allowlist would cut off ${cut.length} live member${cut.length === 1 ? '' : 's'} not on it (${cut.slice(0, 5).map(m => m.peerId).join(', ')}${cut.length > 5 ? ', ...' : ''}); allow them first (mycel admission allow PEER) or pass --force`)
          }
        }
        const current = parseAdmissionSetting(d.critical.state.get(ADMISSION_KEY)?.value ?? null)
        const value = b.mode === 'open' ? JSON.stringify({ mode: 'open' }) : JSON.stringify({ mode: 'allowlist', allow: current.allow })
        return { json: await commit(ADMISSION_KEY, value, req.signal) }
      }
    },
    {
      method: 'POST',
      path: '/v1/admission/allow',
      handler: async (req) => {
        const b = body(allowBody, req.body)
        if (d.policy.standing(b.peer) === 'revoked') throw new RequestError(409, `${b.peer} is revoked (${d.policy.explain(b.peer)}); a revoked key is never admitted again: admit the host under a new key`)
        return { json: await commit(ALLOW_PREFIX + b.peer, allowEntryJson({ ...(b.regions !== undefined ? { regions: b.regions } : {}) }), req.signal) }
      }
    },
    {
      method: 'POST',
      path: '/v1/admission/revoke',
      handler: async (req) => {
        const b = body(revokeBody, req.body)
        if (b.peer === d.self) throw new RequestError(409, 'this agent cannot revoke itself through its own API: revoke it from another admin node')
        if (d.critical.state.get(REVOKED_PREFIX + b.peer) !== undefined) throw new RequestError(409, `${b.peer} is already revoked`)
        // The cut-off: what this node holds of the peer's writes stays valid everywhere; anything later is refused.
        const value = revokedEntryJson({ reason: b.reason ?? '', cutoff: d.writerHeads(b.peer) })
        return { json: await commit(REVOKED_PREFIX + b.peer, value, req.signal) }
      }
    },
    {
      method: 'POST',
      path: '/v1/admission/tokens',
      handler: async (req) => {
        const b = body(tokenBody, req.body)
        const state = d.critical.state
        if (!state.adminsAt(state.height() + 1).has(d.self)) throw new NotAdminError(`this agent (${d.self}) is not an admin: only an admin's token is accepted by the network`)
        const token = await createJoinToken({ chain: state.chain, admin: d.self, key: d.key, ttlMs: b.ttlMs, uses: b.uses, ...(b.regions !== undefined ? { regions: b.regions } : {}) })
        return { json: { token: joinTokenText(token), id: tokenIdHex(token), expiresAt: new Date(token.expiresAt).toISOString(), uses: token.uses, regions: token.regions } }
      }
    }
  ]
}
