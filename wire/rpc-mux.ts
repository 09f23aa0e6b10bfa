/**
 * A `RequestTransport` that keeps one long-lived stream per peer (a
 * "session") and sends each small request and its answer on it as two
 * frames (wire/rpc-mux-frame.ts), instead of opening a stream per request.
 *
 * Why: a stream per request is a yamux open and two closes, a
 * multistream-select negotiation and a peer-store rewrite of the peer's
 * protocol list on both ends, for a probe of a hundred bytes. Measured on
 * two of the daemon's nodes (docs/performance.md, "What a stream costs"):
 * 1,638 µs of CPU per request on a new stream against 163 µs as two frames
 * on one stream. SWIM probes are the steadiest traffic an idle agent has.
 *
 * What stays on a stream of its own: requests whose body or allowed answer
 * exceed `maxFrameBytes` (push-pull's full state: a 4 MiB answer must not
 * hold the probes behind it on a slow link), and every request to a peer
 * that does not speak the mux protocol (an older agent during a rolling
 * update of the core): it is asked again after `legacyRetryMs`. Every
 * protocol handled here is also handled on its own stream, so older agents
 * and large requests reach the same handler.
 *
 * A session is one-way: its opener sends requests, the other end answers.
 * It lives as long as its connection (yamux streams have no idle timeout);
 * when it closes, requests waiting on it fail and the next request opens a
 * new one.
 */
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { UnsupportedProtocolError } from '@libp2p/interface'
import { LengthPrefixedDecoder } from '@libp2p/utils'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import { metricsOn } from '../lib/metrics.js'
import { OversizedMessageError, rejectReason } from './errors.js'
import { mapSizeError, streamTransport, type HandleOptions, type RequestHandler, type RequestOptions, type RequestTransport, type RpcHost } from './rpc.js'
import { decodeFrame, FRAME_ERROR, FRAME_REQUEST, FRAME_RESPONSE, muxErrorName, MuxErrorCode, requestOverhead, RESPONSE_OVERHEAD, type MuxErrorName, type MuxFrame } from './rpc-mux-frame.js'
import { drained, frames, OutboundSession, RemoteRequestError, send, SessionClosedError, TimeoutError, UnexpectedFrameError, writable } from './rpc-mux-session.js'

export { RemoteRequestError, SessionClosedError } from './rpc-mux-session.js'

export const RPC_MUX_PROTOCOL = '/mycel/rpc-mux/1.0.0'

export interface MuxTransportInit {
  /**
   * Largest frame on a session, bytes. A request whose body or allowed answer
   * (its `maxBytes`) does not fit goes on a stream of its own, so no large
   * transfer holds small ones behind it. 64 KiB: a probe with its piggybacked
   * updates (membership's maxProbeBytes).
   */
  maxFrameBytes: number
  /** Sessions one connection may open to us at once, count (one is normal; more only in a reconnect race). */
  maxInboundSessions: number
  /** How long a peer that did not speak the mux protocol gets a stream per request before we ask again, ms. */
  legacyRetryMs: number
  /** How long opening a session may take, ms (the connection usually exists: it is a stream open). */
  openTimeoutMs: number
}

export const RPC_MUX_DEFAULTS: MuxTransportInit = {
  maxFrameBytes: 64 * 1024 + 512,
  maxInboundSessions: 4,
  legacyRetryMs: 60_000,
  openTimeoutMs: 10_000
}

/** The mux's metrics: sessions each way, peers on a stream per request, and every request's outcome. */
function muxMetrics (registry?: Registry) {
  const m = metricsOn(registry)
  return {
    sessions: m.gauge({ name: 'mycel_rpc_mux_sessions', help: 'Open request-mux sessions, by direction (outbound: ours, inbound: peers\' to us)', labelNames: ['direction'] as const }),
    legacyPeers: m.gauge({ name: 'mycel_rpc_mux_legacy_peers', help: 'Peers that do not speak the request mux and get a stream per request (older releases)' }),
    requests: m.counter({
      name: 'mycel_rpc_mux_requests_total',
      help: 'Requests on request-mux sessions, by role (requester, responder) and result (ok, timeout, closed, unsupported, busy, failed, no_response, oversized, ...)',
      labelNames: ['role', 'result'] as const
    }),
    broken: m.counter({ name: 'mycel_rpc_mux_broken_sessions_total', help: 'Sessions closed for a malformed, oversized or out-of-place frame, by reason', labelNames: ['reason'] as const })
  }
}

type MuxMetrics = ReturnType<typeof muxMetrics>

