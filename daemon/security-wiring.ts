/**
 * Security monitoring's parts on every node (docs/security.md "Security
 * monitoring"): the per-peer offence counters (lib/peer-offences.ts),
 * attached to the daemon's metrics registry so every component's gossip
 * validator and protocol hook records into them, fed by the admission
 * protocol's refusals, and read by the health report, which carries this
 * node's worst offenders to the region's security manager.
 */
import type { Registry } from 'prom-client'
import type { PeerAdmission } from '../lib/peer-admission.js'
import { attachOffences, offenceOfRefusal, offenceTunables, PeerOffences } from '../lib/peer-offences.js'
import type { ProfileName } from '../lib/tunables.js'
import type { OffencesReport } from '../protocols/health/index.js'

/**
 * Offenders one health report lists: the worst 8, ~2 KiB of the report's
 * 16 KiB. A peer below them on every node is below any threshold that
 * matters; the schema accepts up to 16 (MAX_REPORTED_OFFENDERS) for growth.
 */
export const REPORTED_OFFENDERS = 8

export interface OffenceWiring {
  offences: PeerOffences
  /** This node's worst offenders, for its health report. */
  report: () => OffencesReport
}

export function wireOffences (opts: { profile: ProfileName, registry: Registry, admission: Pick<PeerAdmission, 'onRefused'> }): OffenceWiring {
  const config = offenceTunables.defaults(opts.profile)
  const offences = new PeerOffences(config, opts.registry)
  attachOffences(opts.registry, offences)
  opts.admission.onRefused((peer, refusal) => { offences.record(peer, offenceOfRefusal(refusal.reason)) })
  return {
    offences,
    report: () => ({
      windowMs: config.windowMs,
      peers: offences.top(REPORTED_OFFENDERS).map(s => ({ peer: s.peer, kinds: s.kinds, firstSeen: s.firstSeen, lastSeen: s.lastSeen }))
    })
  }
}
