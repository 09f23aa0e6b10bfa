/**
 * The types of a role slot (slot.ts): its named states, why a holder stops,
 * and what a slot needs of its engine (`SlotHost`, which election.ts builds).
 */
import type { Logger } from 'pino'
import type { ElectionConfig } from './constants.js'
import type { Lease, SignedLease } from './lease.js'
import type { LeaseBook } from './book.js'

export type DemoteReason = 'lease-lapsed' | 'contact-lost' | 'not-winner' | 'superseded' | 'stopping'

export type SlotState =
  /** Just started: observes for the learn period and claims nothing. */
  | { name: 'learning' }
  /** Does not act and has no claim out: follows another holder, waits for a lapse or a settled view, or claims. */
  | { name: 'idle' }
  /** Its new term reached a peer; it acts only if no higher token shows up before `until`. */
  | { name: 'claiming', claim: SignedLease, until: number }
  /**
   * Acts; renews at `renewAt` (a step that comes earlier, woken by a
   * membership change or a lease, only checks that it may still act);
   * `lapse` fires when the lease runs out unrenewed.
   */
  | { name: 'holding', lapse: ReturnType<typeof setTimeout>, renewAt: number }

export type SlotStateName = SlotState['name']

/** What a slot needs of its engine; the engine builds one per start. */
export interface SlotHost {
  config: ElectionConfig
  region: string
  /** This node's peer id. */
  self: string
  book: Pick<LeaseBook, 'get' | 'maxTerm'>
  logger: Logger
  /** Aborted when the engine stops. */
  signal: AbortSignal
  /** End of the engine's learn period (unix ms). */
  learnUntil: number
  now: () => number
  /** When the own region's set of alive members last changed in this node's view. */
  lastViewChange: () => number
  /**
   * When this node last heard from any other member (membership's acks and
   * updates, unix ms); undefined when it knows no other member (a one-node
   * cluster, which needs no contact).
   */
  lastContact: () => number | undefined
  /** Until when another holder's lease is in force in this node's view (unix ms; lease.ts `leaseEndSeen`). */
  inForceUntil: (lease: Lease) => number
  /** The winner of the own region's `role` in this node's view. */
  winner: (role: string) => string | undefined
  /** The highest persisted fencing term of the own region's `role`. */
  fencedTerm: (role: string) => number
  holderlessSeconds: (role: string) => number
  /**
   * Ask one connected member of the region for every lease it knows (lease
   * sync) into the book; no dial, and nothing when no member is connected.
   * Never throws.
   */
  askPeer: (signal: AbortSignal) => Promise<void>
  /** Read the own region's `role` from the DHT into the book. */
  resolve: (role: string, signal: AbortSignal) => Promise<unknown>
  sign: (lease: Lease) => Promise<SignedLease>
  /** Take one of our own statements into the book. */
  observe: (signed: SignedLease) => void
  /** The delay after a step that asks for none: the renew interval, jittered. */
  renewDelay: () => number
  /** A claim or renewal reached no peer (counted, logged; the next step retries). */
  unreachable: (role: string, term: number, renewing: boolean) => void
  /** Started acting (metrics, log, `role:elected`). */
  elected: (lease: Lease) => void
  /** Stopped acting (metrics, log, `role:demoted`). */
  demoted: (role: string, term: number, reason: DemoteReason) => void
}
