/**
 * Local snapshot: every namespace document as one Yjs state update, plus
 * the log offset and version vector it covers. It bounds start-up time (the
 * documents load in one step, only the log tail after `logOffset` is
 * replayed into Yjs) but replaces nothing: the log still holds every
 * envelope, because peers catching up need the signed envelopes, not our
 * word for the state. See docs/config.md "Compaction" for how a
 * BFT-certified checkpoint will let the log drop what a snapshot covers.
 */
import { existsSync, readFileSync } from 'node:fs'
import { crc32 } from 'node:zlib'
import { z } from 'zod'
import { bytes, decodeCbor, encodeCbor } from '../protocols/wire/codec.js'
import { writeFileDurably } from './log-file.js'
import { versionVectorSchema, type VersionVector } from './version-vector.js'
import { NAMESPACE_PATTERN } from './constants.js'

export interface Snapshot {
  v: 1
  /** Log offset (bytes) the documents include everything before. */
  logOffset: number
  /** Version vector of the envelopes the documents include. */
  vv: VersionVector
  /** Y.encodeStateAsUpdate of each namespace document. */
  docs: Record<string, Uint8Array>
  /** Unix ms when taken. */
  takenAt: number
}

const snapshotSchema: z.ZodType<Snapshot> = z.strictObject({
  v: z.literal(1),
  logOffset: z.number().int().min(0),
  vv: versionVectorSchema,
  docs: z.record(z.string().regex(NAMESPACE_PATTERN), bytes()),
  takenAt: z.number().int().min(0)
}) as unknown as z.ZodType<Snapshot>

/** CRC32 (4 bytes, big endian) then CBOR. */
export function writeSnapshot (path: string, snap: Snapshot): number {
  const body = encodeCbor(snap)
  const out = new Uint8Array(4 + body.byteLength)
  new DataView(out.buffer).setUint32(0, crc32(body))
  out.set(body, 4)
  writeFileDurably(path, out)
  return out.byteLength
}

/** The snapshot, or undefined when there is none. A damaged snapshot is ignored (the log is complete). */
export function readSnapshot (path: string): Snapshot | undefined {
  if (!existsSync(path)) return undefined
  const data = readFileSync(path)
  if (data.length < 4) return undefined
  const body = data.subarray(4)
  if (crc32(body) !== data.readUInt32BE(0)) return undefined
  try {
    return decodeCbor(new Uint8Array(body), snapshotSchema)
  } catch {
    return undefined
  }
}
