/**
 * Anti-entropy over `/mycel/config-sync/1.0.0`: pull what a peer has and we
 * lack (by version vector), then push what it lacks. Run with one random
 * ring subject (a member this node probes) every interval and at once with
 * a subject that joins or comes back (service.ts, `partner`), so lost
 * gossip, late joiners, restarts and healed partitions all converge.
 * Responses are bounded (pullMaxEnvelopes per request, batch frames) and
 * written with stream backpressure; a long catch-up is a series of pulls.
 */
import type { Connection, PeerId } from '@libp2p/interface'
import type { Logger } from 'pino'
import { handleRequests, requestMany, request, type RpcHost } from '../../wire/rpc.js'
import { rejectReason } from '../../wire/errors.js'
import type { ConfigStore } from '../../crdt/store.js'
import type { IngestOrigin, IngestResult } from '../../crdt/replica.js'
import { vvCovers, type VersionVector } from '../../crdt/version-vector.js'
import { SYNC_PROTOCOL, type ConfigSyncConfig } from './constants.js'
import { decodeSyncFrame, decodeSyncRequest, encodeSyncFrame, encodeSyncRequest } from './messages.js'
import { SyncProtocolError } from './errors.js'
import type { AckTracker } from './acks.js'
import type { ConfigMetrics } from './metrics.js'

export interface AntiEntropyDeps {
  host: RpcHost
  store: ConfigStore
  config: ConfigSyncConfig
  acks: AckTracker
  metrics: ConfigMetrics
  logger: Logger
  ingest: (bytes: Uint8Array, origin: IngestOrigin) => Promise<IngestResult>
}

export interface RoundResult {
  pulled: number
  pushed: number
  /** The peer's durable version vector after the round. */
  peerVv: VersionVector
}

export class AntiEntropy {
  constructor (private readonly d: AntiEntropyDeps) {}

  async start (): Promise<void> {
    const { config } = this.d
    await handleRequests(this.d.host, SYNC_PROTOCOL, async (req, conn, reply) => { await this.respond(req, conn, reply) }, {
      timeoutMs: config.rpcTimeoutMs,
      maxBytes: config.maxFrameBytes,
      maxInboundStreams: config.maxInboundStreams,
      onError: (err, conn) => {
        this.d.metrics.rounds.inc({ role: 'responder', result: 'error' })
        this.d.logger.debug({ err, peer: conn.remotePeer.toString(), reason: rejectReason(err) }, 'config-sync request failed')
      }
    })
  }

  async stop (): Promise<void> {
    await this.d.host.unhandle(SYNC_PROTOCOL).catch(() => {})
  }

  /** One full round with `peer`: pull until caught up (bounded), then push what it lacks. */
  async syncWith (peer: PeerId, signal?: AbortSignal): Promise<RoundResult> {
    const { config, store, metrics } = this.d
    const peerName = peer.toString()
    let pulled = 0
    let pushed = 0
    let peerVv: VersionVector = {}
    try {
      for (let i = 0; i < config.maxPullsPerRound; i++) {
        const r = await this.pull(peer, signal)
        pulled += r.count
        peerVv = r.peerVv
        if (!r.more) break
        // A pull asks from our durable version vector: make what this one
        // brought durable first (the group commit may not have run yet), or
        // the next pull is answered with the same envelopes again.
        if (r.count > 0) await store.sync()
      }
      for (let i = 0; i < config.maxPullsPerRound; i++) {
        const { envelopes } = store.replica.missing(peerVv, config.batchMaxEnvelopes, config.batchMaxBytes, store.servableVersionVector())
        if (envelopes.length === 0) break
        const body = encodeSyncRequest({ v: 1, op: 'push', envelopes })
        metrics.bytes.inc({ direction: 'sent' }, body.byteLength)
        const frame = await request(this.d.host, peer, SYNC_PROTOCOL, body, { timeoutMs: config.rpcTimeoutMs, maxBytes: config.maxFrameBytes, signal })
        metrics.bytes.inc({ direction: 'received' }, frame.byteLength)
        const ack = decodeSyncFrame(frame, config.maxFrameBytes)
        if (ack.op !== 'vv') throw new SyncProtocolError(`push answered with ${ack.op}`)
        this.d.acks.update(peerName, ack.vv)
        pushed += envelopes.length
        // The peer refused some of them (its ACL or limits differ): do not loop.
        if (vvCovers(peerVv, ack.vv)) break
        peerVv = ack.vv
      }
      metrics.rounds.inc({ role: 'initiator', result: 'ok' })
      return { pulled, pushed, peerVv }
    } catch (err) {
      metrics.rounds.inc({ role: 'initiator', result: 'error' })
      throw err
    }
  }

