/**
 * Our end of a request-mux session (wire/rpc-mux.ts): requests out as
 * frames, answers matched back by id, every waiting request failed when the
 * session ends. Also the frame writer both ends share and the errors a
 * request on a session can end with.
 */
import type { Stream } from '@libp2p/interface'
import { UnsupportedProtocolError } from '@libp2p/interface'
import { LengthPrefixedDecoder } from '@libp2p/utils'
import { Uint8ArrayList } from 'uint8arraylist'
import * as varint from 'uint8-varint'
import { OversizedMessageError } from './errors.js'
import { mapSizeError, type RequestOptions } from './rpc.js'
import { decodeFrame, encodeFrame, FRAME_ERROR, FRAME_REQUEST, muxErrorName, type MuxErrorName, type MuxFrame } from './rpc-mux-frame.js'

/** The responder sent an error frame instead of an answer. */
export class RemoteRequestError extends Error {
  static name = 'RemoteRequestError'
  override name = 'RemoteRequestError'
  constructor (readonly reason: MuxErrorName, protocol: string) {
    super(`${protocol}: the peer answered "${reason}"`)
  }
}

/** The session a request waited on closed before its answer came. */
export class SessionClosedError extends Error {
  static name = 'SessionClosedError'
  override name = 'SessionClosedError'
}

/** A frame the other end may not send (an answer to the requester's end, a request to ours). */
export class UnexpectedFrameError extends Error {
  static name = 'UnexpectedFrameError'
  override name = 'UnexpectedFrameError'
}

/** No answer within the request's deadline. */
export class TimeoutError extends Error {
  static name = 'TimeoutError'
  override name = 'TimeoutError'
}

/** Our end of a session we opened: requests out, answers matched back by id. */
export class OutboundSession {
  private readonly pending = new Map<number, { protocol: string, maxBytes: number, resolve: (b: Uint8Array) => void, reject: (e: unknown) => void }>()
  private nextId = 1
  private ended = false

  /** `onClosed` gets the error when the session broke on a bad frame, undefined when it just ended. */
  constructor (private readonly stream: Stream, maxFrameBytes: number, private readonly onClosed: (broken?: unknown) => void) {
    const decoder = new LengthPrefixedDecoder({ maxDataLength: maxFrameBytes, maxBufferSize: 2 * maxFrameBytes + 16 })
    stream.addEventListener('message', (evt) => {
      try {
        for (const bytes of frames(decoder, evt.data, maxFrameBytes)) this.receive(decodeFrame(bytes.subarray()))
      } catch (err) {
        this.fail(mapSizeError(err), true)
      }
    })
    stream.addEventListener('remoteCloseWrite', () => { this.fail(new SessionClosedError('the peer closed the session')) })
    stream.addEventListener('close', (evt) => { this.fail(evt.error ?? new SessionClosedError('session closed')) })
  }

  async request (protocol: string, body: Uint8Array, opts: RequestOptions): Promise<Uint8Array> {
    if (this.ended) throw new SessionClosedError('session closed')
    opts.signal?.throwIfAborted()
    const id = this.nextId
    this.nextId = this.nextId === 0xffffffff ? 1 : this.nextId + 1
    // One timer and at most one listener per request: AbortSignal.timeout
    // and AbortSignal.any cost more than the exchange itself (measured).
    return await new Promise<Uint8Array>((resolve, reject) => {
      const { signal } = opts
      const giveUp = (err: unknown): void => { this.pending.delete(id); done(); reject(err) }
      const onAbort = (): void => { giveUp(signal?.reason) }
      const timer = setTimeout(() => { giveUp(new TimeoutError(`${protocol}: no answer within ${opts.timeoutMs} ms`)) }, opts.timeoutMs)
      const done = (): void => { clearTimeout(timer); signal?.removeEventListener('abort', onAbort) }
      this.pending.set(id, {
        protocol,
        maxBytes: opts.maxBytes,
        resolve: (b) => { done(); resolve(b) },
        reject: (e) => { done(); reject(e) }
      })
      signal?.addEventListener('abort', onAbort, { once: true })
      if (!send(this.stream, { kind: FRAME_REQUEST, id, protocol, body })) this.fail(new SessionClosedError('session no longer writable'))
    })
  }

