/**
 * In-memory stand-ins for the network interfaces components take (wire/rpc.ts
 * `RpcHost`, wire/topic.ts `PubSubHost`), so a protocol's unit test runs
 * without a libp2p node, sockets or handshakes.
 *
 * - Streams are real libp2p stream objects (`streamPair` of @libp2p/utils:
 *   two ends over an in-memory muxer), so framing, size limits, backpressure,
 *   close and abort behave as over yamux.
 * - Gossip floods: a publication goes to every connected host subscribed to
 *   the topic; each runs its topic validator first and passes an accepted
 *   message on to its own connected subscribers (each host handles a message
 *   once). No mesh, no scores: what a component sees is the validator call
 *   and the `message` event, as with gossipsub.
 * - A dial connects the two hosts (as libp2p does for a peer whose address
 *   it knows); `stop()` drops the host's connections and aborts its streams.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { streamPair } from '@libp2p/utils'
import { TopicValidatorResult, type Message, type PublishResult, type SignedMessage, type TopicValidatorFn } from '@libp2p/gossipsub'
import { isPeerId, type Connection, type PeerId, type Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { RpcHost } from '../../wire/rpc.js'
import type { PubSubHost } from '../../wire/topic.js'

type StreamHandler = Parameters<RpcHost['handle']>[1]

/** Hosts that can reach each other; one per test. */
export class MemoryNetwork {
  private readonly hosts = new Map<string, MemoryHost>()

  /** A running host for `peerId` (a stopped one with the same id may be replaced: a restart). */
  host (peerId: string): MemoryHost {
    if (this.hosts.get(peerId)?.running === true) throw new Error(`a host ${peerId} already runs on this network`)
    const host = new MemoryHost(this, peerIdFromString(peerId))
    this.hosts.set(peerId, host)
    return host
  }

  /** The running host with this id, if any. */
  find (peerId: string): MemoryHost | undefined {
    const h = this.hosts.get(peerId)
    return h?.running === true ? h : undefined
  }
}

export class MemoryHost implements RpcHost {
  readonly pubsub: MemoryPubSub
  running = true
  private readonly handlers = new Map<string, StreamHandler>()
  private readonly connected = new Set<string>()
  private readonly streams = new Set<Stream>()

  constructor (private readonly net: MemoryNetwork, readonly peerId: PeerId) {
    this.pubsub = new MemoryPubSub(this)
  }

  get id (): string { return this.peerId.toString() }

  /** Open a connection to `other` (both ways); idempotent. */
  connect (other: MemoryHost): void {
    if (!this.running || !other.running) throw new DialError(`cannot connect ${this.id} and ${other.id}: not both running`)
    if (other === this) return
    this.connected.add(other.id)
    other.connected.add(this.id)
  }

  /** Running hosts this one holds a connection to. */
  peers (): MemoryHost[] {
    return [...this.connected].map(id => this.net.find(id)).filter((h): h is MemoryHost => h !== undefined)
  }

  async handle (protocol: string, handler: StreamHandler): Promise<void> {
    if (this.handlers.has(protocol)) throw new Error(`${protocol} is already handled`)
    this.handlers.set(protocol, handler)
  }

  async unhandle (protocol: string): Promise<void> {
    this.handlers.delete(protocol)
  }

  async dialProtocol (peer: PeerId | Multiaddr | Multiaddr[], protocols: string | string[], options?: { signal?: AbortSignal }): Promise<Stream> {
    options?.signal?.throwIfAborted()
    if (!this.running) throw new DialError(`${this.id} is stopped`)
    if (!isPeerId(peer)) throw new DialError('the memory network dials by peer id only')
    const target = this.net.find(peer.toString())
    if (target === undefined) throw new DialError(`${peer.toString()} is not on the network`)
    this.connect(target)
    const protocol = [protocols].flat().find(p => target.handlers.has(p))
    if (protocol === undefined) throw new UnsupportedProtocolError(`${target.id} does not handle ${[protocols].flat().join(', ')}`)
    const [outbound, inbound] = await streamPair({ protocol })
    this.track(outbound)
    target.track(inbound)
    // wire/rpc.ts reads only the remote peer of a connection.
    const connection = { remotePeer: this.peerId, direction: 'inbound' } as unknown as Connection
    void Promise.resolve(target.handlers.get(protocol)?.(inbound, connection)).catch(err => { inbound.abort(err as Error) })
    return outbound
  }

