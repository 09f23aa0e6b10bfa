/**
 * Admin API of the roles component:
 *  GET /v1/roles[?region=R]       this node's view of every region's holders, terms and expiry,
 *                                 plus what this node itself does for each role
 *  GET /v1/roles/outputs          the latest accepted (fenced) output of each role in this region
 *  GET /v1/roles/:region/:role    resolve through the DHT (any region), with the region's
 *                                 candidates as this node's membership view ranks them; answers with the
 *                                 freshest of this node's gossiped copy and the DHT's, and
 *                                 shows both, since the holder renews by gossip and rewrites
 *                                 the DHT record less often
 * Region parameters follow the config's region rule and roles must be one of
 * the five: anything else is a 400 at once, never a DHT lookup.
 */
import type { Route } from '../router.js'
import { RequestError } from '../../../lib/errors.js'
import { type ElectionEngine, type ElectionConfig } from '../../../protocols/election/index.js'
import { compareLeases, type Lease } from '../../../protocols/election/lease.js'
import { regionProblem } from '../../../lib/region.js'
import { ROLE_NAMES } from '../../../managers/registry.js'
import type { RoleManager } from '../../../managers/manager.js'
import type { FencedActions } from '../../../managers/actions.js'
import type { FencingStore } from '../../../protocols/election/fencing.js'
import type { Roles } from '../../../managers/index.js'

export interface RoutesDeps {
  peerId: string
  region: string
  eligible: readonly string[]
  config: ElectionConfig
  reportTtlMs: number
  election: ElectionEngine
  manager: RoleManager
  actions: FencedActions
  fencing: FencingStore
  /** Who has control of the duties (managers/control-state.ts); absent in tests that build routes by hand. */
  control?: () => unknown
}

/** The routes of a running roles component, for this node (`self`). */
export function routesOfRoles (roles: Roles, self: { peerId: string, region: string }): Route[] {
  return rolesRoutes({
    ...self,
    eligible: roles.init.eligible,
    config: roles.config,
    reportTtlMs: roles.duties.reportTtlMs,
    election: roles.election,
    manager: roles.manager,
    actions: roles.actions,
    fencing: roles.fencing,
    control: () => roles.control.status()
  })
}

export function rolesRoutes (d: RoutesDeps): Route[] {
  return [
    {
      method: 'GET',
      path: '/v1/roles',
      handler: (req) => {
        const only = regionParam(req.query.get('region'))
        const now = Date.now()
        const byRegion = new Map<string, unknown[]>()
        for (const v of d.election.view()) {
          if (only !== undefined && v.region !== only) continue
          const list = byRegion.get(v.region) ?? []
          list.push({ ...v, expiresInMs: v.expiresAt !== undefined ? v.expiresAt - now : undefined, self: v.holder === d.peerId })
          byRegion.set(v.region, list)
        }
        const status = new Map(d.manager.status().map(s => [s.role, s]))
        return {
          json: {
            peerId: d.peerId,
            region: d.region,
            eligible: d.eligible,
            // core | services | frozen, since, reason (and the freeze: scope, reason, by): docs/minimal-core.md.
            ...(d.control !== undefined ? { control: d.control() } : {}),
            leaseMs: d.config.leaseMs,
            regions: [...byRegion.entries()].map(([region, roles]) => ({ region, roles })),
            local: d.election.local().map(l => ({ ...l, candidates: l.candidates.length, ...omitRole(status.get(l.role)) })),
            fencing: d.fencing.all().filter(f => only === undefined || f.region === only).map(f => ({ region: f.region, role: f.role, term: f.token.term, holder: f.token.holder }))
          }
        }
      }
    },
    {
      method: 'GET',
      path: '/v1/roles/outputs',
      handler: () => ({ json: { region: d.region, outputs: d.actions.latest(d.reportTtlMs) } })
    },
    {
      method: 'GET',
      path: '/v1/roles/:region/:role',
      handler: async (req) => {
        const { region, role } = req.params
        regionParam(region)
        if (!(ROLE_NAMES as readonly string[]).includes(role)) throw new RequestError(400, `unknown role ${JSON.stringify(role.slice(0, 64))} (${ROLE_NAMES.join(', ')})`)
        // This node's copy before the lookup: gossip (renewals), own claims and earlier reads.
        const gossip = d.election.book.get(region, role)?.lease
        let resolved: Awaited<ReturnType<ElectionEngine['resolve']>> | undefined
        let dhtError: string | undefined
        try {
          resolved = await d.election.resolve(region, role, req.signal)
        } catch (err) {
          dhtError = String((err as Error)?.message ?? err)
        }
        const now = Date.now()
        const dht = resolved?.lease
        if (gossip === undefined && dht === undefined && dhtError !== undefined) {
          throw new RequestError(503, `DHT lookup failed and this node has no copy of the ${region}/${role} lease: ${dhtError}`)
        }
        // The freshest copy in record order (term, then the holder's latest statement).
        const source = dht !== undefined && (gossip === undefined || compareLeases(dht, gossip) > 0) ? 'dht' : (gossip !== undefined ? 'gossip' : 'none')
        const lease = source === 'dht' ? dht : gossip
        const copy = (l: Lease | undefined): Record<string, unknown> | null => l === undefined
          ? null
          : { holder: l.holder, term: l.term, issuedAt: l.issuedAt, expiresAt: l.expiresAt, expiresInMs: l.expiresAt - now, status: d.election.status(l, now) }
        return {
          json: {
            region,
            role,
            source,
            status: lease === undefined ? 'none' : d.election.status(lease, now),
            holder: lease?.holder,
            term: lease?.term,
            issuedAt: lease?.issuedAt,
            expiresAt: lease?.expiresAt,
            expiresInMs: lease !== undefined ? lease.expiresAt - now : undefined,
            copies: { gossip: copy(gossip), dht: copy(dht) },
            dhtRecords: resolved?.records ?? 0,
            dhtError,
            // Closest first: the first is who should hold the role.
            candidates: d.election.candidates(role, region)
          }
        }
      }
    }
  ]
}

/** A `region` query or path parameter: absent, or valid by the config's rule (400 otherwise). */
function regionParam (v: string | null | undefined): string | undefined {
  if (v === null || v === undefined) return undefined
  const problem = regionProblem(v)
  if (problem !== undefined) throw new RequestError(400, problem)
  return v
}

function omitRole<T extends { role: string }> (s: T | undefined): Omit<T, 'role'> | Record<string, never> {
  if (s === undefined) return {}
  const { role: _r, ...rest } = s
  return rest
}
