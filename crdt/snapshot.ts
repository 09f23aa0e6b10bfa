/**
 * Local snapshot: every namespace document as one Yjs state update, plus
 * the log offset and version vector it covers. It bounds start-up time (the
 * documents load in one step, only the log tail after `logOffset` is
 * replayed into Yjs) but replaces nothing: the log still holds every
 * envelope, because peers catching up need the signed envelopes, not our
 * word for the state. See docs/config.md "Compaction" for how a
 * BFT-certified checkpoint will let the log drop what a snapshot covers.
 *
 * A checksummed single-record file (lib/sealed-file.ts, `MYCELSN1`) of
 * CBOR. It is a cache of what the log holds, so a damaged snapshot does not
 * stop the store: readSnapshot throws CorruptFileError, the store says so
 * and replays the whole log instead. The first layout (a CRC32 then the
 * same CBOR, no header) is still read.
 */
import { z } from 'zod'
import { crc32 } from '../lib/checksum.js'
import { CorruptFileError } from '../lib/errors.js'
import type { FileFormat } from '../lib/file-format.js'
import { readSealedSync, writeSealedSync, SEALED_OVERHEAD } from '../lib/sealed-file.js'
import { bytes, decodeCbor, encodeCbor } from '../wire/codec.js'
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

export const SNAPSHOT_FORMAT: FileFormat = {
  magic: 'MYCELSN1',
  name: 'config snapshot',
  recovery: 'nothing to do: the agent replays the whole config log instead and writes a new snapshot later'
}

/** Largest snapshot decoded, bytes (documents of 100 000 keys are a few MB). */
const MAX_SNAPSHOT_BYTES = 1024 * 1024 * 1024

/** Returns the bytes written. */
export function writeSnapshot (path: string, snap: Snapshot): number {
  const body = encodeCbor(snap)
  writeSealedSync(SNAPSHOT_FORMAT, path, body)
  return body.byteLength + SEALED_OVERHEAD
}

/** The snapshot, or undefined when there is none; CorruptFileError when it is damaged. */
export function readSnapshot (path: string): Snapshot | undefined {
  const read = readSealedSync(SNAPSHOT_FORMAT, path, readLayoutV1)
  if (read === undefined) return undefined
  try {
    return decodeCbor(read.payload, snapshotSchema, MAX_SNAPSHOT_BYTES)
  } catch (err) {
    throw new CorruptFileError(path, `${SNAPSHOT_FORMAT.name} does not decode: ${(err as Error).message}`, SNAPSHOT_FORMAT.recovery)
  }
}

/** First layout: u32be crc32(body) then the CBOR body. */
function readLayoutV1 (data: Uint8Array): Uint8Array | undefined {
  if (data.byteLength < 5) return undefined
  const body = data.subarray(4)
  return crc32(body) === new DataView(data.buffer, data.byteOffset, 4).getUint32(0) ? body : undefined
}
