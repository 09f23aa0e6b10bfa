/**
 * The wire of `/mycel/artifact/1.0.0` (over wire/rpc.ts: one request frame,
 * response frames until the server closes).
 *
 * Request `{v: 1, want: [cid bytes], index?: archive cid}`: up to MAX_WANT
 * blocks, and optionally the index of an archive (by the archive CID the
 * manifest names, since that is all a fetcher knows at first).
 *
 * Responses, one per frame, in this order:
 *   `{v: 1, t: 'index', archive, data}`   the index block, if asked for and held
 *   `{v: 1, t: 'block', cid, data}`       each wanted block the server holds
 *   `{v: 1, t: 'missing', cids}`          last: the wanted blocks it does not hold
 *                                         (and `index: false` if it has no index)
 *   `{v: 1, t: 'error', message}`         instead, for a request it cannot read
 */
import { z } from 'zod'
import { bytes, decodeCbor, encodeCbor } from '../../wire/codec.js'
import { MAX_CHUNK_BYTES, MAX_INDEX_BYTES, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, MAX_WANT } from './constants.js'

export const ARTIFACT_PROTOCOL = '/mycel/artifact/1.0.0'

/** A CID on the wire, bytes (a sha2-256 CIDv1 is 36; a little room for nothing else). */
const MAX_CID_BYTES = 64

const requestSchema = z.object({
  v: z.literal(1),
  want: z.array(bytes(MAX_CID_BYTES)).max(MAX_WANT),
  index: z.string().max(128).optional()
})
export type ArtifactRequest = z.infer<typeof requestSchema>

const responseSchema = z.discriminatedUnion('t', [
  z.object({ v: z.literal(1), t: z.literal('index'), archive: z.string().max(128), data: bytes(MAX_INDEX_BYTES) }),
  z.object({ v: z.literal(1), t: z.literal('block'), cid: bytes(MAX_CID_BYTES), data: bytes(MAX_CHUNK_BYTES) }),
  z.object({ v: z.literal(1), t: z.literal('missing'), cids: z.array(bytes(MAX_CID_BYTES)).max(MAX_WANT), index: z.boolean().optional() }),
  z.object({ v: z.literal(1), t: z.literal('error'), message: z.string().max(1024) })
])
export type ArtifactResponse = z.infer<typeof responseSchema>

export function encodeRequest (req: Omit<ArtifactRequest, 'v'>): Uint8Array {
  return encodeCbor(req.index === undefined ? { v: 1, want: req.want } : { v: 1, want: req.want, index: req.index })
}

/** Throws the codec's named errors (MalformedMessageError, OversizedMessageError, UnsupportedVersionError). */
export function decodeRequest (data: Uint8Array): ArtifactRequest {
  return decodeCbor(data, requestSchema, MAX_REQUEST_BYTES)
}

export function encodeResponse (res: ArtifactResponse): Uint8Array {
  return encodeCbor(res)
}

export function decodeResponse (data: Uint8Array): ArtifactResponse {
  return decodeCbor(data, responseSchema, MAX_RESPONSE_BYTES)
}
