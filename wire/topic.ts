/**
 * A gossipsub topic whose messages are decoded and verified in the topic
 * validator, so invalid messages are rejected before gossipsub forwards them
 * (and the sender's score pays for it). Every outcome is counted in
 * `mycel_gossip_messages_total{topic,result}`.
 */
import type { Counter, Registry } from 'prom-client'
import type { Message, PublishResult, TopicValidatorFn } from '@libp2p/gossipsub'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { Logger } from 'pino'
import { rejectReason } from './errors.js'
import { metricsOn } from '../lib/metrics.js'
import { offenceSink, type OffenceKind } from '../lib/peer-offences.js'

/**
 * The slice of gossipsub a topic user needs: validate before forwarding,
 * subscribe, publish, hear delivered messages. The libp2p node's
 * `services.pubsub` is one; a unit test passes an in-memory fake.
 */
export interface PubSubHost {
  /** Runs before gossipsub forwards a message: Accept, Ignore or Reject (the sender's score pays). */
  topicValidators: Map<string, TopicValidatorFn>
  subscribe: (topic: string) => void
  unsubscribe: (topic: string) => void
  publish: (topic: string, data: Uint8Array) => Promise<PublishResult>
  /** `message`: a message that passed its topic validator was delivered. */
  addEventListener: (type: 'message', listener: (evt: CustomEvent<Message>) => void) => void
  removeEventListener: (type: 'message', listener: (evt: CustomEvent<Message>) => void) => void
  /** This node's mesh peers on `topic` (gossipsub's); absent on hosts without a mesh (the simulator). */
  getMeshPeers?: (topic: string) => unknown[]
}

export const GOSSIP_METRIC = 'mycel_gossip_messages_total'

/** The one definition of `mycel_gossip_messages_total`, shared by every topic and by membership. */
export function gossipCounter (registry?: Registry): Counter<'topic' | 'result'> {
  return metricsOn(registry).counter({
    name: GOSSIP_METRIC,
    help: 'Gossip messages received, by topic and validation result (accepted, ignored, or a reject reason)',
    labelNames: ['topic', 'result'] as const
  })
}

/** The offence a rejected gossip message counts as (lib/peer-offences.ts): a bad signature, or any other rejection. */
export function offenceOfReject (reason: string): OffenceKind {
  return reason === 'bad_signature' ? 'bad_signature' : 'rejected_envelope'
}

/**
 * Count a rejected gossip message against the peer that answers for it: the
 * author of a signed message (gossipsub checked that signature, so the
 * author signed what was rejected), else the peer that forwarded it.
 */
export function recordRejected (registry: Registry | undefined, msg: Message, forwarder: string, reason: string): void {
  offenceSink(registry).record(msg.type === 'signed' ? msg.from.toString() : forwarder, offenceOfReject(reason))
}

export interface TopicInit<T> {
  pubsub: PubSubHost
  topic: string
  /** Label used in metrics (topics may carry a region; labels stay bounded). */
  metricTopic: string
  /** Decode + verify; throw a named error to reject. Return undefined to ignore (e.g. stale). */
  decode: (data: Uint8Array, from: string) => Promise<T | undefined>
  onMessage: (value: T, from: string) => void
  registry?: Registry
  logger: Logger
}

export class VerifiedTopic<T> {
  private readonly decoded = new WeakMap<Message, T>()
  private readonly counter: Counter<'topic' | 'result'>
  private started = false

  constructor (private readonly init: TopicInit<T>) {
    this.counter = gossipCounter(init.registry)
    this.onMessage = this.onMessage.bind(this)
  }

  start (): void {
    if (this.started) return
    this.started = true
    const { pubsub, topic } = this.init
    pubsub.topicValidators.set(topic, async (peer, msg) => await this.validate(msg, peer.toString()))
    pubsub.addEventListener('message', this.onMessage)
    pubsub.subscribe(topic)
  }

  stop (): void {
    if (!this.started) return
    this.started = false
    const { pubsub, topic } = this.init
    pubsub.removeEventListener('message', this.onMessage)
    pubsub.topicValidators.delete(topic)
    try { pubsub.unsubscribe(topic) } catch { /* pubsub already stopped */ }
  }

  /** Publish; resolves with how many peers it was sent to (0: nobody subscribed is connected yet). */
  async publish (data: Uint8Array): Promise<number> {
    return (await this.init.pubsub.publish(this.init.topic, data)).recipients.length
  }

  private async validate (msg: Message, forwarder: string): Promise<TopicValidatorResult> {
    const label = this.init.metricTopic
    if (msg.type !== 'signed') {
      this.counter.inc({ topic: label, result: 'unsigned' })
      recordRejected(this.init.registry, msg, forwarder, 'unsigned')
      return TopicValidatorResult.Reject
    }
    try {
      const value = await this.init.decode(msg.data, msg.from.toString())
      if (value === undefined) {
        this.counter.inc({ topic: label, result: 'ignored' })
        return TopicValidatorResult.Ignore
      }
      this.decoded.set(msg, value)
      this.counter.inc({ topic: label, result: 'accepted' })
      return TopicValidatorResult.Accept
    } catch (err) {
      const reason = rejectReason(err)
      this.counter.inc({ topic: label, result: reason })
      recordRejected(this.init.registry, msg, forwarder, reason)
      this.init.logger.debug({ err: (err as Error).message, from: msg.from.toString(), topic: this.init.topic }, 'gossip message rejected')
      return TopicValidatorResult.Reject
    }
  }

  private onMessage (evt: CustomEvent<Message>): void {
    const msg = evt.detail
    if (msg.topic !== this.init.topic || msg.type !== 'signed') return
    const value = this.decoded.get(msg)
    if (value === undefined) return
    this.decoded.delete(msg)
    try {
      this.init.onMessage(value, msg.from.toString())
    } catch (err) {
      this.init.logger.warn({ err }, 'gossip handler failed')
    }
  }
}
