/**
 * Public view of membership, shared by every module that needs to know who
 * is alive (config anti-entropy, election, health, roles). The SWIM
 * implementation lives beside this file.
 */
import type { TypedEventTarget } from '@libp2p/interface'
import type { Startable } from '../../lib/lifecycle.js'
import type { PeerPolicy } from '../../lib/peer-policy.js'

/** `revoked`: cut off by the admission policy (lib/peer-policy.ts); never resurrected by gossip. */
export type MemberState = 'alive' | 'suspect' | 'dead' | 'left' | 'revoked'

export interface Member {
  peerId: string
  state: MemberState
  /** Raised only by the member itself (refutation, metadata change, restart). */
  incarnation: number
  region: string
  /** Roles this member is eligible for (`network`, `update`, ...). */
  roles: string[]
  /** Multiaddrs (without /p2p suffix) the member advertises. */
  addrs: string[]
  /** Daemon version string. */
  version: string
  /** Unix ms when we last had first-hand or gossiped evidence it is alive. */
  lastSeen: number
}

export interface MembershipEvents {
  /** A member we had not seen before (or had reaped) is alive. */
  'member:join': CustomEvent<Member>
  /** Any state/incarnation/metadata change of a known member. */
  'member:update': CustomEvent<Member>
  'member:suspect': CustomEvent<Member>
  'member:dead': CustomEvent<Member>
  'member:left': CustomEvent<Member>
  /** A suspect or dead member was seen alive again. */
  'member:alive': CustomEvent<Member>
}

/**
 * What other components read of membership: who is there and the events
 * when that changes (config-sync, the BFT service, the election, the
 * managers). They take `Pick<MembershipView, ...>` of it, never the
 * lifecycle or the own-record updates, so a test hands them a scripted view.
 */
export interface MembershipView extends TypedEventTarget<MembershipEvents> {
  /** This node's own record. */
  self: () => Member
  /** Every known member including self and non-reaped dead/left ones. */
  members: () => Member[]
  get: (peerId: string) => Member | undefined
  /** Alive members other than self (suspect members are excluded). */
  alivePeers: () => Member[]
  /** Up to `n` distinct random alive peers other than self, optionally filtered. */
  randomAlive: (n: number, filter?: (m: Member) => boolean) => Member[]
  /**
   * When the latest probe of ours that a member answered (directly or
   * through a helper) was sent, wall-clock ms: round-trip evidence that some
   * member heard this node then (the election's contact rule). Undefined
   * until one was answered.
   */
  lastContact?: () => number | undefined
}

export interface Membership extends Startable, MembershipView {
  /**
   * Members this node keeps a connection to for failure detection: the ones
   * it probes and the ones that probe it (a bounded overlay, not a full
   * mesh). A connection trimmer must not close these.
   */
  neighbours: () => string[]
  /**
   * The neighbours this node probes, and so dials and keeps a connection to
   * (their observers dial them the same way): the peers to start an exchange
   * with without opening a connection nobody else would.
   */
  subjects: () => string[]
  /** Change own metadata; bumps own incarnation and disseminates it. */
  updateSelf: (patch: Partial<Pick<Member, 'roles' | 'version' | 'addrs'>>) => void
  /** Announce a graceful leave to the cluster, then stop probing. */
  leave: (signal?: AbortSignal) => Promise<void>
  /** Apply the network's admission policy from now on (revoked members, allowlist regions). */
  attachPolicy: (policy: PeerPolicy) => void
}
