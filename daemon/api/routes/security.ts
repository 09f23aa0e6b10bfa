/**
 * Admin API of security monitoring (docs/security.md "Security monitoring"),
 * read from replicated config `mycel.security` (managers/security-records.ts),
 * so every node answers the same once replicated, whoever holds the role:
 *
 *   GET /v1/security/findings[?region=R]  {regions: [{region, term, writer, at, autoProposeRevocation,
 *                                          problem?, findings: [{peer, kinds, over, reporters, reporterCount,
 *                                          firstSeen, lastSeen, revoked?, proposal?: {action, command}}]}]}
 *   GET /v1/security/audit[?limit=N]      {events: [...]}, oldest first; the newest N (default 200)
 *
 * A proposal is a record for admins, never a commit: `mycel admission revoke
 * PEER` (its `command`) is what revokes.
 */
import { RequestError } from '../../../lib/errors.js'
import { regionProblem } from '../../../lib/region.js'
import type { Route } from '../router.js'
import { auditEvents, currentFindings, MAX_AUDIT_EVENTS, SECURITY_NAMESPACE } from '../../../managers/security-records.js'

/** Audit events answered when `limit` is not given. */
export const DEFAULT_AUDIT_LIMIT = 200

export interface SecuritySource {
  entries: (ns: string) => Array<[string, { value: unknown, writer?: string }]>
}

export function securityRoutes (src: SecuritySource): Route[] {
  return [
    {
      method: 'GET',
      path: '/v1/security/findings',
      handler: (req) => {
        const only = req.query.get('region')
        if (only !== null) {
          const problem = regionProblem(only)
          if (problem !== undefined) throw new RequestError(400, `region: ${problem}`)
        }
        const regions = [...currentFindings(src.entries(SECURITY_NAMESPACE)).entries()]
          .filter(([region]) => only === null || region === only)
          .sort(([a], [b]) => a < b ? -1 : 1)
          .map(([region, f]) => ({
            region,
            term: f.record.term,
            writer: f.writer ?? null,
            at: f.record.at,
            autoProposeRevocation: f.record.autoProposeRevocation,
            ...(f.record.problem !== undefined ? { problem: f.record.problem } : {}),
            findings: f.record.findings
          }))
        return { json: { regions } }
      }
    },
    {
      method: 'GET',
      path: '/v1/security/audit',
      handler: (req) => {
        const raw = req.query.get('limit')
        const limit = raw === null ? DEFAULT_AUDIT_LIMIT : Number(raw)
        if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_AUDIT_EVENTS) throw new RequestError(400, `limit must be an integer from 1 to ${MAX_AUDIT_EVENTS}`)
        const events = auditEvents(src.entries(SECURITY_NAMESPACE))
        return { json: { events: events.slice(Math.max(0, events.length - limit)), total: events.length } }
      }
    }
  ]
}