const RESULT: Record<MuxErrorName, string> = { unsupported: 'unsupported', busy: 'busy', failed: 'failed', timeout: 'timeout', noResponse: 'no_response', oversized: 'oversized' }

export interface MuxTransportComponents {
  logger?: Logger
  registry?: Registry
}

export class MuxTransport implements RequestTransport {
  private readonly cfg: MuxTransportInit
  private readonly streams: RequestTransport
  private readonly handlers = new Map<string, { handler: RequestHandler, opts: HandleOptions }>()
  private readonly sessions = new Map<string, OutboundSession | Promise<OutboundSession | undefined>>()
  private readonly inbound = new Set<Stream>()
  /** Peers that do not speak the mux protocol, until when (ms since epoch). */
  private readonly legacy = new Map<string, number>()
  private serving = false
  /** Handlers running per connection and protocol. */
  private readonly running = new WeakMap<Connection, Map<string, number>>()
  /** Aborted by close(), then replaced: a transport closed and used again opens new sessions. */
  private shutdown = new AbortController()

  private readonly log?: Logger
  private readonly metrics: MuxMetrics

  constructor (private readonly host: RpcHost, init: Partial<MuxTransportInit> = {}, components: MuxTransportComponents = {}) {
    this.cfg = { ...RPC_MUX_DEFAULTS, ...init }
    this.streams = streamTransport(host)
    this.log = components.logger
    this.metrics = muxMetrics(components.registry)
  }

  async handle (protocol: string, handler: RequestHandler, opts: HandleOptions): Promise<void> {
    await this.streams.handle(protocol, handler, opts)
    this.handlers.set(protocol, { handler, opts })
    if (!this.serving) {
      this.serving = true
      await this.host.handle(RPC_MUX_PROTOCOL, (stream, connection) => { this.serve(stream, connection) }, {
        maxInboundStreams: this.cfg.maxInboundSessions,
        maxOutboundStreams: this.cfg.maxInboundSessions
      })
    }
  }

  async unhandle (protocol: string): Promise<void> {
    this.handlers.delete(protocol)
    await this.streams.unhandle(protocol)
    if (this.handlers.size === 0 && this.serving) {
      this.serving = false
      await this.host.unhandle(RPC_MUX_PROTOCOL)
      for (const s of this.inbound) s.abort(new SessionClosedError('no longer serving requests'))
    }
  }

  async request (peer: PeerId, protocol: string, body: Uint8Array, opts: RequestOptions): Promise<Uint8Array> {
    if (opts.maxBytes + RESPONSE_OVERHEAD > this.cfg.maxFrameBytes || body.byteLength + requestOverhead(protocol) > this.cfg.maxFrameBytes) {
      return await this.streams.request(peer, protocol, body, opts)
    }
    // One deadline for the whole exchange, opening the session included (as a stream per request has).
    const deadline = Date.now() + opts.timeoutMs
    const left = (): RequestOptions => ({ ...opts, timeoutMs: Math.max(1, deadline - Date.now()) })
    // A session whose stream was reset while it opened, or before this
    // request got to it (a refusal, a lost connection): one more open.
    let session: OutboundSession | undefined
    try {
      session = await this.session(peer, opts)
      if (session?.closed === true) throw new SessionClosedError('closed before its first request')
    } catch (err) {
      if (!(err instanceof SessionClosedError)) throw err
      session = await this.session(peer, left())
    }
    if (session === undefined) return await this.streams.request(peer, protocol, body, left())
    try {
      const answer = await session.request(protocol, body, left())
      this.metrics.requests.inc({ role: 'requester', result: 'ok' })
      return answer
    } catch (err) {
      this.metrics.requests.inc({ role: 'requester', result: requesterResult(err) })
      throw err
    }
  }

  /** Close every session, both ways; requests waiting on them fail. */
  async close (): Promise<void> {
    this.shutdown.abort()
    this.shutdown = new AbortController()
    for (const s of this.sessions.values()) if (s instanceof OutboundSession) s.close()
    this.sessions.clear()
    for (const s of this.inbound) s.abort(new SessionClosedError('transport closed'))
    this.inbound.clear()
  }

