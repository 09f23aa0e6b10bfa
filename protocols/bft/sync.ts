/**
 * How certified blocks reach every node, validator or not:
 *  - gossip: a validator that decides publishes the certificate on
 *    `mycel/critical/1`; the topic validator verifies it against our chain
 *    before gossipsub forwards it (invalid: Reject, old: Ignore);
 *  - catch-up: `/mycel/bft-sync/1.0.0` serves certificates from a height on
 *    (requestMany, one frame per certificate); a node asks a random peer
 *    periodically and at once when gossip shows it is behind. Each received
 *    certificate is verified before it is applied, so whoever serves them
 *    needs no trust.
 */
import { TopicValidatorResult, type Message } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import { jittered } from '../../lib/clock.js'
import { handleRequests, requestMany, type RpcHost } from '../../wire/rpc.js'
import type { PubSubHost } from '../../wire/topic.js'
import type { PeerHost } from '../../wire/peers.js'
import { encodeCbor } from '../../wire/codec.js'
import { rejectReason } from '../../wire/errors.js'
import { BFT_SYNC_PROTOCOL, CRITICAL_TOPIC, MAX_MESSAGE_BYTES, SYNC_BATCH } from './constants.js'
import { decodeCertificate, decodeSyncRequest, encodeCertificate } from './messages.js'
import type { CriticalState } from './critical-state.js'
import type { BftLogger } from './consensus.js'
import type { BftMetrics } from './metrics.js'
import type { Certificate } from './types.js'

export interface SyncInit {
  host: RpcHost
  /** Catch-up asks a random connected peer. */
  peers: Pick<PeerHost, 'getPeers'>
  pubsub: PubSubHost
  state: CriticalState
  intervalMs: number
  timeoutMs: number
  logger: BftLogger
  metrics?: BftMetrics
}

export class CriticalSync {
  private started = false
  private timer?: ReturnType<typeof setTimeout>
  private syncing = false
  /**
   * When a catch-up exchange last completed with a peer (every certificate it
   * had beyond our height applied), unix ms; undefined until one has. The
   * minimal core's handoff waits for it (docs/minimal-core.md).
   */
  caughtUpAt?: number

  constructor (private readonly d: SyncInit) {}

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    await handleRequests(this.d.host, BFT_SYNC_PROTOCOL, async (req, _conn, reply) => {
      const r = decodeSyncRequest(req)
      const last = Math.min(this.d.state.height(), r.from + r.limit - 1)
      for (let h = r.from; h <= last; h++) await reply(encodeCertificate(this.d.state.certificate(h) as Certificate))
    }, { timeoutMs: this.d.timeoutMs, maxBytes: 1024, onError: (err) => { this.d.logger.debug({ err }, 'bft-sync: request failed') } })
    this.d.pubsub.topicValidators.set(CRITICAL_TOPIC, async (peer, msg) => await this.validate(peer, msg))
    this.d.pubsub.subscribe(CRITICAL_TOPIC)
    this.schedule(0)
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    clearTimeout(this.timer)
    this.d.pubsub.topicValidators.delete(CRITICAL_TOPIC)
    try { this.d.pubsub.unsubscribe(CRITICAL_TOPIC) } catch { /* pubsub already stopped */ }
    await this.d.host.unhandle(BFT_SYNC_PROTOCOL).catch(() => {})
  }

  /** Gossip a certificate we decided; losing it is fine, catch-up repairs. */
  async publish (cert: Certificate): Promise<void> {
    try {
      await this.d.pubsub.publish(CRITICAL_TOPIC, encodeCertificate(cert))
    } catch (err) {
      this.d.logger.debug({ err }, 'bft: certificate publish failed; catch-up will carry it')
    }
  }

  private schedule (ms: number): void {
    if (!this.started) return
    clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      const peers = this.d.peers.getPeers()
      const peer = peers[Math.floor(Math.random() * peers.length)]
      const run = peer !== undefined ? this.syncWith(peer) : Promise.resolve()
      void run.finally(() => {
        // Jitter: nodes started together do not all ask at the same instant.
        this.schedule(jittered(this.d.intervalMs, 0.25))
      })
    }, ms)
    this.timer.unref?.()
  }

  /** Fetch and apply everything `peer` has beyond our height. Single-flight. */
  async syncWith (peer: PeerId): Promise<number> {
    if (this.syncing || !this.started) return 0
    this.syncing = true
    let applied = 0
    try {
      for (;;) {
        const from = this.d.state.height() + 1
        let got = 0
        await requestMany(this.d.host, peer, BFT_SYNC_PROTOCOL, encodeCbor({ v: 1, from, limit: SYNC_BATCH }), {
          timeoutMs: this.d.timeoutMs,
          maxBytes: MAX_MESSAGE_BYTES,
          maxFrames: SYNC_BATCH,
          onFrame: async (frame) => {
            got++
            const cert = decodeCertificate(frame)
            if (await this.d.state.commit(cert)) {
              applied++
              this.d.metrics?.certificatesApplied.inc({ source: 'sync' })
            }
          }
        })
        if (got < SYNC_BATCH) break
      }
      this.caughtUpAt = Date.now()
    } catch (err) {
      const reason = rejectReason(err) === 'error' && (err as Error).name === 'InvalidCertificateError' ? 'invalid' : rejectReason(err)
      if (reason === 'invalid') this.d.metrics?.certificatesRejected.inc({ reason })
      this.d.logger.debug({ err, peer: peer.toString() }, 'bft-sync: catch-up from peer failed')
    } finally {
      this.syncing = false
    }
    if (applied > 0) this.d.logger.info({ peer: peer.toString(), applied, height: this.d.state.height() }, 'bft: caught up')
    return applied
  }

  private async validate (peer: PeerId, msg: Message): Promise<TopicValidatorResult> {
    let cert: Certificate
    try {
      cert = decodeCertificate(msg.data)
    } catch (err) {
      this.d.metrics?.certificatesRejected.inc({ reason: rejectReason(err) })
      return TopicValidatorResult.Reject
    }
    const h = cert.block.height
    const have = this.d.state.height()
    if (h <= have) return TopicValidatorResult.Ignore
    if (h > have + 1) {
      // We missed something: the forwarder has it.
      void this.syncWith(peer)
      return TopicValidatorResult.Ignore
    }
    try {
      if (await this.d.state.commit(cert)) this.d.metrics?.certificatesApplied.inc({ source: 'gossip' })
      return TopicValidatorResult.Accept
    } catch (err) {
      if ((err as Error).name === 'InvalidCertificateError') {
        this.d.metrics?.certificatesRejected.inc({ reason: 'invalid' })
        this.d.logger.debug({ err, peer: peer.toString() }, 'bft: invalid certificate on gossip')
        return TopicValidatorResult.Reject
      }
      return TopicValidatorResult.Ignore
    }
  }
}
