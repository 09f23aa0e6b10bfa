/**
 * The daemon's own endpoints: liveness, readiness, metrics, status, members, health.
 * `/readyz` is 503 while the agent is not joined or while a component is
 * stopped on its durable state: `{ready, error, stopped: [{component, error, file, recovery, since}]}`.
 */
import type { Registry } from 'prom-client'
import type { Route } from '../router.js'
import type { Membership } from '../../../protocols/membership/types.js'
import type { Health } from '../../../protocols/health/index.js'
import type { MycelNode } from '../../node.js'
import type { BootstrapStatus } from '../../redial.js'
import type { AdmissionStatus } from '../../../protocols/admission/index.js'
import { RequestError } from '../../../lib/errors.js'
import type { Fault } from '../../../lib/faults.js'
import { regionProblem } from '../../../lib/region.js'

export interface CoreRouteDeps {
  node: MycelNode
  peerId: string
  region: string
  version: string
  startedAt: number
  registry: Registry
  membership: Membership
  health: Health
  /** Ready, or why not (with the components stopped on their durable state). */
  readiness: () => { ready: boolean, error?: string, faults: Fault[] }
  faults: () => Fault[]
  /** True once this agent knows at least one live member. */
  joined: () => boolean
  /** Last outcome per bootstrap address. */
  bootstrap: () => BootstrapStatus[]
  /** Admission rule, connected peers' verdicts and remembered refusals. */
  /** Handshake view, plus (with a genesis) the committed policy: mode, allowed, revoked, this node's standing. */
  admission: () => AdmissionStatus & Record<string, unknown>
  /** Who has control of the management services: core, services or frozen (docs/minimal-core.md). */
  control?: () => unknown
}

export function coreRoutes (d: CoreRouteDeps): Route[] {
  return [
    { method: 'GET', path: '/healthz', handler: () => ({ json: { status: 'ok' } }) },
    {
      method: 'GET',
      path: '/readyz',
      handler: () => {
        const r = d.readiness()
        return r.ready
          ? { json: { ready: true } }
          : { status: 503, json: { ready: false, error: r.error, ...(r.faults.length > 0 ? { stopped: r.faults } : {}) } }
      }
    },
    {
      method: 'GET',
      path: '/metrics',
      handler: async () => ({ text: await d.registry.metrics(), contentType: d.registry.contentType })
    },
    {
      method: 'GET',
      path: '/v1/status',
      handler: () => ({
        json: {
          peerId: d.peerId,
          region: d.region,
          addrs: d.node.getMultiaddrs().map(a => a.toString()),
          version: d.version,
          uptimeSeconds: Math.round((Date.now() - d.startedAt) / 1000),
          connections: d.node.getConnections().length,
          members: countByState(d.membership),
          // Components stopped on their durable state (fail-stop); empty when all run.
          stopped: d.faults(),
          joined: d.joined(),
          bootstrap: d.bootstrap(),
          ...(d.control !== undefined ? { control: d.control() } : {})
        }
      })
    },
    { method: 'GET', path: '/v1/admission', handler: () => ({ json: d.admission() }) },
    {
      method: 'GET',
      path: '/v1/members',
      handler: (req) => {
        const state = req.query.get('state')
        const region = req.query.get('region')
        if (state !== null && !['alive', 'suspect', 'dead', 'left', 'revoked'].includes(state)) {
          throw new RequestError(400, `unknown state "${state}" (alive, suspect, dead, left, revoked)`)
        }
        const badRegion = region !== null ? regionProblem(region) : undefined
        if (badRegion !== undefined) throw new RequestError(400, badRegion)
        const rows = d.membership.members()
          .filter(m => state === null || m.state === state)
          .filter(m => region === null || m.region === region)
          .sort((a, b) => a.region.localeCompare(b.region) || a.peerId.localeCompare(b.peerId))
          .map(m => ({ peerId: m.peerId, state: m.state, region: m.region, incarnation: m.incarnation, addrs: m.addrs, roles: m.roles, version: m.version, lastSeen: new Date(m.lastSeen).toISOString() }))
        return { json: rows }
      }
    },
    {
      method: 'GET',
      path: '/v1/health',
      handler: () => ({
        json: d.health.reports()
          .sort((a, b) => a.report.peerId.localeCompare(b.report.peerId))
          .map(r => ({ ...r.report, issuedAt: new Date(r.report.issuedAt).toISOString(), stale: r.stale }))
      })
    },
    {
      method: 'GET',
      path: '/v1/health/:peerId',
      handler: (req) => {
        const r = d.health.get(req.params.peerId)
        if (r === undefined) throw new RequestError(404, `no health report from ${req.params.peerId}`)
        return { json: { ...r.report, issuedAt: new Date(r.report.issuedAt).toISOString() } }
      }
    }
  ]
}

function countByState (m: Membership): Record<string, number> {
  const out: Record<string, number> = { alive: 0, suspect: 0, dead: 0, left: 0 }
  for (const x of m.members()) out[x.state]++
  return out
}