  /** The open session to `peer`, one being opened, or undefined when the peer does not speak the mux protocol. */
  private async session (peer: PeerId, opts: RequestOptions): Promise<OutboundSession | undefined> {
    const key = peer.toString()
    const until = this.legacy.get(key)
    if (until !== undefined) {
      if (Date.now() < until) return undefined
      this.legacy.delete(key)
      this.metrics.legacyPeers.set(this.legacy.size)
    }
    let s = this.sessions.get(key)
    if (s instanceof OutboundSession && s.closed) {
      this.sessions.delete(key)
      s = undefined
    }
    if (s === undefined) {
      const opening = this.open(peer, key)
      this.sessions.set(key, opening)
      // The map entry follows the open, unless close() or a newer open replaced it meanwhile.
      opening.then(
        (session) => { if (this.sessions.get(key) === opening) { if (session === undefined) this.sessions.delete(key); else this.sessions.set(key, session) } },
        () => { if (this.sessions.get(key) === opening) this.sessions.delete(key) }
      )
      s = opening
    }
    if (s instanceof OutboundSession) return s
    // Each waiter gives up on its own deadline; the open goes on for the others.
    const signal = opts.signal === undefined ? AbortSignal.timeout(opts.timeoutMs) : AbortSignal.any([opts.signal, AbortSignal.timeout(opts.timeoutMs)])
    signal.throwIfAborted()
    return await new Promise<OutboundSession | undefined>((resolve, reject) => {
      const onAbort = (): void => { reject(signal.reason) }
      signal.addEventListener('abort', onAbort, { once: true });
      (s as Promise<OutboundSession | undefined>).then(resolve, reject).finally(() => { signal.removeEventListener('abort', onAbort) })
    })
  }

  private async open (peer: PeerId, key: string): Promise<OutboundSession | undefined> {
    const closed = this.shutdown.signal
    const signal = AbortSignal.any([closed, AbortSignal.timeout(this.cfg.openTimeoutMs)])
    let stream: Stream
    try {
      stream = await this.host.dialProtocol(peer, RPC_MUX_PROTOCOL, { signal })
    } catch (err) {
      if ((err as Error)?.name === UnsupportedProtocolError.name) {
        const now = Date.now()
        for (const [k, until] of this.legacy) if (until <= now) this.legacy.delete(k)
        this.legacy.set(key, now + this.cfg.legacyRetryMs)
        this.metrics.legacyPeers.set(this.legacy.size)
        this.log?.debug({ peer: key }, 'peer does not speak the request mux; a stream per request')
        return undefined
      }
      throw err
    }
    if (closed.aborted) {
      stream.abort(new SessionClosedError('transport closed'))
      throw new SessionClosedError('transport closed')
    }
    // libp2p hands the stream over after the peer store and the stream
    // middleware (the admission gate may hold it): it can be closed already,
    // and its close event gone before anyone listened.
    if (!writable(stream)) {
      stream.abort(new SessionClosedError('closed while it opened'))
      throw new SessionClosedError(`request-mux session to ${key} closed while it opened`)
    }
    this.metrics.sessions.inc({ direction: 'outbound' })
    const session = new OutboundSession(stream, this.cfg.maxFrameBytes, (err) => {
      this.metrics.sessions.dec({ direction: 'outbound' })
      if (err !== undefined) this.metrics.broken.inc({ reason: brokenReason(err) })
      if (this.sessions.get(key) === session) this.sessions.delete(key)
    })
    return session
  }

