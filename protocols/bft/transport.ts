/**
 * Carries consensus messages between validators over `/mycel/bft/1.0.0`:
 * one stream per message, one length-prefixed frame, no reply. The remote
 * peer id (authenticated by Noise) is handed to the consensus as the sender;
 * what counts is the signature inside. Sending never blocks the state
 * machine: failures are counted and a peer that cannot be reached is skipped
 * for a while (the rebroadcast timer re-sends what matters).
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { handleRequests, requestMany, type RpcHost } from '../wire/rpc.js'
import { rejectReason } from '../wire/errors.js'
import { BFT_PROTOCOL, MAX_MESSAGE_BYTES } from './constants.js'
import { decodeMessage, encodeMessage } from './messages.js'
import type { BftLogger, ConsensusNetwork } from './consensus.js'
import type { BftMetrics } from './metrics.js'
import type { BftMessage } from './types.js'

/** A peer that failed is not dialled again for this long, ms. */
const PEER_BACKOFF_MS = 1_000
/** Messages in flight to one peer; beyond this they are dropped (rebroadcast recovers). */
const MAX_INFLIGHT_PER_PEER = 64

export interface TransportInit {
  host: RpcHost & { getConnections: (peer?: ReturnType<typeof peerIdFromString>) => unknown[] }
  self: string
  /** Validators to broadcast to (current and next height). */
  targets: () => Iterable<string>
  deliver: (from: string, msg: BftMessage) => Promise<void>
  timeoutMs: number
  logger: BftLogger
  metrics?: BftMetrics
}

export class BftTransport implements ConsensusNetwork {
  private readonly inflight = new Map<string, number>()
  private readonly backoffUntil = new Map<string, number>()
  private started = false

  constructor (private readonly d: TransportInit) {}

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    await handleRequests(this.d.host, BFT_PROTOCOL, async (req, conn) => {
      let msg: BftMessage
      try {
        msg = decodeMessage(req)
      } catch (err) {
        this.d.metrics?.messagesRejected.inc({ reason: rejectReason(err) })
        this.d.logger.debug({ err, peer: conn.remotePeer.toString() }, 'bft: undecodable message')
        return
      }
      await this.d.deliver(conn.remotePeer.toString(), msg)
    }, {
      timeoutMs: this.d.timeoutMs,
      maxBytes: MAX_MESSAGE_BYTES,
      maxInboundStreams: 256,
      onError: (err) => { this.d.metrics?.messagesRejected.inc({ reason: rejectReason(err) }) }
    })
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    await this.d.host.unhandle(BFT_PROTOCOL).catch(() => {})
  }

  broadcast (msg: BftMessage): void {
    const bytes = encodeMessage(msg)
    for (const t of new Set(this.d.targets())) if (t !== this.d.self) this.sendBytes(t, bytes)
  }

  send (to: string, msg: BftMessage): void {
    if (to !== this.d.self) this.sendBytes(to, encodeMessage(msg))
  }

  private sendBytes (to: string, bytes: Uint8Array): void {
    if (!this.started) return
    const now = Date.now()
    let peer
    try { peer = peerIdFromString(to) } catch { return }
    const connected = this.d.host.getConnections(peer).length > 0
    if (!connected && (this.backoffUntil.get(to) ?? 0) > now) return
    const n = this.inflight.get(to) ?? 0
    if (n >= MAX_INFLIGHT_PER_PEER) return
    this.inflight.set(to, n + 1)
    requestMany(this.d.host, peer, BFT_PROTOCOL, bytes, { timeoutMs: this.d.timeoutMs, maxBytes: 16, maxFrames: 0 })
      .then(() => { this.backoffUntil.delete(to) })
      .catch(err => {
        this.backoffUntil.set(to, Date.now() + PEER_BACKOFF_MS)
        this.d.logger.debug({ err, peer: to }, 'bft: send failed')
      })
      .finally(() => {
        const left = (this.inflight.get(to) ?? 1) - 1
        if (left <= 0) this.inflight.delete(to)
        else this.inflight.set(to, left)
      })
  }
}
