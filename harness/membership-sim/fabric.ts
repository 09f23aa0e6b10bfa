/**
 * The simulated network under the membership simulator: connections between
 * nodes and the request/response frames of wire/rpc.ts, carried by the
 * shared seeded network (harness/sim) on one virtual clock.
 *
 * What it models, and why that much:
 *  - a frame (a probe, an ack, a push-pull body) arrives after a latency
 *    drawn per frame, or is lost with the configured probability. Membership
 *    runs over TCP, where loss shows up as a frame arriving too late; a lost
 *    frame is the worst case of that (the exchange times out);
 *  - a dial takes a handshake (HANDSHAKE_TRIPS one-way latencies: TCP, Noise
 *    XX, multistream) and then both ends see `peer:connect`;
 *  - two ways to die: `crash` (the process is gone, its host answers) closes
 *    its connections, so peers see `peer:disconnect`, their open exchanges
 *    fail and dials are refused (ECONNREFUSED); `silence` (host lost or cut
 *    off) keeps connections open on the far side and swallows every frame,
 *    so only timeouts tell.
 * Every frame is counted per node, sent and received, with its bytes: the
 * membership payload plus its varint length prefix, exactly what rpc.ts
 * writes on a stream. Noise, yamux and multistream bytes are not counted.
 */
import { SimNetwork } from '../sim/network.js'
import type { VirtualClock } from '../sim/clock.js'
import type { RequestHandler } from '../../wire/rpc.js'

/** One-way trips a new connection costs before it carries frames (TCP SYN/SYN-ACK, Noise XX, multistream). */
const HANDSHAKE_TRIPS = 4

export type Frame =
  | { t: 'req', id: number, protocol: string, body: Uint8Array }
  | { t: 'res', id: number, protocol: string, body: Uint8Array }
  /** The responder closed without a response, or reset the stream (handler error, no handler). */
  | { t: 'end', id: number, protocol: string, error?: string }

export interface FabricInit {
  clock: VirtualClock
  rand: () => number
  /** One-way latency of a frame, virtual ms, uniform in [min, max]. */
  latencyMs: readonly [number, number]
  /** Probability that a frame is lost. */
  loss: number
}

export type NodeState = 'up' | 'crashed' | 'silent'

/** Frames and bytes one node sent and received (membership payload + length prefix). */
export interface Traffic { sentMsgs: number, sentBytes: number, recvMsgs: number, recvBytes: number }

export interface Endpoint {
  handlers: Map<string, { handler: RequestHandler, maxBytes: number, onError: (err: unknown, from: string) => void }>
  /** Outstanding requests this node made, by id. */
  pending: Map<number, { to: string, resolve: (b: Uint8Array) => void, reject: (e: Error) => void }>
  onConnect: (peer: string, outbound: boolean) => void
  onDisconnect: (peer: string) => void
  /** The remote peer as the handler's connection shows it. */
  connectionFrom: (peer: string) => Parameters<RequestHandler>[1]
}

export class Fabric {
  readonly net: SimNetwork<Frame>
  readonly clock: VirtualClock
  private readonly endpoints = new Map<string, Endpoint>()
  private readonly state = new Map<string, NodeState>()
  private readonly links = new Map<string, Map<string, 'inbound' | 'outbound'>>()
  readonly traffic = new Map<string, Traffic>()
  /** Frames and bytes sent, over all nodes, by protocol and direction of the exchange. */
  readonly byProtocol = new Map<string, { requests: number, requestBytes: number, responses: number, responseBytes: number }>()
  private nextId = 1

  constructor (private readonly init: FabricInit) {
    this.clock = init.clock
    this.net = new SimNetwork<Frame>({ clock: init.clock, rand: init.rand, faults: { drop: init.loss, latencyMs: init.latencyMs }, traceLimit: 0 })
  }

  add (id: string, endpoint: Endpoint): void {
    this.endpoints.set(id, endpoint)
    this.state.set(id, 'up')
    this.links.set(id, new Map())
    this.traffic.set(id, { sentMsgs: 0, sentBytes: 0, recvMsgs: 0, recvBytes: 0 })
    this.net.add(id, (from, frame) => this.arrive(from, id, frame))
  }