  /** Answer the requests of one inbound session until it closes. */
  private serve (stream: Stream, connection: Connection): void {
    // Closed while the admission gate held it: its close event has fired already.
    if (!writable(stream)) {
      if (stream.status === 'open') stream.abort(new SessionClosedError('half-closed before it was served'))
      return
    }
    this.inbound.add(stream)
    this.metrics.sessions.inc({ direction: 'inbound' })
    // What a paused session may hold unread before libp2p resets it (default 4 MiB).
    stream.maxReadBufferLength = 4 * this.cfg.maxFrameBytes
    const decoder = new LengthPrefixedDecoder({ maxDataLength: this.cfg.maxFrameBytes, maxBufferSize: 2 * this.cfg.maxFrameBytes + 16 })
    const maxQueued = 4 * this.cfg.maxFrameBytes
    // The per-protocol limit holds per connection, as libp2p's maxInboundStreams
    // does, however many sessions the peer opens on it.
    let running = this.running.get(connection)
    if (running === undefined) { running = new Map(); this.running.set(connection, running) }
    const peer = connection.remotePeer.toString()
    const broken = (err: unknown): void => {
      this.log?.debug({ peer, err: (err as Error)?.message }, 'request mux session broken; closed')
      this.metrics.broken.inc({ reason: brokenReason(err) })
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
    stream.addEventListener('message', (evt) => {
      try {
        for (const bytes of frames(decoder, evt.data, this.cfg.maxFrameBytes)) {
          const frame = decodeFrame(bytes.subarray())
          if (frame.kind !== FRAME_REQUEST) throw new UnexpectedFrameError(`a ${frame.kind === FRAME_RESPONSE ? 'response' : 'error'} frame from the requesting end`)
          this.dispatch(stream, connection, frame, running)
        }
      } catch (err) {
        broken(mapSizeError(err))
        return
      }
      // A requester that sends faster than it reads our answers is not read
      // until they drain (libp2p resets the stream if it then overfills our
      // read buffer); one that still piles up answers loses its session.
      if (stream.writeBufferLength > maxQueued) broken(new OversizedMessageError(`requester left ${stream.writeBufferLength} bytes of answers unread`))
      else if (stream.writableNeedsDrain && stream.readStatus === 'readable') {
        stream.pause()
        stream.addEventListener('drain', () => { if (stream.readStatus === 'paused') stream.resume() }, { once: true })
      }
    })
    stream.addEventListener('remoteCloseWrite', () => { stream.close().catch(() => {}) })
    stream.addEventListener('close', () => {
      this.inbound.delete(stream)
      this.metrics.sessions.dec({ direction: 'inbound' })
    })
  }

  /** Answer a request with an error frame before any handler runs. */
  private refuse (stream: Stream, id: number, reason: MuxErrorName): void {
    send(stream, { kind: FRAME_ERROR, id, code: MuxErrorCode[reason] })
    this.metrics.requests.inc({ role: 'responder', result: RESULT[reason] })
  }

  private dispatch (stream: Stream, connection: Connection, frame: Extract<MuxFrame, { kind: typeof FRAME_REQUEST }>, running: Map<string, number>): void {
    const { id, protocol, body } = frame
    const entry = this.handlers.get(protocol)
    if (entry === undefined) { this.refuse(stream, id, 'unsupported'); return }
    const { handler, opts } = entry
    if (body.byteLength > opts.maxBytes) {
      this.refuse(stream, id, 'oversized')
      opts.onError(new OversizedMessageError(`${protocol}: request of ${body.byteLength} bytes exceeds ${opts.maxBytes}`), connection)
      return
    }
    const n = running.get(protocol) ?? 0
    if (n >= (opts.maxInboundStreams ?? 32)) { this.refuse(stream, id, 'busy'); return }
    running.set(protocol, n + 1)
    let answered = false
    const answer = (f: MuxFrame): boolean => {
      if (answered) return false
      answered = true
      clearTimeout(timer)
      send(stream, f)
      this.metrics.requests.inc({ role: 'responder', result: f.kind === FRAME_ERROR ? RESULT[muxErrorName(f.code)] : 'ok' })
      return true
    }
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      if (answer({ kind: FRAME_ERROR, id, code: MuxErrorCode.timeout })) opts.onError(new TimeoutError(`${protocol}: no answer within ${opts.timeoutMs} ms`), connection)
    }, opts.timeoutMs)
    const reply = async (out: Uint8Array): Promise<void> => {
      if (answered) throw new LateAnswerError(`${protocol}: a mux request gets one answer, within ${opts.timeoutMs} ms`)
      if (out.byteLength + RESPONSE_OVERHEAD > this.cfg.maxFrameBytes) {
        answer({ kind: FRAME_ERROR, id, code: MuxErrorCode.oversized })
        throw new OversizedMessageError(`${protocol}: answer of ${out.byteLength} bytes does not fit a mux frame`)
      }
      answer({ kind: FRAME_RESPONSE, id, body: out })
      await drained(stream, opts.timeoutMs)
    }
    Promise.resolve().then(async () => { await handler(body, connection, reply) }).then(
      () => { answer({ kind: FRAME_ERROR, id, code: MuxErrorCode.noResponse }) },
      (err) => {
        answer({ kind: FRAME_ERROR, id, code: MuxErrorCode.failed })
        // A late answer's request was already reported as timed out.
        if (!(err instanceof LateAnswerError && timedOut)) opts.onError(err, connection)
      }
    ).finally(() => {
      const left = (running.get(protocol) ?? 1) - 1
      if (left === 0) running.delete(protocol)
      else running.set(protocol, left)
    })
  }
}

/** The metric label of a broken session. */
function brokenReason (err: unknown): string {
  return (err as Error)?.name === 'UnexpectedFrameError' ? 'unexpected_frame' : rejectReason(err)
}

/** The requester's metric label for a failed request. */
function requesterResult (err: unknown): string {
  if (err instanceof RemoteRequestError) return RESULT[err.reason]
  const name = (err as Error)?.name
  if (name === 'UnsupportedProtocolError') return 'unsupported'
  if (name === 'SessionClosedError') return 'closed'
  return rejectReason(err)
}

/** The handler answered twice, or after its request timed out. */
class LateAnswerError extends Error {
  static name = 'LateAnswerError'
  override name = 'LateAnswerError'
}
