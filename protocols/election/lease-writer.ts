/**
 * How this node states its own lease for one role: every statement (claim,
 * renewal, release) goes out by gossip; the DHT record, which carries the
 * term history rather than the freshest expiry, is written when a term starts
 * or ends and otherwise every `dhtPutIntervalMs`.
 */
import type { Logger } from 'pino'
import type { Membership } from '../membership/types.js'
import type { ElectionConfig } from './constants.js'
import type { SignedLease } from './lease.js'
import type { LeaseTransport } from './transport.js'
import type { ElectionMetrics } from './metrics.js'

/** A longer DHT put would hold up a stopping node; a release is best effort anyway. */
const RELEASE_PUT_TIMEOUT_MS = 2_000

/** What the slot state machine needs of a writer (tests script it). */
export interface LeaseStatements {
  /** State a claim or renewal; true when it reached at least one peer (or this node knows no other member). */
  publish: (signed: SignedLease) => Promise<boolean>
  /** State a release: gossip and DHT, best effort. */
  release: (signed: SignedLease) => Promise<void>
}

export interface LeaseWriterInit {
  config: ElectionConfig
  peerId: string
  membership: Pick<Membership, 'members'>
  transport: LeaseTransport
  metrics: ElectionMetrics
  logger: Logger
  now: () => number
  /** Aborted when the engine stops: cancels puts of claims and renewals. */
  signal: AbortSignal
}

export class LeaseWriter implements LeaseStatements {
  /** Term and time of our last lease that reached the DHT. */
  private lastPut: { term: number, at: number } | undefined
  /** The DHT put in progress; a renewal that reached peers by gossip does not start a second. */
  private put: Promise<number> | undefined

  constructor (private readonly init: LeaseWriterInit) {}

  /**
   * Gossip first (fast), DHT put in the background (authoritative). The
   * claim counts when at least one peer got it; a node that knows of no
   * other member at all (a one-node cluster) needs nobody.
   */
  async publish (signed: SignedLease): Promise<boolean> {
    const { config: cfg, transport, peerId } = this.init
    const { region, role } = signed.lease
    const recipients = await transport.gossip(signed).catch(() => 0)
    const others = this.init.membership.members().filter(m => m.peerId !== peerId)
    const alone = others.length === 0
    // Cut off from every member we know: a DHT put could only write our own
    // store, leaving a record of a claim nobody saw, which this node would
    // later serve to others as if it had been made.
    if (recipients === 0 && !alone && !others.some(m => m.state === 'alive' || m.state === 'suspect')) return false
    const last = this.lastPut
    const routine = last !== undefined && last.term === signed.lease.term && this.init.now() - last.at < cfg.dhtPutIntervalMs
    if (recipients > 0 && (this.put !== undefined || routine)) return true
    const signal = AbortSignal.any([this.init.signal, AbortSignal.timeout(cfg.dhtTimeoutMs)])
    const at = this.init.now()
    // No gossip recipient: the statement stands or falls with this put, and
    // if no DHT peer takes it, it must not stay in our own store either.
    const provisional = recipients === 0 && !alone
    const put = transport.put(signed, signal, { provisional })
      .catch((err) => { this.init.logger.debug({ err, role }, 'lease DHT put failed'); return 0 })
      .then((acks) => {
        this.put = undefined
        if (acks > 0) this.lastPut = { term: signed.lease.term, at }
        else if (!alone) this.init.metrics.renewFailures.inc({ region, role, reason: 'dht' })
        return acks
      })
    this.put = put
    if (recipients > 0 || alone) return true
    return (await put) > 0
  }

  /** Not cancelled by a stop: the release is a stopping holder's last word. */
  async release (signed: SignedLease): Promise<void> {
    const { config: cfg, transport } = this.init
    await transport.gossip(signed).catch(() => 0)
    await transport.put(signed, AbortSignal.timeout(Math.min(cfg.dhtTimeoutMs, RELEASE_PUT_TIMEOUT_MS))).catch(() => 0)
  }
}