  stateOf (id: string): NodeState { return this.state.get(id) ?? 'crashed' }

  /** Peers `id` holds a connection to, with the direction it was opened in. */
  linksOf (id: string): ReadonlyMap<string, 'inbound' | 'outbound'> { return this.links.get(id) ?? new Map() }

  /** Open a connection from → to (joins an existing one). Rejects as libp2p does: refused, or aborted by `signal`. */
  async dial (from: string, to: string, signal?: AbortSignal): Promise<void> {
    if (this.links.get(from)?.has(to) === true) return
    signal?.throwIfAborted()
    const trips = this.oneWay()
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => { this.clock.clearTimeout(timer); reject(signal?.reason as Error) }
      const timer = this.clock.setTimeout(() => {
        const target = this.stateOf(to)
        if (this.stateOf(from) !== 'up') { signal?.removeEventListener('abort', onAbort); reject(new Error('dialer stopped')); return }
        // A silent host never answers: the dial waits for its deadline (the abort).
        if (target === 'silent') return
        signal?.removeEventListener('abort', onAbort)
        if (target === 'crashed') { reject(refused(to)); return }
        if (this.links.get(from)?.has(to) !== true) {
          this.links.get(from)?.set(to, 'outbound')
          this.links.get(to)?.set(from, 'inbound')
          this.endpoints.get(from)?.onConnect(to, true)
          this.endpoints.get(to)?.onConnect(from, false)
        }
        resolve()
      }, this.stateOf(to) === 'crashed' ? 2 * trips : HANDSHAKE_TRIPS * trips)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** One request frame out, one response frame back (wire/rpc.ts `request`), on the virtual clock. */
  async request (from: string, to: string, protocol: string, body: Uint8Array, timeoutMs: number, maxBytes: number, signal?: AbortSignal): Promise<Uint8Array> {
    await this.dial(from, to, signal)
    signal?.throwIfAborted()
    const ep = this.endpoints.get(from) as Endpoint
    const id = this.nextId++
    return await new Promise<Uint8Array>((resolve, reject) => {
      const done = (): void => {
        this.clock.clearTimeout(timer)
        signal?.removeEventListener('abort', onAbort)
        ep.pending.delete(id)
      }
      const onAbort = (): void => { done(); reject(signal?.reason as Error) }
      const timer = this.clock.setTimeout(() => { done(); reject(new DOMException(`${protocol} timed out after ${timeoutMs} ms`, 'TimeoutError')) }, timeoutMs)
      signal?.addEventListener('abort', onAbort, { once: true })
      ep.pending.set(id, {
        to,
        resolve: (b) => {
          done()
          if (b.byteLength > maxBytes) reject(Object.assign(new Error(`response of ${b.byteLength} bytes over ${maxBytes}`), { name: 'OversizedMessageError' }))
          else resolve(b)
        },
        reject: (e) => { done(); reject(e) }
      })
      this.send(from, to, { t: 'req', id, protocol, body })
    })
  }

  /** The process dies: connections close (peers hear it after a latency), in-flight exchanges fail, dials are refused. */
  crash (id: string): void {
    this.state.set(id, 'crashed')
    this.net.crash(id)
    for (const peer of [...this.linksOf(id).keys()]) {
      this.links.get(id)?.delete(peer)
      this.clock.setTimeout(() => { this.disconnect(peer, id) }, this.oneWay())
    }
  }

  /** The host goes quiet: nothing it sends or is sent arrives; its peers' connections stay open. */
  silence (id: string): void {
    this.state.set(id, 'silent')
    this.net.setNodeFaults(id, { dropIn: 1, dropOut: 1 })
    // Its own timers die with it (a powered-off host runs nothing).
    this.net.clockOf(id).cancelAll()
  }

  private disconnect (at: string, peer: string): void {
    if (this.links.get(at)?.delete(peer) !== true) return
    const ep = this.endpoints.get(at)
    if (ep === undefined) return
    // Streams on a closed connection are reset at once.
    for (const p of ep.pending.values()) {
      if (p.to === peer) p.reject(Object.assign(new Error(`connection to ${peer} closed`), { name: 'StreamResetError' }))
    }
    ep.onDisconnect(peer)
  }

  private send (from: string, to: string, frame: Frame): void {
    const size = frameBytes(frame)
    const t = this.traffic.get(from)
    if (t !== undefined && size > 0) { t.sentMsgs++; t.sentBytes += size }
    if (size > 0) {
      let p = this.byProtocol.get(frame.protocol)
      if (p === undefined) { p = { requests: 0, requestBytes: 0, responses: 0, responseBytes: 0 }; this.byProtocol.set(frame.protocol, p) }
      if (frame.t === 'req') { p.requests++; p.requestBytes += size } else { p.responses++; p.responseBytes += size }
    }
    if (!this.net.send(from, to, frame)) {
      // The receiver's process is gone: the stream resets (the far end closed its connection).
      if (frame.t === 'req') this.clock.setTimeout(() => { this.endpoints.get(from)?.pending.get(frame.id)?.reject(refused(to)) }, this.oneWay())
    }
  }

  private arrive (from: string, at: string, frame: Frame): unknown {
    if (this.stateOf(at) !== 'up') return undefined
    const size = frameBytes(frame)
    const t = this.traffic.get(at)
    if (t !== undefined && size > 0) { t.recvMsgs++; t.recvBytes += size }
    const ep = this.endpoints.get(at) as Endpoint
    if (frame.t === 'res') { ep.pending.get(frame.id)?.resolve(frame.body); return undefined }
    if (frame.t === 'end') {
      ep.pending.get(frame.id)?.reject(Object.assign(new Error(frame.error ?? `${from} closed without a response`), { name: frame.error !== undefined ? 'StreamResetError' : 'UnexpectedEOFError' }))
      return undefined
    }
    // Served apart from the clock's loop: a handler may wait for later
    // events (a probe request pings its target), which the clock must go on firing.
    void this.serve(from, at, ep, frame)
    return undefined
  }

  private async serve (from: string, at: string, ep: Endpoint, req: Extract<Frame, { t: 'req' }>): Promise<void> {
    const h = ep.handlers.get(req.protocol)
    if (h === undefined) { this.send(at, from, { t: 'end', id: req.id, protocol: req.protocol, error: `${req.protocol} not handled` }); return }
    let replied = false
    try {
      if (req.body.byteLength > h.maxBytes) throw Object.assign(new Error(`request of ${req.body.byteLength} bytes over ${h.maxBytes}`), { name: 'OversizedMessageError' })
      await h.handler(req.body, ep.connectionFrom(from), async (frame) => {
        replied = true
        if (this.stateOf(at) === 'up') this.send(at, from, { t: 'res', id: req.id, protocol: req.protocol, body: frame })
      })
      if (!replied && this.stateOf(at) === 'up') this.send(at, from, { t: 'end', id: req.id, protocol: req.protocol })
    } catch (err) {
      // As handleRequests does: the stream is reset and the error counted, never thrown further.
      if (this.stateOf(at) === 'up') this.send(at, from, { t: 'end', id: req.id, protocol: req.protocol, error: (err as Error).message })
      h.onError(err, from)
    }
  }

  private oneWay (): number {
    const [min, max] = this.init.latencyMs
    return max > min ? min + this.init.rand() * (max - min) : min
  }
}

/** Payload bytes plus the varint length prefix rpc.ts puts before each frame; control frames carry none. */
function frameBytes (frame: Frame): number {
  if (frame.t === 'end') return 0
  const n = frame.body.byteLength
  let prefix = 1
  for (let v = n; v >= 0x80; v = Math.floor(v / 0x80)) prefix++
  return n + prefix
}

function refused (to: string): Error {
  return Object.assign(new Error(`connect ECONNREFUSED (${to})`), { name: 'DialError', code: 'ECONNREFUSED' })
}
