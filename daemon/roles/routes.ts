/**
 * Admin API of the roles component:
 *  GET /v1/roles[?region=R]       this node's view of every region's holders, terms and expiry,
 *                                 plus what this node itself does for each role
 *  GET /v1/roles/outputs          the latest accepted (fenced) output of each role in this region
 *  GET /v1/roles/:region/:role    resolve through the DHT (any region), with the candidates
 *                                 that announced themselves as providers
 */
import type { Route } from '../api/router.js'
import { HttpError } from '../errors.js'
import { leaseStatus, type ElectionEngine, type ElectionConfig } from '../../protocols/election/index.js'
import { regionSchema, roleSchema } from '../../protocols/election/lease.js'
import type { RoleManager } from './manager.js'
import type { FencedActions } from './actions.js'
import type { FencingStore } from '../../protocols/election/fencing.js'

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
}

export function rolesRoutes (d: RoutesDeps): Route[] {
  return [
    {
      method: 'GET',
      path: '/v1/roles',
      handler: (req) => {
        const only = req.query.get('region') ?? undefined
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
        if (!regionSchema.safeParse(region).success) throw new HttpError(400, `invalid region ${JSON.stringify(region.slice(0, 64))}`)
        if (!roleSchema.safeParse(role).success) throw new HttpError(400, `invalid role ${JSON.stringify(role.slice(0, 64))}`)
        const [resolved, providers] = await Promise.allSettled([d.election.resolve(region, role, req.signal), d.election.providers(region, role, req.signal)])
        const cached = d.election.book.get(region, role)?.lease
        const now = Date.now()
        const fromDht = resolved.status === 'fulfilled' ? resolved.value : undefined
        const lease = fromDht?.lease ?? cached
        if (lease === undefined && fromDht === undefined) {
          throw new HttpError(503, `DHT lookup failed and no cached lease for ${region}/${role}: ${(resolved as PromiseRejectedResult).reason?.message ?? 'unknown'}`)
        }
        return {
          json: {
            region,
            role,
            source: fromDht?.lease !== undefined ? 'dht' : (cached !== undefined ? 'cache' : 'dht'),
            dhtRecords: fromDht?.records ?? 0,
            dhtError: resolved.status === 'rejected' ? String((resolved.reason as Error)?.message ?? resolved.reason) : undefined,
            status: lease === undefined ? 'none' : leaseStatus(lease, now, d.config.maxClockSkewMs),
            holder: lease?.holder,
            term: lease?.term,
            issuedAt: lease?.issuedAt,
            expiresAt: lease?.expiresAt,
            expiresInMs: lease !== undefined ? lease.expiresAt - now : undefined,
            candidates: providers.status === 'fulfilled' ? providers.value : []
          }
        }
      }
    }
  ]
}

function omitRole<T extends { role: string }> (s: T | undefined): Omit<T, 'role'> | Record<string, never> {
  if (s === undefined) return {}
  const { role: _r, ...rest } = s
  return rest
}
