/**
 * Fast path: every new envelope is published once, by its writer, on the
 * gossipsub topic. The topic validator runs our full ingest (decode,
 * signature, ACL, limits, sequencing) before gossipsub forwards anything,
 * so a bad envelope is dropped at the first honest hop and its sender's
 * score pays for it.
 */
import { TopicValidatorResult, type Message } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'
import type { Logger } from 'pino'
import type { IngestOrigin, IngestResult } from '../../crdt/replica.js'
import type { Registry } from 'prom-client'
import { recordRejected, type PubSubHost } from '../../wire/topic.js'
import { CONFIG_TOPIC } from './constants.js'

/**
 * Rejections that prove the sender forwarded something no honest node would.
 * Equivocation is not among them: an honest relay may have accepted the
 * other envelope of the pair first.
 */
const PUNISHABLE = new Set(['malformed', 'oversized', 'unsupported_version', 'bad_signature', 'access_denied', 'invalid_update', 'invalid_namespace', 'limit'])

export interface ConfigGossipDeps {
  pubsub: PubSubHost
  logger: Logger
  /** Where a punishable rejection is counted against the peer that answers for it (lib/peer-offences.ts). */
  registry?: Registry
  ingest: (bytes: Uint8Array, origin: IngestOrigin) => Promise<IngestResult>
  /** An envelope arrived ahead of a gap: the forwarding peer likely has the missing ones. */
  onGap: (from: PeerId) => void
}

export class ConfigGossip {
  private started = false
  constructor (private readonly d: ConfigGossipDeps) {}

  start (): void {
    if (this.started) return
    this.started = true
    this.d.pubsub.topicValidators.set(CONFIG_TOPIC, async (peer, msg) => await this.validate(peer, msg))
    this.d.pubsub.subscribe(CONFIG_TOPIC)
  }

  stop (): void {
    if (!this.started) return
    this.started = false
    this.d.pubsub.topicValidators.delete(CONFIG_TOPIC)
    try { this.d.pubsub.unsubscribe(CONFIG_TOPIC) } catch { /* pubsub already stopped */ }
  }

  /** Publish our own new envelope; failure is fine, anti-entropy carries it anyway. */
  async publish (bytes: Uint8Array): Promise<void> {
    try {
      await this.d.pubsub.publish(CONFIG_TOPIC, bytes)
    } catch (err) {
      this.d.logger.debug({ err }, 'config gossip publish failed; anti-entropy will carry the envelope')
    }
  }

  private async validate (peer: PeerId, msg: Message): Promise<TopicValidatorResult> {
    try {
      const r = await this.d.ingest(msg.data, 'gossip')
      switch (r.result) {
        case 'applied': return TopicValidatorResult.Accept
        case 'held':
          this.d.onGap(peer)
          return TopicValidatorResult.Accept
        case 'duplicate': return TopicValidatorResult.Ignore
        default:
          if (!PUNISHABLE.has(r.reason)) return TopicValidatorResult.Ignore
          recordRejected(this.d.registry, msg, peer.toString(), r.reason)
          return TopicValidatorResult.Reject
      }
    } catch (err) {
      // ingest never throws; if it ever does, do not forward and do not crash gossipsub.
      this.d.logger.warn({ err }, 'config gossip validator failed')
      return TopicValidatorResult.Ignore
    }
  }
}