  /** Like libp2p's stop: connections close, open streams are aborted, nothing is handled any more. */
  stop (): void {
    if (!this.running) return
    this.running = false
    for (const s of this.streams) s.abort(new Error('host stopped'))
    this.streams.clear()
    this.handlers.clear()
    for (const h of this.peers()) h.connected.delete(this.id)
    this.connected.clear()
  }

  private track (stream: Stream): void {
    this.streams.add(stream)
    stream.addEventListener('close', () => { this.streams.delete(stream) })
  }
}

export class MemoryPubSub implements PubSubHost {
  readonly topicValidators = new Map<string, TopicValidatorFn>()
  private readonly topics = new Set<string>()
  private readonly listeners = new Set<(evt: CustomEvent<Message>) => void>()
  /** Messages this host has handled (origin + sequence number): each is validated and passed on once. */
  private readonly seen = new Set<string>()
  private seq = 0n

  constructor (private readonly host: MemoryHost) {}

  subscribe (topic: string): void { this.topics.add(topic) }
  unsubscribe (topic: string): void { this.topics.delete(topic) }
  subscribed (topic: string): boolean { return this.topics.has(topic) }

  /** Connected hosts subscribed to `topic`. */
  getSubscribers (topic: string): PeerId[] {
    return this.host.peers().filter(h => h.pubsub.subscribed(topic)).map(h => h.peerId)
  }

  async publish (topic: string, data: Uint8Array): Promise<PublishResult> {
    const msg: SignedMessage = {
      type: 'signed',
      from: this.host.peerId,
      topic,
      data,
      sequenceNumber: ++this.seq,
      // Not checked by anyone here: the components verify what they carry.
      signature: new Uint8Array(0),
      key: this.host.peerId.publicKey as SignedMessage['key']
    }
    this.seen.add(messageId(msg))
    return { recipients: this.forward(msg) }
  }

  addEventListener (_type: 'message', listener: (evt: CustomEvent<Message>) => void): void { this.listeners.add(listener) }
  removeEventListener (_type: 'message', listener: (evt: CustomEvent<Message>) => void): void { this.listeners.delete(listener) }

  /** Send to every connected subscriber; delivery is asynchronous, as over a network. */
  private forward (msg: SignedMessage, except?: string): PeerId[] {
    const to = this.host.peers().filter(h => h.id !== except && h.pubsub.subscribed(msg.topic))
    for (const h of to) setImmediate(() => { void h.pubsub.receive(msg, this.host.peerId) })
    return to.map(h => h.peerId)
  }

  private async receive (msg: SignedMessage, from: PeerId): Promise<void> {
    const id = messageId(msg)
    if (!this.host.running || !this.topics.has(msg.topic) || this.seen.has(id)) return
    this.seen.add(id)
    const validate = this.topicValidators.get(msg.topic)
    const verdict = validate === undefined ? TopicValidatorResult.Accept : await validate(from, msg)
    if (verdict !== TopicValidatorResult.Accept || !this.host.running) return
    for (const l of this.listeners) l(new CustomEvent('message', { detail: msg }))
    this.forward(msg, from.toString())
  }
}

function messageId (msg: SignedMessage): string {
  return `${msg.from.toString()}:${msg.sequenceNumber}`
}

export class DialError extends Error {
  static name = 'DialError'
  override name = 'DialError'
}

export class UnsupportedProtocolError extends Error {
  static name = 'UnsupportedProtocolError'
  override name = 'UnsupportedProtocolError'
}
