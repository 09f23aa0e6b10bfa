/**
 * protocols/election: per-region role leases through the Kademlia DHT, with
 * fencing. See docs/roles.md for the rule and the safety argument.
 */
export { electionTunables, type ElectionConfig, LEASE_TOPIC, actionTopic, DHT_NAMESPACE, RESTATE_SPREAD } from './constants.js'
export {
  leaseKey, parseLeaseKey, signLease, decodeLease, validateLeaseRecord, selectLeaseRecord, compareTokens,
  compareLeases, leaseStatus, leaseStatusSeen, leaseEndSeen, leaseDhtValidators, leaseDhtSelectors, type Lease, type SignedLease, type FencingToken, type LeaseStatus
} from './lease.js'
export { roleKey, rankCandidates, pickHolder, type Candidate } from './rule.js'
export { FencingStore, type FenceResult } from './fencing.js'
export { LeaseBook } from './book.js'
export { LeaseRepair, type LeaseRepairInit } from './repair.js'
export { ElectionEngine, type ElectionEvents, type ElectedDetail, type DemotedDetail, type DemoteReason, type SlotView, type LocalView } from './election.js'
export { Libp2pLeaseTransport, type LeaseTransport, type LeaseSource, type FoundLease, type DhtHost, type DhtLocalRecords, type PutOptions } from './transport.js'
export { electionMetrics, type ElectionMetrics } from './metrics.js'
export { encodeAction, decodeAction, type RoleAction, type SignedAction } from './action.js'
export { InvalidLeaseError, StaleTermError, NotHolderError } from './errors.js'
