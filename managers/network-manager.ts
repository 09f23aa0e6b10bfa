/**
 * Network manager. Duties while this node holds the region's network role:
 * - the region's topology summary — members by state and how connected they
 *   are — published as a fenced action that every region member keeps (GET
 *   /v1/roles/outputs), and into replicated config through `sink` when one
 *   is given (the agent passes none yet: see docs/roles.md);
 * - placement of counted deployments (placement-duty.ts), when the agent
 *   gives it replicated config.
 */
import type { Logger } from 'pino'
import { peerIdOf } from '../wire/peer-ids.js'
import type { Member, MembershipView, MemberState } from '../protocols/membership/types.js'
import type { PeerHost } from '../wire/peers.js'
import { dutyLoop, dutyTunables, type Role, type State } from './role.js'
import type { RolesMetrics } from './metrics.js'
import type { PlacementDuty } from './placement-duty.js'

/** Topology summary period, per profile. */
export const networkTunables = dutyTunables('network', {
  lan: { intervalMs: 15_000 },
  wan: { intervalMs: 30_000 },
  test: { intervalMs: 1_000 }
})

/** Cap on members listed one by one; counts cover everyone. */
const MAX_LISTED = 500

export interface TopologySummary {
  region: string
  at: number
  counts: Record<MemberState, number>
  members: Array<{ peerId: string, state: MemberState, version: string, addrs: number, connected: boolean, lastSeenMsAgo: number }>
  connectivity: {
    /** Alive region members the holder has an open connection to. */
    regionConnected: number
    regionAlive: number
    /** All open connections of the holder, any region. */
    holderConnections: number
    /** Alive members of other regions the holder is connected to. */
    crossRegionConnected: number
  }
}

/** Where summaries go besides the fenced action (replicated config). */
export interface TopologySink {
  publish: (summary: TopologySummary, term: number) => Promise<void>
}

export interface NetworkManagerInit {
  region: string
  intervalMs: number
  membership: Pick<MembershipView, 'self' | 'members'>
  /** Who the holder is connected to. */
  peers: Pick<PeerHost, 'getConnections'>
  /** Periodic statements (role.ts `State`). */
  state: State
  logger: Logger
  metrics: RolesMetrics
  sink?: TopologySink
  /** Places counted deployments each round (and soon after a change). */
  placement?: PlacementDuty
}

export function summarizeTopology (region: string, members: Member[], connected: (peerId: string) => boolean, holderConnections: number, now = Date.now()): TopologySummary {
  const counts: Record<MemberState, number> = { alive: 0, suspect: 0, dead: 0, left: 0, revoked: 0 }
  const list: TopologySummary['members'] = []
  let regionConnected = 0
  let regionAlive = 0
  let crossRegionConnected = 0
  for (const m of members) {
    const isConn = connected(m.peerId)
    if (m.region !== region) {
      if (m.state === 'alive' && isConn) crossRegionConnected++
      continue
    }
    counts[m.state]++
    if (m.state === 'alive') {
      regionAlive++
      if (isConn) regionConnected++
    }
    if (list.length < MAX_LISTED) list.push({ peerId: m.peerId, state: m.state, version: m.version, addrs: m.addrs.length, connected: isConn, lastSeenMsAgo: Math.max(0, now - m.lastSeen) })
  }
  list.sort((a, b) => a.peerId.localeCompare(b.peerId))
  return { region, at: now, counts, members: list, connectivity: { regionConnected, regionAlive, holderConnections, crossRegionConnected } }
}

export class NetworkManager implements Role {
  readonly name = 'network' as const
  private last?: TopologySummary
  private received?: TopologySummary

  constructor (private readonly init: NetworkManagerInit) {}

  onElected (term: number, signal: AbortSignal): void {
    dutyLoop(signal, this.init.intervalMs, async () => {
      const { peers, membership, region } = this.init
      const connected = (id: string): boolean => {
        try { return peers.getConnections(peerIdOf(id)).length > 0 } catch { return false }
      }
      const self = membership.self().peerId
      const summary = summarizeTopology(region, membership.members(), (id) => id === self || connected(id), peers.getConnections().length)
      this.last = summary
      if (signal.aborted) return
      await this.init.state('network', 'topology', summary)
      if (this.init.sink !== undefined && !signal.aborted) await this.init.sink.publish(summary, term)
    }, (err) => { this.init.metrics.dutyErrors.inc({ role: 'network' }); this.init.logger.warn({ err }, 'topology summary failed') })
    this.init.placement?.run(term, signal, this.init.intervalMs,
      (err) => { this.init.metrics.dutyErrors.inc({ role: 'network' }); this.init.logger.warn({ err }, 'placement round failed') })
  }

  onDemoted (): void {}

  onAction (action: { kind: string }, body: unknown): void {
    if (action.kind === 'topology') this.received = body as TopologySummary
  }

  status (): unknown {
    return { lastPublished: this.last?.at, lastReceived: this.received?.at, counts: this.received?.counts, placement: this.init.placement?.status() }
  }
}
