/** Election metrics, one factory; every metric is optional (no registry → unregistered). */
import { Counter, Gauge, type Registry } from 'prom-client'

export function electionMetrics (registry?: Registry) {
  const registers = registry !== undefined ? [registry] : []
  const reuse = <T>(name: string, make: () => T): T => (registry?.getSingleMetric(name) as T | undefined) ?? make()
  return {
    termsClaimed: reuse('mycel_election_terms_claimed_total', () => new Counter({
      name: 'mycel_election_terms_claimed_total',
      help: 'New terms this node claimed and started acting in (elections won), per region and role',
      labelNames: ['region', 'role'],
      registers
    })),
    holderChanges: reuse('mycel_election_holder_changes_total', () => new Counter({
      name: 'mycel_election_holder_changes_total',
      help: 'Changes of the best known lease holder observed by this node (elections seen), per region and role',
      labelNames: ['region', 'role'],
      registers
    })),
    currentTerm: reuse('mycel_election_current_term', () => new Gauge({
      name: 'mycel_election_current_term',
      help: 'Highest lease term known to this node, per region and role',
      labelNames: ['region', 'role'],
      registers
    })),
    holderless: reuse('mycel_election_holderless_seconds', () => new Gauge({
      name: 'mycel_election_holderless_seconds',
      help: 'Seconds the own-region role has been without a lease in force, in this node\'s view (0 while held)',
      labelNames: ['region', 'role'],
      registers
    })),
    isHolder: reuse('mycel_election_is_holder', () => new Gauge({
      name: 'mycel_election_is_holder',
      help: '1 while this node acts for the role (unexpired lease and winner in its own view)',
      labelNames: ['region', 'role'],
      registers
    })),
    renewFailures: reuse('mycel_election_lease_renew_failures_total', () => new Counter({
      name: 'mycel_election_lease_renew_failures_total',
      help: 'Lease claims/renewals that reached no peer (unreachable) or were not stored in the DHT (dht)',
      labelNames: ['region', 'role', 'reason'],
      registers
    })),
    demotions: reuse('mycel_election_demotions_total', () => new Counter({
      name: 'mycel_election_demotions_total',
      help: 'Times this node stopped acting for a role, by reason',
      labelNames: ['region', 'role', 'reason'],
      registers
    })),
    restated: reuse('mycel_election_leases_restated_total', () => new Counter({
      name: 'mycel_election_leases_restated_total',
      help: 'Leases this node restated on the lease topic because a lower fencing token was still asserted (read repair), per region and role',
      labelNames: ['region', 'role'],
      registers
    })),
    leasesRejected: reuse('mycel_election_leases_rejected_total', () => new Counter({
      name: 'mycel_election_leases_rejected_total',
      help: 'Lease records dropped (forged, malformed, wrong key, insane times), by source and reason',
      labelNames: ['source', 'reason'],
      registers
    })),
    dhtOps: reuse('mycel_election_dht_operations_total', () => new Counter({
      name: 'mycel_election_dht_operations_total',
      help: 'DHT operations issued by the election (get, put, provide, find_providers), by result',
      labelNames: ['op', 'result'],
      registers
    }))
  }
}

export type ElectionMetrics = ReturnType<typeof electionMetrics>
