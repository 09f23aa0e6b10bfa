/**
 * SWIM membership with Lifeguard, over libp2p. The public surface:
 *
 *   const m = membership({ config: membershipConfig('lan'), region, roles, version, dataDir })(components)
 *   await m.start(); m.alivePeers(); m.addEventListener('member:dead', ...); await m.leave()
 *
 * See docs/membership.md for the design and how it maps to memberlist.
 */
import { Swim, type MembershipComponents, type MembershipInit } from './swim.js'
import type { Membership } from './types.js'

export type { Member, MemberState, Membership, MembershipView, MembershipEvents } from './types.js'
export type { MembershipInit, MembershipComponents } from './swim.js'
export type { IncarnationStore } from './incarnation-store.js'
export { fileIncarnationStore, clockIncarnationStore } from './incarnation-store.js'
export {
  membershipConfig, membershipTunables,
  MEMBERSHIP_TOPIC, PROBE_PROTOCOL, PROBE_REQ_PROTOCOL, PUSH_PULL_PROTOCOL, type MembershipConfig
} from './constants.js'

/** The membership factory: `(init) => (components) => Membership`. */
export function membership (init: MembershipInit): (components: MembershipComponents) => Membership & { readonly metrics: Swim['metrics'] } {
  return (components) => new Swim(init, components)
}
