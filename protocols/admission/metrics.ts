/** Metrics of the admission protocol, in one factory (optional registry). */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'

export function admissionMetrics (registry: Registry | undefined, refusedPeers: () => number) {
  const registers = registry !== undefined ? [registry] : []
  return {
    handshakes: new Counter({
      name: 'mycel_admission_handshakes_total',
      help: 'Admission handshakes judged, by result: admitted, a refusal reason, or failed (no verdict: timeout, reset)',
      labelNames: ['result'] as const,
      registers
    }),
    streamsDenied: new Counter({
      name: 'mycel_admission_streams_denied_total',
      help: 'Protocol streams refused because their peer was not admitted, by direction',
      labelNames: ['direction'] as const,
      registers
    }),
    revocationSeconds: new Histogram({
      name: 'mycel_admission_revocation_seconds',
      help: 'From the commit of a revocation (its block time) to this node closing the revoked peer\'s connections',
      buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
      registers
    }),
    tokenRedemptions: new Counter({
      name: 'mycel_admission_token_redemptions_total',
      help: 'Join-token redemptions presented by joining peers, by result: relayed (checked and handed to the validators) or a refusal reason',
      labelNames: ['result'] as const,
      registers
    }),
    refusedBy: new Counter({
      name: 'mycel_admission_refused_by_peer_total',
      help: 'Times a peer refused this node in the handshake, by the reason it gave',
      labelNames: ['reason'] as const,
      registers
    }),
    refused: new Gauge({
      name: 'mycel_admission_refused_peers',
      help: 'Peers currently refused by the connection gater after failing admission',
      registers,
      collect () { this.set(refusedPeers()) }
    })
  }
}

export type AdmissionMetrics = ReturnType<typeof admissionMetrics>
