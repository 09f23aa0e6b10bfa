/**
 * Carries consensus messages between validators over `/mycel/bft/1.0.0`:
 * one long-lived stream per peer and direction, carrying length-prefixed
 * frames. A stream per message would pay stream set-up and protocol
 * negotiation on every vote and, with receivers slower than senders, pile up
 * concurrent streams until the muxer resets them.
 *
 * The remote peer id (authenticated by Noise) is handed to the consensus as
 * the sender; what counts is the signature inside. Sending never blocks the
 * state machine: each peer has a bounded queue (oldest dropped when full), a
 * peer that cannot be reached is skipped for a while, and the rebroadcast
 * timer re-sends whatever matters. The receiver processes frames in order
 * and reads the next only when the consensus took the previous one, so a
 * slow validator pushes back on its senders instead of buffering without end.
 */
import { peerIdOf } from '../../wire/peer-ids.js'
import { lpStream } from '@libp2p/utils'
import type { PeerId, Stream } from '@libp2p/interface'
import type { RpcHost } from '../../wire/rpc.js'
import type { PeerHost } from '../../wire/peers.js'
import { rejectReason } from '../../wire/errors.js'
import { BFT_PROTOCOL, MAX_MESSAGE_BYTES } from './constants.js'
import { decodeMessage, encodeMessage } from './messages.js'
import type { BftLogger, ConsensusNetwork } from './consensus-types.js'
import type { BftMetrics } from './metrics.js'
import type { BftMessage } from './types.js'

/** A peer that could not be reached is not dialled again for this long, ms. */
const PEER_BACKOFF_MS = 1_000
/** Frames queued for one peer; beyond this the oldest are dropped (rebroadcast recovers). */
const MAX_QUEUED_PER_PEER = 256
/** Inbound BFT streams one connection may hold (one is normal; restarts leave stale ones briefly). */
const MAX_INBOUND_STREAMS = 16

export interface TransportInit {
  host: RpcHost
  /** A peer we hold no connection to and failed to reach recently is skipped. */
  peers: Pick<PeerHost, 'getConnections'>
  self: string
  /** Validators to broadcast to (current and next height). */
  targets: () => Iterable<string>
  deliver: (from: string, msg: BftMessage) => Promise<void>
  /** Dial and per-frame write deadline, ms. */
  timeoutMs: number
  logger: BftLogger
  metrics?: BftMetrics
}

type LpStream = ReturnType<typeof lpStream>

class PeerChannel {
  private readonly queue: Uint8Array[] = []
  private pumping = false
  private stream?: Stream
  private lp?: LpStream
  private backoffUntil = 0

  constructor (private readonly peer: PeerId, private readonly d: TransportInit, private readonly isOpen: () => boolean) {}

  enqueue (frame: Uint8Array): void {
    const connected = this.d.peers.getConnections(this.peer).length > 0
    if (this.stream === undefined && !connected && Date.now() < this.backoffUntil) return
    if (this.queue.length >= MAX_QUEUED_PER_PEER) this.queue.shift()
    this.queue.push(frame)
    if (!this.pumping) void this.pump()
  }

  private async pump (): Promise<void> {
    this.pumping = true
    try {
      while (this.queue.length > 0 && this.isOpen()) {
        if (this.lp === undefined) {
          try {
            this.stream = await this.d.host.dialProtocol(this.peer, BFT_PROTOCOL, { signal: AbortSignal.timeout(this.d.timeoutMs) })
            this.lp = lpStream(this.stream, { maxDataLength: MAX_MESSAGE_BYTES })
          } catch (err) {
            this.fail(err)
            return
          }
        }
        const frame = this.queue[0]
        try {
          await this.lp.write(frame, { signal: AbortSignal.timeout(this.d.timeoutMs) })
          this.queue.shift()
        } catch (err) {
          this.fail(err)
          return
        }
      }
    } finally {
      this.pumping = false
    }
  }

  /** Drop the stream and what is queued; the next message redials after the backoff. */
  private fail (err: unknown): void {
    this.d.logger.debug({ err, peer: this.peer.toString() }, 'bft: send failed')
    this.stream?.abort(err as Error)
    this.stream = undefined
    this.lp = undefined
    this.queue.length = 0
    this.backoffUntil = Date.now() + PEER_BACKOFF_MS
  }

  async close (): Promise<void> {
    this.queue.length = 0
    const s = this.stream
    this.stream = undefined
    this.lp = undefined
    await s?.close().catch(() => { s.abort(new Error('closing')) })
  }
}

export class BftTransport implements ConsensusNetwork {
  private readonly channels = new Map<string, PeerChannel>()
  private readonly inbound = new Set<Stream>()
  private started = false

  constructor (private readonly d: TransportInit) {}

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    await this.d.host.handle(BFT_PROTOCOL, async (stream, conn) => {
      await this.serve(stream, conn.remotePeer.toString())
    }, { maxInboundStreams: MAX_INBOUND_STREAMS, maxOutboundStreams: MAX_INBOUND_STREAMS })
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    await this.d.host.unhandle(BFT_PROTOCOL).catch(() => {})
    for (const c of this.channels.values()) await c.close()
    this.channels.clear()
    for (const s of this.inbound) s.abort(new Error('bft transport stopping'))
    this.inbound.clear()
  }

  broadcast (msg: BftMessage): void {
    const bytes = encodeMessage(msg)
    for (const t of new Set(this.d.targets())) if (t !== this.d.self) this.channel(t)?.enqueue(bytes)
  }

  send (to: string, msg: BftMessage): void {
    if (to !== this.d.self) this.channel(to)?.enqueue(encodeMessage(msg))
  }

  private channel (id: string): PeerChannel | undefined {
    if (!this.started) return undefined
    let c = this.channels.get(id)
    if (c === undefined) {
      let peer: PeerId
      try { peer = peerIdOf(id) } catch { return undefined }
      c = new PeerChannel(peer, this.d, () => this.started)
      this.channels.set(id, c)
    }
    return c
  }

  /** Read frames until the remote closes; network input never throws past here. */
  private async serve (stream: Stream, from: string): Promise<void> {
    this.inbound.add(stream)
    const lp = lpStream(stream, { maxDataLength: MAX_MESSAGE_BYTES })
    try {
      while (this.started) {
        let frame
        try {
          frame = await lp.read()
        } catch (err) {
          const name = (err as Error).name
          if (name !== 'UnexpectedEOFError' && name !== 'StreamClosedError' && name !== 'StreamResetError') {
            this.d.metrics?.messagesRejected.inc({ reason: name === 'InvalidDataLengthError' ? 'oversized' : rejectReason(err) })
            this.d.logger.debug({ err, peer: from }, 'bft: inbound stream failed')
          }
          stream.abort(err as Error)
          return
        }
        let msg: BftMessage
        try {
          msg = decodeMessage(frame.subarray())
        } catch (err) {
          this.d.metrics?.messagesRejected.inc({ reason: rejectReason(err) })
          this.d.logger.debug({ err, peer: from }, 'bft: undecodable message')
          continue
        }
        await this.d.deliver(from, msg)
      }
    } finally {
      this.inbound.delete(stream)
    }
  }
}
