/**
 * Gossip from a peer the admission policy cut off is dropped by every node,
 * whoever relays it: gossipsub messages are signed by their origin (StrictSign),
 * so `msg.from` is the author even when an admitted friend forwards them.
 * Installed once on the node's gossipsub: every topic validator, those
 * registered later included, first checks the origin. The verdict is Ignore,
 * not Reject: the relaying peer may simply not have applied the revocation
 * yet, and Reject would cost an honest relayer its gossip score.
 */
import type { Message, TopicValidatorFn } from '@libp2p/gossipsub'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { PeerId } from '@libp2p/interface'

/** The topic validator map of gossipsub (its own Map, read by gossipsub on every message). */
export interface ValidatorHost { topicValidators: Map<string, TopicValidatorFn> }

/**
 * Make every validator of `pubsub` (present and future) ignore messages whose
 * signed origin `refuses`. `onDropped` counts each drop. Returns the uninstall function.
 */
export function guardGossipOrigins (pubsub: ValidatorHost, refuses: (origin: string) => boolean, onDropped?: (topic: string, origin: string) => void): () => void {
  const original = pubsub.topicValidators
  const guard = (fn: TopicValidatorFn): TopicValidatorFn => async (peer: PeerId, msg: Message) => {
    if (msg.type === 'signed') {
      const origin = msg.from.toString()
      if (refuses(origin)) {
        onDropped?.(msg.topic, origin)
        return TopicValidatorResult.Ignore
      }
    }
    return await fn(peer, msg)
  }
  const guarded = new GuardedMap(guard)
  for (const [topic, fn] of original) guarded.set(topic, fn)
  pubsub.topicValidators = guarded
  return () => {
    const plain = new Map<string, TopicValidatorFn>()
    for (const [topic, fn] of guarded.unguarded()) plain.set(topic, fn)
    pubsub.topicValidators = plain
  }
}

/** A Map whose set() wraps the validator; get() returns the wrapped one (what gossipsub calls). */
class GuardedMap extends Map<string, TopicValidatorFn> {
  private readonly plain = new Map<string, TopicValidatorFn>()
  constructor (private readonly guard: (fn: TopicValidatorFn) => TopicValidatorFn) { super() }
  override set (topic: string, fn: TopicValidatorFn): this {
    this.plain.set(topic, fn)
    return super.set(topic, this.guard(fn))
  }

  override delete (topic: string): boolean {
    this.plain.delete(topic)
    return super.delete(topic)
  }

  unguarded (): Map<string, TopicValidatorFn> { return this.plain }
}
