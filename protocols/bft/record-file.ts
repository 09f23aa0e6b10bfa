/**
 * The BFT's durable files (vote WAL, block store) are checksummed record
 * logs (lib/record-log.ts). This module opens one and reads the layout they
 * had before: `[u32be length][payload]` records without a header or
 * checksums. Such a file is rewritten in the current layout when opened;
 * its records are still checked by their owner's decoder (and blocks by
 * their certificates), which is all the old layout ever had.
 */
import { CorruptFileError } from '../../lib/errors.js'
import { RecordLog, type LegacyRecords, type RecordLogFormat, type RecordLogOpened } from '../../lib/record-log.js'

const V0_HEADER = 4

export function openBftLog (path: string, format: RecordLogFormat): RecordLogOpened {
  return RecordLog.open(path, format, { legacy: (data) => readLayoutV0(data, path, format) })
}

/** The first layout: a torn last record is cut, a length over the limit is damage. */
function readLayoutV0 (data: Buffer, path: string, format: RecordLogFormat): LegacyRecords {
  const records: Uint8Array[] = []
  let off = 0
  while (off + V0_HEADER <= data.length) {
    const len = data.readUInt32BE(off)
    if (len > format.maxRecordBytes) throw new CorruptFileError(path, `${format.name} (unchecksummed layout) record at ${off} claims ${len} bytes`, format.recovery)
    if (off + V0_HEADER + len > data.length) break
    records.push(new Uint8Array(data.subarray(off + V0_HEADER, off + V0_HEADER + len)))
    off += V0_HEADER + len
  }
  return { records, cutBytes: data.length - off, layout: 'unchecksummed length-prefixed records' }
}
