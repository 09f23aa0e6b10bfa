/**
 * Membership metrics, defined once. The registry is optional: without one
 * the metrics still count (tests read them) but are exported nowhere.
 * Metric objects shared with other modules (mycel_gossip_messages_total) are
 * reused if another module registered them first.
 */
import type { Registry } from 'prom-client'
import { metricsOn } from '../../lib/metrics.js'
import { gossipCounter } from '../../wire/topic.js'
import type { MemberState } from './types.js'

export function membershipMetrics (registry?: Registry, source?: { counts: () => Record<MemberState, number>, health: () => number, incarnation: () => number }) {
  const m = metricsOn(registry)
  return {
    members: m.gauge({
      name: 'mycel_members',
      help: 'Known members by state (including self)',
      labelNames: ['state'] as const,
      collect () {
        if (source === undefined) return
        const counts = source.counts()
        for (const [state, n] of Object.entries(counts)) this.set({ state }, n)
      }
    }),
    probeDuration: m.histogram({
      name: 'mycel_probe_duration_seconds',
      help: 'Time from probe start to ack (result=ack: the direct ack within the probe timeout; late: the direct ack after it, while the helpers were asked; indirect: a helper\'s) or give-up (result=fail)',
      labelNames: ['result'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
    }),
    suspicions: m.counter({
      name: 'mycel_suspicions_total',
      help: 'Suspicions started, raised by this node (origin=local) or learned (origin=remote)',
      labelNames: ['origin'] as const
    }),
    messages: m.counter({
      name: 'mycel_membership_messages_total',
      help: 'Membership messages received, by type and result (ok, stale, unknown, refuted, malformed, bad_signature, ...)',
      labelNames: ['type', 'result'] as const
    }),
    gossip: gossipCounter(registry),
    pushPulls: m.counter({
      name: 'mycel_membership_pushpull_total',
      help: 'Push-pull exchanges by role (initiator|responder), kind (digest|full) and result',
      labelNames: ['role', 'kind', 'result'] as const
    }),
    gossipPings: m.counter({
      name: 'mycel_membership_gossip_pings_total',
      help: 'Pings the gossip loop sent to spread queued updates (probes not counted): what dissemination costs beyond probing'
    }),
    bytes: m.counter({
      name: 'mycel_membership_bytes_total',
      help: 'Membership payload bytes by channel (probe|pushpull|gossip) and direction (sent|received)',
      labelNames: ['channel', 'direction'] as const
    }),
    identityConflicts: m.counter({
      name: 'mycel_membership_identity_conflicts_total',
      help: 'Records showing two processes with one peer id (a copied identity key): about this node (kind=self) or another member (kind=member)',
      labelNames: ['kind'] as const
    }),
    localHealth: m.gauge({
      name: 'mycel_membership_local_health',
      help: 'Lifeguard local health score (0 = healthy); probe timeouts are multiplied by score + 1',
      collect () { if (source !== undefined) this.set(source.health()) }
    }),
    incarnation: m.gauge({
      name: 'mycel_membership_incarnation',
      help: 'This node\'s own incarnation number',
      collect () { if (source !== undefined) this.set(source.incarnation()) }
    })
  }
}

export type MembershipMetrics = ReturnType<typeof membershipMetrics>
