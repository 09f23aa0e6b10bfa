/**
 * The body of `POST /v1/components` (publish), one binary form shared by the
 * admin API and the CLI:
 *
 *   u32be length of the signed manifest | signed manifest | archive
 *
 * content type `application/vnd.mycel.component-release`. Not JSON with
 * base64: that inflates the archive by a third, and an archive at the limit
 * (1 GiB) would be a string longer than V8 can hold, so JSON could never
 * carry what the archive limits allow.
 */
import { RequestError } from '../../lib/errors.js'
import { MAX_ARCHIVE_BYTES, MAX_SIGNED_MANIFEST_BYTES } from '../../protocols/artifacts/constants.js'

export const RELEASE_CONTENT_TYPE = 'application/vnd.mycel.component-release'

const LENGTH_BYTES = 4
/** Signed manifest envelope around its body: CBOR framing and a signature. */
const ENVELOPE_BYTES = 256

/** Largest body: the largest signed manifest and the largest archive, with the length prefix. */
export const MAX_RELEASE_BODY_BYTES = LENGTH_BYTES + MAX_SIGNED_MANIFEST_BYTES + ENVELOPE_BYTES + MAX_ARCHIVE_BYTES

export function encodeRelease (signed: Uint8Array, archive: Uint8Array): Uint8Array {
  const out = Buffer.alloc(LENGTH_BYTES + signed.byteLength + archive.byteLength)
  out.writeUInt32BE(signed.byteLength, 0)
  out.set(signed, LENGTH_BYTES)
  out.set(archive, LENGTH_BYTES + signed.byteLength)
  return out
}

/** Split a body; RequestError 400 when the length prefix does not fit. */
export function decodeRelease (body: Uint8Array): { signed: Uint8Array, archive: Uint8Array } {
  if (body.byteLength < LENGTH_BYTES) throw new RequestError(400, `release body too short (${body.byteLength} bytes)`)
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength)
  const len = buf.readUInt32BE(0)
  if (len === 0 || len > MAX_SIGNED_MANIFEST_BYTES + ENVELOPE_BYTES || LENGTH_BYTES + len > body.byteLength) {
    throw new RequestError(400, `release body: signed manifest length ${len} does not fit a body of ${body.byteLength} bytes`)
  }
  return { signed: body.subarray(LENGTH_BYTES, LENGTH_BYTES + len), archive: body.subarray(LENGTH_BYTES + len) }
}
