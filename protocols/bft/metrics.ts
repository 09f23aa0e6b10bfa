/** Metrics of the BFT module, one factory; the registry is optional. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'

export function createBftMetrics (registry?: Registry) {
  const registers = registry !== undefined ? [registry] : []
  return {
    height: new Gauge({ name: 'mycel_bft_height', help: 'Height of the last committed critical-config block', registers }),
    round: new Gauge({ name: 'mycel_bft_round', help: 'Current consensus round at the open height', registers }),
    roundsPerHeight: new Histogram({ name: 'mycel_bft_rounds_per_height', help: 'Rounds a height took to decide (1 = first round)', buckets: [1, 2, 3, 4, 6, 10, 20], registers }),
    commitLatency: new Histogram({
      name: 'mycel_bft_commit_latency_seconds',
      help: 'Time from a height becoming active (first pending entry or message) to its commit at this validator',
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers
    }),
    proposeLatency: new Histogram({
      name: 'mycel_bft_propose_latency_seconds',
      help: 'Time from POST /v1/critical to the entry being committed at this node',
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers
    }),
    messagesReceived: new Counter({ name: 'mycel_bft_messages_received_total', help: 'Consensus messages received, by kind', labelNames: ['kind'], registers }),
    messagesRejected: new Counter({ name: 'mycel_bft_messages_rejected_total', help: 'Consensus messages rejected, by reason', labelNames: ['reason'], registers }),
    equivocations: new Counter({ name: 'mycel_bft_equivocations_total', help: 'Equivocation evidence detected (two different signed votes or proposals for one slot)', registers }),
    entriesCommitted: new Counter({ name: 'mycel_bft_entries_committed_total', help: 'Critical entries applied from certified blocks', registers }),
    certificatesApplied: new Counter({ name: 'mycel_bft_certificates_applied_total', help: 'Certified blocks applied, by how they arrived', labelNames: ['source'], registers }),
    certificatesRejected: new Counter({ name: 'mycel_bft_certificates_rejected_total', help: 'Certified blocks refused, by reason', labelNames: ['reason'], registers }),
    halted: new Gauge({ name: 'mycel_bft_halted', help: '1 once consensus halted on an internal error (the reason is in /v1/bft/status fault); this validator no longer votes', registers }),
    pendingEntries: new Gauge({ name: 'mycel_bft_pending_entries', help: 'Entries waiting in this validator\'s mempool', registers })
  }
}

export type BftMetrics = ReturnType<typeof createBftMetrics>
