/** Election metrics, one factory; every metric is optional (no registry → unregistered). */
import type { Registry } from 'prom-client'
import { metricsOn } from '../../lib/metrics.js'

/** What the gauges read at scrape time; absent (tests), they are left unset. */
export interface ElectionMetricsSource {
  holderless: () => ReadonlyArray<{ region: string, role: string, seconds: number }>
}

export function electionMetrics (registry?: Registry, source?: ElectionMetricsSource) {
  const m = metricsOn(registry)
  return {
    termsClaimed: m.counter({
      name: 'mycel_election_terms_claimed_total',
      help: 'New terms this node claimed and started acting in (elections won), per region and role',
      labelNames: ['region', 'role']
    }),
    holderChanges: m.counter({
      name: 'mycel_election_holder_changes_total',
      help: 'Changes of the best known lease holder observed by this node (elections seen), per region and role',
      labelNames: ['region', 'role']
    }),
    currentTerm: m.gauge({
      name: 'mycel_election_current_term',
      help: 'Highest lease term known to this node, per region and role',
      labelNames: ['region', 'role']
    }),
    holderless: m.gauge({
      name: 'mycel_election_holderless_seconds',
      help: 'Seconds the own-region role has been without a lease in force, in this node\'s view (0 while held)',
      labelNames: ['region', 'role'],
      // Read when scraped (election.ts `holderless`): a timer would wake an idle agent every second for it.
      collect () { if (source !== undefined) for (const h of source.holderless()) this.set({ region: h.region, role: h.role }, h.seconds) }
    }),
    isHolder: m.gauge({
      name: 'mycel_election_is_holder',
      help: '1 while this node acts for the role (unexpired lease and winner in its own view)',
      labelNames: ['region', 'role']
    }),
    renewFailures: m.counter({
      name: 'mycel_election_lease_renew_failures_total',
      help: 'Lease claims/renewals that reached no peer (unreachable) or were not stored in the DHT (dht)',
      labelNames: ['region', 'role', 'reason']
    }),
    demotions: m.counter({
      name: 'mycel_election_demotions_total',
      help: 'Times this node stopped acting for a role, by reason',
      labelNames: ['region', 'role', 'reason']
    }),
    restated: m.counter({
      name: 'mycel_election_leases_restated_total',
      help: 'Leases this node restated on the lease topic because a lower fencing token was still asserted (read repair), per region and role',
      labelNames: ['region', 'role']
    }),
    leasesRejected: m.counter({
      name: 'mycel_election_leases_rejected_total',
      help: 'Lease records dropped (forged, malformed, wrong key, insane times), by source and reason',
      labelNames: ['source', 'reason']
    }),
    syncs: m.counter({
      name: 'mycel_election_lease_syncs_total',
      help: 'Pulls of a member\'s leases (lease sync), by why (start; claim: a winner before it reads the DHT; upkeep: a role gone quiet, before the DHT is read for it) and result (ok, failed)',
      labelNames: ['reason', 'result']
    }),
    dhtOps: m.counter({
      name: 'mycel_election_dht_operations_total',
      help: 'DHT operations issued by the election (get, put), by result',
      labelNames: ['op', 'result']
    }),
    dhtReads: m.counter({
      name: 'mycel_election_dht_reads_total',
      help: 'Lease reads from the DHT, by why: claim (a winner about to start a term), upkeep (a role whose gossip went quiet), api (an operator asked)',
      labelNames: ['reason']
    })
  }
}

export type ElectionMetrics = ReturnType<typeof electionMetrics>