  /** Closed for good: its stream ended or broke; the transport opens another. */
  get closed (): boolean { return this.ended }

  close (): void {
    this.fail(new SessionClosedError('transport closed'))
  }

  private receive (frame: MuxFrame): void {
    if (frame.kind === FRAME_REQUEST) throw new UnexpectedFrameError('a request frame from the answering end')
    const p = this.pending.get(frame.id)
    // An answer after its request gave up: dropped.
    if (p === undefined) return
    this.pending.delete(frame.id)
    if (frame.kind === FRAME_ERROR) {
      const reason = muxErrorName(frame.code)
      if (reason === 'unsupported') p.reject(new UnsupportedProtocolError(`${p.protocol}: not handled by the peer`))
      else if (reason === 'oversized') p.reject(new OversizedMessageError(`${p.protocol}: the peer found the request or its answer too large`))
      else p.reject(new RemoteRequestError(reason, p.protocol))
    } else if (frame.body.byteLength > p.maxBytes) {
      p.reject(new OversizedMessageError(`${p.protocol}: answer of ${frame.body.byteLength} bytes exceeds ${p.maxBytes}`))
    } else {
      // A copy: the body is a view into the decoder's buffer.
      p.resolve(frame.body.slice())
    }
  }

  private fail (err: unknown, broken = false): void {
    if (this.ended) return
    this.ended = true
    this.onClosed(broken ? err : undefined)
    if (this.stream.status === 'open') this.stream.abort(err instanceof Error ? err : new Error(String(err)))
    const pending = [...this.pending.values()]
    this.pending.clear()
    for (const p of pending) p.reject(err)
  }
}

/** Write one frame, length-prefixed (libp2p buffers it if the stream needs draining); false if the stream cannot take it. */
export function send (stream: Stream, frame: MuxFrame): boolean {
  if (!writable(stream)) return false
  const bytes = encodeFrame(frame)
  try {
    stream.send(new Uint8ArrayList(varint.encode(bytes.byteLength), bytes))
    return true
  } catch {
    // The muxer refused it (the stream went away under us): its close event follows.
    return false
  }
}

/** Open both ways: we may write and the other end has not finished writing. */
export function writable (stream: Stream): boolean {
  return stream.status === 'open' && stream.writeStatus === 'writable' && stream.remoteWriteStatus === 'writable'
}

/**
 * The frames in a chunk, fed to the decoder at most `maxFrameBytes` at a
 * time: the decoder refuses a chunk that would overfill its buffer before
 * taking any frame out, and yamux may deliver several valid frames in one
 * chunk (a window's worth, 256 KiB and more).
 */
export function * frames (decoder: LengthPrefixedDecoder, data: Uint8Array | Uint8ArrayList, maxFrameBytes: number): Generator<Uint8ArrayList> {
  for (let at = 0; at < data.byteLength; at += maxFrameBytes) {
    const end = Math.min(at + maxFrameBytes, data.byteLength)
    yield * decoder.decode(at === 0 && end === data.byteLength ? data : data.subarray(at, end))
  }
}

/** Wait until the stream can take more, at most `ms`; a reply that fills the buffer holds its handler slot. */
export async function drained (stream: Stream, ms: number): Promise<void> {
  if (!stream.writableNeedsDrain) return
  await new Promise<void>((resolve) => {
    const t = setTimeout(finish, ms)
    function finish (): void { clearTimeout(t); stream.removeEventListener('drain', finish); stream.removeEventListener('close', finish); resolve() }
    stream.addEventListener('drain', finish)
    stream.addEventListener('close', finish)
  })
}
