/**
 * The serving side of `/mycel/artifact/1.0.0`: answers a request with the
 * blocks this node holds (each re-verified by the store as it is read), then
 * the list of those it does not hold. Serving is paced by one token bucket
 * for all peers (`serveBytesPerSecond`), and goes to at most `uploadSlots`
 * peers at once: a request from another peer meanwhile is "choked",
 * answered at once with all its chunks `missing` (the index still sent), so
 * its fetcher turns to other providers — partial holders — instead of
 * queueing behind everyone at a publisher whose uplink is the bottleneck
 * (BitTorrent's choking, without its tit-for-tat). A request it cannot read is answered
 * with an error frame and counted; nothing a peer sends throws past here.
 */
import type { Logger } from 'pino'
import type { CommonComponents } from '../../lib/components.js'
import { handleRequests, type RpcHost } from '../../wire/rpc.js'
import { rejectReason } from '../../wire/errors.js'
import { MAX_REQUEST_BYTES, type ArtifactConfig } from './constants.js'
import type { BlockStore } from './block-store.js'
import { parseBlockCid } from './chunks.js'
import type { ArtifactMetrics } from './metrics.js'
import { TokenBucket } from './token-bucket.js'
import { ARTIFACT_PROTOCOL, decodeRequest, encodeResponse, type ArtifactRequest } from './transfer.js'
import { isArchiveCid } from './signed-manifest.js'

export type ArtifactServerComponents = Pick<CommonComponents, 'logger'> & { host: Pick<RpcHost, 'handle' | 'unhandle'> }

export interface ArtifactServerInit {
  config: Readonly<ArtifactConfig>
  store: BlockStore
  metrics: ArtifactMetrics
}

export class ArtifactServer {
  private readonly bucket: TokenBucket
  private readonly log: Logger
  private shutdown: AbortController | undefined

  constructor (private readonly components: ArtifactServerComponents, private readonly init: ArtifactServerInit) {
    this.bucket = new TokenBucket(init.config.serveBytesPerSecond, init.config.bucketBurstBytes)
    this.log = components.logger.child({ component: 'artifact-server' })
  }

  async start (): Promise<void> {
    if (this.shutdown !== undefined) return
    this.shutdown = new AbortController()
    await handleRequests(this.components.host, ARTIFACT_PROTOCOL, async (req, connection, reply) => {
      await this.serve(req, reply, connection.remotePeer.toString())
    }, {
      // The fetcher's deadline too: at the lan cap, maxInboundStreams responses of K chunks each take ~2 s of 30.
      timeoutMs: this.init.config.requestTimeoutMs,
      maxBytes: MAX_REQUEST_BYTES,
      maxInboundStreams: this.init.config.maxInboundStreams,
      onError: (err, connection) => {
        this.init.metrics.requestsRejected.inc({ reason: rejectReason(err) })
        this.log.debug({ err, peer: connection.remotePeer.toString() }, 'artifact request failed')
      }
    })
  }

  async stop (): Promise<void> {
    if (this.shutdown === undefined) return
    this.shutdown.abort()
    this.shutdown = undefined
    await this.components.host.unhandle(ARTIFACT_PROTOCOL)
  }

  private async serve (data: Uint8Array, reply: (frame: Uint8Array) => Promise<void>, peer: string): Promise<void> {
    let req: ArtifactRequest
    try {
      req = decodeRequest(data)
    } catch (err) {
      await this.refuse(reply, rejectReason(err), `cannot read request: ${(err as Error).message}`, peer)
      return
    }
    const cids = req.want.map(b => parseBlockCid(b))
    if (cids.some(c => c === undefined) || (req.index !== undefined && !isArchiveCid(req.index))) {
      await this.refuse(reply, 'bad_cid', 'a wanted CID is not a CIDv1 sha2-256 block or archive CID', peer)
      return
    }
    const signal = this.shutdown?.signal
    // Choked: every upload slot serves another peer. The index (one small
    // block, what a fetcher needs to start and to serve others) still goes.
    const unchoked = this.enterSlot(peer)
    try {
      await this.answer(req, cids, reply, unchoked, signal)
    } finally {
      if (unchoked) this.leaveSlot(peer)
    }
  }

  /** Peers being served now: their requests in flight, and since when they hold the slot (ms). */
  private readonly slots = new Map<string, { inflight: number, since: number }>()
  /** When a peer was last choked (ms): someone is waiting for a slot. */
  private lastChokedAt = -Infinity

  /**
   * A slot for `peer`'s request, or false (choked). A peer that has held its
   * slot for `slotRotateMs` while others were choked is choked in turn at
   * its next request (BitTorrent rotates its unchoked peers the same way):
   * its requests in flight finish, its slot frees, a waiting peer takes it.
   * Without it the first `uploadSlots` fetchers keep the publisher to
   * themselves until they are done.
   */
  private enterSlot (peer: string): boolean {
    const now = Date.now()
    const held = this.slots.get(peer)
    const rotate = this.init.config.slotRotateMs
    const othersWaiting = now - this.lastChokedAt < rotate
    if (held !== undefined && !(othersWaiting && now - held.since >= rotate)) {
      held.inflight++
      return true
    }
    if (held === undefined && this.slots.size < this.init.config.uploadSlots) {
      this.slots.set(peer, { inflight: 1, since: now })
      return true
    }
    this.lastChokedAt = now
    this.init.metrics.requestsChoked.inc()
    return false
  }

  private leaveSlot (peer: string): void {
    const held = this.slots.get(peer)
    if (held === undefined) return
    if (--held.inflight <= 0) this.slots.delete(peer)
  }

  private async answer (req: ArtifactRequest, cids: Array<ReturnType<typeof parseBlockCid>>, reply: (frame: Uint8Array) => Promise<void>, unchoked: boolean, signal?: AbortSignal): Promise<void> {
    let hasIndex: boolean | undefined
    if (req.index !== undefined) {
      const stored = await this.init.store.getIndex(req.index)
      hasIndex = stored !== undefined
      const block = stored === undefined ? undefined : await this.init.store.get(stored.root)
      if (block !== undefined) await this.send(reply, { v: 1, t: 'index', archive: req.index, data: block }, block.byteLength, signal)
      else hasIndex = false
    }
    const missing: Uint8Array[] = []
    for (const cid of cids) {
      if (cid === undefined) continue
      if (!unchoked) { missing.push(cid.bytes); continue }
      const block = await this.init.store.get(cid)
      if (block === undefined) missing.push(cid.bytes)
      else await this.send(reply, { v: 1, t: 'block', cid: cid.bytes, data: block }, block.byteLength, signal)
    }
    await reply(encodeResponse(hasIndex === false ? { v: 1, t: 'missing', cids: missing, index: false } : { v: 1, t: 'missing', cids: missing }))
  }

  private async send (reply: (frame: Uint8Array) => Promise<void>, frame: Parameters<typeof encodeResponse>[0], size: number, signal?: AbortSignal): Promise<void> {
    await this.bucket.take(size, signal)
    await reply(encodeResponse(frame))
    this.init.metrics.bytesServed.inc(size)
  }

  private async refuse (reply: (frame: Uint8Array) => Promise<void>, reason: string, message: string, peer: string): Promise<void> {
    this.init.metrics.requestsRejected.inc({ reason })
    this.log.debug({ peer, reason }, 'artifact request refused')
    await reply(encodeResponse({ v: 1, t: 'error', message }))
  }
}