  private async pull (peer: PeerId, signal?: AbortSignal): Promise<{ count: number, more: boolean, peerVv: VersionVector }> {
    const { config, store, metrics } = this.d
    const body = encodeSyncRequest({ v: 1, op: 'pull', vv: store.durableVersionVector() })
    metrics.bytes.inc({ direction: 'sent' }, body.byteLength)
    let peerVv: VersionVector | undefined
    let more: boolean | undefined
    let count = 0
    // Frames are handled as they arrive (onFrame): ingesting is the
    // backpressure, and nothing accumulates in memory.
    await requestMany(this.d.host, peer, SYNC_PROTOCOL, body, {
      timeoutMs: config.rpcTimeoutMs,
      maxBytes: config.maxFrameBytes,
      maxFrames: config.pullMaxEnvelopes + 2,
      signal,
      onFrame: async (data) => {
        metrics.bytes.inc({ direction: 'received' }, data.byteLength)
        const frame = decodeSyncFrame(data, config.maxFrameBytes)
        if (more !== undefined) throw new SyncProtocolError('frame after end')
        if (peerVv === undefined) {
          if (frame.op !== 'vv') throw new SyncProtocolError(`pull answered first with ${frame.op}`)
          peerVv = frame.vv
          this.d.acks.update(peer.toString(), frame.vv)
          return
        }
        if (frame.op === 'batch') {
          for (const e of frame.envelopes) { await this.d.ingest(e, 'sync'); count++ }
        } else if (frame.op === 'end') {
          more = frame.more
        } else {
          throw new SyncProtocolError('second version vector')
        }
      }
    })
    if (peerVv === undefined) throw new SyncProtocolError('pull answered with nothing')
    return { count, more: more === true, peerVv }
  }

  private async respond (data: Uint8Array, conn: Connection, reply: (frame: Uint8Array) => Promise<void>): Promise<void> {
    const { config, store, metrics } = this.d
    metrics.bytes.inc({ direction: 'received' }, data.byteLength)
    const req = decodeSyncRequest(data, config.maxFrameBytes)
    const peer = conn.remotePeer.toString()
    const send = async (frame: Uint8Array): Promise<void> => {
      metrics.bytes.inc({ direction: 'sent' }, frame.byteLength)
      await reply(frame)
    }
    if (req.op === 'push') {
      for (const e of req.envelopes) await this.d.ingest(e, 'sync')
      // The reply is an acknowledgement: only after what we took is durable.
      await store.sync()
      await send(encodeSyncFrame({ v: 1, op: 'vv', vv: store.durableVersionVector() }))
      metrics.rounds.inc({ role: 'responder', result: 'ok' })
      return
    }
    this.d.acks.update(peer, req.vv)
    await send(encodeSyncFrame({ v: 1, op: 'vv', vv: store.durableVersionVector() }))
    const { envelopes, more } = store.replica.missing(req.vv, config.pullMaxEnvelopes, config.batchMaxBytes * 16, store.servableVersionVector())
    let batch: Uint8Array[] = []
    let bytes = 0
    for (const e of envelopes) {
      if (batch.length > 0 && (batch.length >= config.batchMaxEnvelopes || bytes + e.byteLength > config.batchMaxBytes)) {
        await send(encodeSyncFrame({ v: 1, op: 'batch', envelopes: batch }))
        batch = []
        bytes = 0
      }
      batch.push(e)
      bytes += e.byteLength
    }
    if (batch.length > 0) await send(encodeSyncFrame({ v: 1, op: 'batch', envelopes: batch }))
    await send(encodeSyncFrame({ v: 1, op: 'end', more }))
    metrics.rounds.inc({ role: 'responder', result: 'ok' })
  }
}
