/**
 * Request/response over a libp2p stream: one length-prefixed request, zero or
 * more length-prefixed responses, then close. Used by every stream protocol
 * (probe, push-pull, anti-entropy, BFT catch-up) so framing, size limits and
 * timeouts live in one place.
 */
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { lpStream } from '@libp2p/utils'
import { OversizedMessageError } from './errors.js'

/**
 * The slice of a libp2p node the RPC helpers need: a requester dials, a
 * server handles (each helper takes only its half). The libp2p node is one;
 * a unit test passes an in-memory fake.
 */
export interface RpcHost {
  dialProtocol: (peer: PeerId | Multiaddr | Multiaddr[], protocols: string | string[], options?: { signal?: AbortSignal }) => Promise<Stream>
  handle: (protocol: string, handler: (stream: Stream, connection: Connection) => void | Promise<void>, options?: { maxInboundStreams?: number, maxOutboundStreams?: number }) => Promise<void>
  unhandle: (protocol: string) => Promise<void>
}

export interface RequestOptions {
  /** Whole exchange deadline, milliseconds. */
  timeoutMs: number
  /** Largest frame accepted from the remote, bytes. */
  maxBytes: number
  signal?: AbortSignal
}

function deadline (timeoutMs: number, signal?: AbortSignal): AbortSignal {
  const t = AbortSignal.timeout(timeoutMs)
  return signal === undefined ? t : AbortSignal.any([t, signal])
}

/** Send one request frame and read exactly one response frame. */
export async function request (host: Pick<RpcHost, 'dialProtocol'>, peer: PeerId | Multiaddr, protocol: string, body: Uint8Array, opts: RequestOptions): Promise<Uint8Array> {
  const frames = await requestMany(host, peer, protocol, body, { ...opts, maxFrames: 1 })
  if (frames.length === 0) throw new Error(`${protocol}: peer closed without a response`)
  return frames[0]
}

/**
 * Send one request frame and read response frames until the remote closes
 * (or `maxFrames` arrive). Bounded batches with backpressure: the remote
 * writes as fast as we read.
 */
export async function requestMany (host: Pick<RpcHost, 'dialProtocol'>, peer: PeerId | Multiaddr, protocol: string, body: Uint8Array,
  opts: RequestOptions & { maxFrames: number, onFrame?: (frame: Uint8Array) => void | Promise<void> }): Promise<Uint8Array[]> {
  const signal = deadline(opts.timeoutMs, opts.signal)
  const stream = await host.dialProtocol(peer, protocol, { signal })
  const lp = lpStream(stream, { maxDataLength: opts.maxBytes })
  const out: Uint8Array[] = []
  try {
    await lp.write(body, { signal })
    while (out.length < opts.maxFrames) {
      let frame
      try {
        frame = await lp.read({ signal })
      } catch (err) {
        if (isEof(err)) break
        throw mapSizeError(err)
      }
      const bytes = frame.subarray()
      if (opts.onFrame !== undefined) await opts.onFrame(bytes)
      else out.push(bytes)
    }
    await stream.close({ signal }).catch(() => {})
    return out
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}

export type RequestHandler = (request: Uint8Array, connection: Connection, reply: (frame: Uint8Array) => Promise<void>) => Promise<void>

export interface HandleOptions {
  timeoutMs: number
  maxBytes: number
  maxInboundStreams?: number
  /** Called for any error the handler or framing raised; the stream is aborted. */
  onError: (err: unknown, connection: Connection) => void
}

/** Register a handler; it gets one request frame and may reply with any number of frames. */
export async function handleRequests (host: Pick<RpcHost, 'handle'>, protocol: string, handler: RequestHandler, opts: HandleOptions): Promise<void> {
  await host.handle(protocol, async (stream, connection) => {
    const signal = AbortSignal.timeout(opts.timeoutMs)
    const lp = lpStream(stream, { maxDataLength: opts.maxBytes })
    try {
      const req = await lp.read({ signal }).catch(err => { throw mapSizeError(err) })
      await handler(req.subarray(), connection, async (frame) => { await lp.write(frame, { signal }) })
      await stream.close({ signal }).catch(() => {})
    } catch (err) {
      stream.abort(err as Error)
      opts.onError(err, connection)
    }
  }, { maxInboundStreams: opts.maxInboundStreams ?? 32, maxOutboundStreams: 64 })
}

function isEof (err: unknown): boolean {
  const name = (err as Error)?.name
  return name === 'UnexpectedEOFError' || name === 'StreamClosedError'
}

/**
 * libp2p's ways of saying "too large" (a length prefix over the limit, a
 * buffer overfilled by a stream or a length-prefixed decoder) as our
 * OversizedMessageError; any other error unchanged. Shared by the request
 * mux (rpc-mux*.ts).
 */
const TOO_LARGE = new Set(['InvalidDataLengthError', 'InvalidDataLengthLengthError', 'InvalidMessageLengthError', 'StreamBufferError', 'InvalidParametersError'])

export function mapSizeError (err: unknown): unknown {
  return TOO_LARGE.has((err as Error)?.name) ? new OversizedMessageError((err as Error).message) : err
}

/**
 * One request frame, one response frame, as a service: what membership's
 * probes and push-pull exchange. `streamTransport(host)` runs it over libp2p
 * streams with the functions above (production); the membership simulator
 * (harness/membership-sim) runs the same frames over a virtual-time network,
 * so the protocol code above this seam is the code that runs in production.
 */
export interface RequestTransport {
  request: (peer: PeerId, protocol: string, body: Uint8Array, opts: RequestOptions) => Promise<Uint8Array>
  handle: (protocol: string, handler: RequestHandler, opts: HandleOptions) => Promise<void>
  unhandle: (protocol: string) => Promise<void>
}

/** `RequestTransport` over a libp2p node's streams (`request` / `handleRequests`). */
export function streamTransport (host: RpcHost): RequestTransport {
  return {
    request: async (peer, protocol, body, opts) => await request(host, peer, protocol, body, opts),
    handle: async (protocol, handler, opts) => { await handleRequests(host, protocol, handler, opts) },
    unhandle: async (protocol) => { await host.unhandle(protocol) }
  }
}
