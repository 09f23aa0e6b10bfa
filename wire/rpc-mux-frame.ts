/**
 * Frames of the request mux (wire/rpc-mux.ts): many request/response
 * exchanges, each tagged with an id, on one long-lived stream. Each frame
 * travels length-prefixed (unsigned varint, as every other stream protocol
 * here) and is:
 *
 *   kind u8 | id u32 (big-endian) | rest
 *
 *   kind 1, request:  rest = protocol length u8 | protocol (UTF-8) | body
 *   kind 2, response: rest = body
 *   kind 3, error:    rest = code u8
 *
 * Wire evolution (docs/wire.md): a receiver treats an error code it does not
 * know as `failed`, and a frame kind it does not know as a broken session
 * (it closes the stream; the requester falls back to a stream per request).
 * New kinds therefore need a new protocol version; new error codes do not.
 * The largest frame (64 KiB and 512 bytes, RPC_MUX_DEFAULTS.maxFrameBytes) is
 * part of the version too: a receiver closes a session that sends a larger
 * one, so a release that raises it must also raise the protocol version.
 */
import { MalformedMessageError } from './errors.js'

export const FRAME_REQUEST = 1
export const FRAME_RESPONSE = 2
export const FRAME_ERROR = 3

/** Why a request got no response: the error frame's code. */
export const MuxErrorCode = {
  /** The responder has no handler for the protocol. */
  unsupported: 1,
  /** The responder already runs as many of these requests from this peer as it allows. */
  busy: 2,
  /** The handler failed. */
  failed: 3,
  /** The handler did not answer within its deadline. */
  timeout: 4,
  /** The handler finished without answering. */
  noResponse: 5,
  /** The request or the answer exceeded the size allowed for it. */
  oversized: 6
} as const

export type MuxErrorName = keyof typeof MuxErrorCode

const NAMES = new Map<number, MuxErrorName>(Object.entries(MuxErrorCode).map(([k, v]) => [v, k as MuxErrorName]))

/** The name of an error code; codes this version does not know read as `failed`. */
export function muxErrorName (code: number): MuxErrorName {
  return NAMES.get(code) ?? 'failed'
}

export type MuxFrame =
  | { kind: typeof FRAME_REQUEST, id: number, protocol: string, body: Uint8Array }
  | { kind: typeof FRAME_RESPONSE, id: number, body: Uint8Array }
  | { kind: typeof FRAME_ERROR, id: number, code: number }

/** Bytes a frame adds around a request body for `protocol` (kind, id, protocol length, protocol). */
export function requestOverhead (protocol: string): number {
  return 6 + utf8.encode(protocol).byteLength
}

/** Bytes a frame adds around a response body. */
export const RESPONSE_OVERHEAD = 5

const utf8 = new TextEncoder()
const utf8Strict = new TextDecoder('utf-8', { fatal: true })

export function encodeFrame (frame: MuxFrame): Uint8Array {
  if (!Number.isInteger(frame.id) || frame.id < 0 || frame.id > 0xffffffff) throw new RangeError(`mux frame id ${frame.id} is not a u32`)
  let out: Uint8Array
  if (frame.kind === FRAME_REQUEST) {
    const p = utf8.encode(frame.protocol)
    if (p.byteLength === 0 || p.byteLength > 255) throw new RangeError(`mux protocol id must be 1-255 bytes, not ${p.byteLength}`)
    out = new Uint8Array(6 + p.byteLength + frame.body.byteLength)
    out[5] = p.byteLength
    out.set(p, 6)
    out.set(frame.body, 6 + p.byteLength)
  } else if (frame.kind === FRAME_RESPONSE) {
    out = new Uint8Array(5 + frame.body.byteLength)
    out.set(frame.body, 5)
  } else {
    if (!Number.isInteger(frame.code) || frame.code < 0 || frame.code > 255) throw new RangeError(`mux error code ${frame.code} is not a u8`)
    out = new Uint8Array(6)
    out[5] = frame.code
  }
  out[0] = frame.kind
  new DataView(out.buffer, out.byteOffset, out.byteLength).setUint32(1, frame.id)
  return out
}

/** Decode one frame; anything else throws MalformedMessageError. Bodies are views into `bytes`. */
export function decodeFrame (bytes: Uint8Array): MuxFrame {
  if (bytes.byteLength < 5) throw new MalformedMessageError(`mux frame of ${bytes.byteLength} bytes is shorter than its header`)
  const kind = bytes[0]
  const id = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(1)
  switch (kind) {
    case FRAME_REQUEST: {
      if (bytes.byteLength < 6) throw new MalformedMessageError('mux request frame without a protocol length')
      const plen = bytes[5]
      if (plen === 0 || bytes.byteLength < 6 + plen) throw new MalformedMessageError(`mux request frame with a protocol length of ${plen} in ${bytes.byteLength} bytes`)
      let protocol: string
      try {
        protocol = utf8Strict.decode(bytes.subarray(6, 6 + plen))
      } catch {
        throw new MalformedMessageError('mux request frame whose protocol is not UTF-8')
      }
      return { kind, id, protocol, body: bytes.subarray(6 + plen) }
    }
    case FRAME_RESPONSE:
      return { kind, id, body: bytes.subarray(5) }
    case FRAME_ERROR:
      if (bytes.byteLength !== 6) throw new MalformedMessageError(`mux error frame of ${bytes.byteLength} bytes (6 expected)`)
      return { kind, id, code: bytes[5] }
    default:
      throw new MalformedMessageError(`unknown mux frame kind ${kind}`)
  }
}
