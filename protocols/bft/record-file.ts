/**
 * The BFT's durable files (vote WAL, block store) are checksummed record
 * logs (lib/record-log.ts). This module opens one, decodes its records with
 * the owner's decoder, and reads the layout they had before:
 * `[u32be length][payload]` records without a header or checksums.
 *
 * That old layout has no header of its own, so almost any bytes parse as
 * it. A file is taken for it only when it holds at least one whole record
 * and every record decodes; anything else without our header is refused
 * (CorruptFileError), never converted. This matters because conversion
 * rewrites the file: a current file whose first bytes are damaged must not
 * be "converted" into an empty WAL, which would let the validator vote
 * without its history.
 */
import { CorruptFileError } from '../../lib/errors.js'
import { RecordLog, type LegacyRecords, type RecordLogFormat } from '../../lib/record-log.js'
import type { BftLogger } from './logger.js'

const V0_HEADER = 4

export interface BftLogOpened<T> {
  log: RecordLog
  /** The decoded records, in file order. */
  items: T[]
}

/**
 * Open `path` and decode every record with `decode` (which throws on
 * anything we did not write); a record that does not decode is a
 * CorruptFileError. `cutNote` is logged when an incomplete last record was cut.
 */
export function openBftLog<T> (path: string, format: RecordLogFormat, decode: (payload: Uint8Array) => T, logger: BftLogger | undefined, cutNote: string): BftLogOpened<T> {
  const opened = RecordLog.open(path, format, { legacy: (data) => readLayoutV0(data, format, decode) })
  let items: T[]
  try {
    items = opened.records.map((r, i) => {
      try {
        return decode(r.payload)
      } catch (err) {
        throw new CorruptFileError(path, `${format.name} record ${i + 1} does not decode: ${(err as Error).message}`, format.recovery)
      }
    })
  } catch (err) {
    opened.log.close()
    throw err
  }
  if (opened.convertedFrom !== undefined) logger?.info({ path, from: opened.convertedFrom }, `bft: ${format.name} converted to the current layout`)
  if (opened.cutBytes > 0) logger?.warn({ path, offset: opened.cutAt, bytes: opened.cutBytes }, cutNote)
  return { log: opened.log, items }
}

/**
 * The first layout, its torn last record cut. Undefined (not this layout)
 * unless there is a whole record, no length is over the limit and every
 * record decodes.
 */
function readLayoutV0 (data: Buffer, format: RecordLogFormat, decode: (payload: Uint8Array) => unknown): LegacyRecords | undefined {
  const records: Uint8Array[] = []
  let off = 0
  while (off + V0_HEADER <= data.length) {
    const len = data.readUInt32BE(off)
    if (len > format.maxRecordBytes) return undefined
    if (off + V0_HEADER + len > data.length) break
    records.push(new Uint8Array(data.subarray(off + V0_HEADER, off + V0_HEADER + len)))
    off += V0_HEADER + len
  }
  if (records.length === 0) return undefined
  try {
    for (const r of records) decode(r)
  } catch {
    return undefined
  }
  return { records, cutBytes: data.length - off, layout: 'unchecksummed length-prefixed records' }
}
