/**
 * Admission (docs/architecture.md#admission): the genesis handshake every
 * connection runs first, the stream gate that holds every other protocol
 * until the peer is admitted, and the refusals the connection gater
 * enforces. A libp2p service:
 *
 *   createLibp2p({ services: { admission: admission({ network, config: admissionTunables.defaults('lan'), logger }) } })
 */
import { AdmissionService, type AdmissionComponents, type AdmissionInit } from './service.js'

export { AdmissionService, type AdmissionInit, type AdmissionComponents, type AdmissionStatus } from './service.js'
export { ADMISSION_PROTOCOL, admissionTunables, type AdmissionConfig } from './constants.js'
export { NotAdmittedError } from './errors.js'
export { decodeHello, encodeHello, judgeHello, type Hello, type NetworkIdentity } from './hello.js'
export type { PeerAdmission, Refusal, RefusalReason } from '../../lib/peer-admission.js'

/** The admission factory, in libp2p's service shape `(init) => (components) => service`. */
export function admission (init: AdmissionInit): (components: AdmissionComponents) => AdmissionService {
  return (components) => new AdmissionService(init, components)
}
