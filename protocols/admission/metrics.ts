/** Metrics of the admission protocol, in one factory (optional registry). */
import { Counter, Gauge, type Registry } from 'prom-client'

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
    refused: new Gauge({
      name: 'mycel_admission_refused_peers',
      help: 'Peers currently refused by the connection gater after failing admission',
      registers,
      collect () { this.set(refusedPeers()) }
    })
  }
}

export type AdmissionMetrics = ReturnType<typeof admissionMetrics>
