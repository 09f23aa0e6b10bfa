/**
 * The config log: the append-only record log (lib/record-log.ts) of every
 * envelope this node accepted, in apply order, so a prefix of the file is a
 * state the node really had. fdatasync is what makes a write acknowledged.
 *
 * Layout `MYCELCL1` (lib/record-log.ts: every record has a checksummed
 * header and a checksummed payload). The first layout, `MYCFGLG1` (frames
 * `[u32 length][u32 crc32(payload)]`, no header checksum), is still read:
 * the file is rewritten in the current layout when it is opened.
 */
import { crc32 } from '../lib/checksum.js'
import { CorruptFileError } from '../lib/errors.js'
import { RecordLog, type LegacyRecords, type RecordLogFormat, type RecordLogOpened } from '../lib/record-log.js'

/** Frames larger than this are damage (an envelope is far smaller). */
const MAX_RECORD_BYTES = 16 * 1024 * 1024

export const CONFIG_LOG_FORMAT: RecordLogFormat = {
  magic: 'MYCELCL1',
  name: 'config log',
  recovery: 'stop the agent and move this file aside: the agent starts with an empty config log and peers resend what they hold; ' +
    'until they have returned every write of ours that was acknowledged, local writes to those namespaces are refused',
  maxRecordBytes: MAX_RECORD_BYTES
}

export function openConfigLog (path: string): RecordLogOpened {
  return RecordLog.open(path, CONFIG_LOG_FORMAT, { legacy: readLayoutV1 })
}

const V1_MAGIC = Buffer.from('MYCFGLG1')
const V1_HEADER = 8

/** Layout `MYCFGLG1`, with its own recovery rules (a bad frame followed by valid ones is damage; else a torn tail). */
function readLayoutV1 (data: Buffer, path: string): LegacyRecords | undefined {
  if (data.length < V1_HEADER || !data.subarray(0, V1_HEADER).equals(V1_MAGIC)) return undefined
  const frameAt = (off: number): { payload: Buffer, end: number } | undefined => {
    if (off + 8 > data.length) return undefined
    const len = data.readUInt32BE(off)
    if (len === 0 || len > MAX_RECORD_BYTES || off + 8 + len > data.length) return undefined
    const payload = data.subarray(off + 8, off + 8 + len)
    return crc32(payload) === data.readUInt32BE(off + 4) ? { payload, end: off + 8 + len } : undefined
  }
  const records: Uint8Array[] = []
  let off = V1_HEADER
  while (off < data.length) {
    const f = frameAt(off)
    if (f === undefined) break
    records.push(new Uint8Array(f.payload))
    off = f.end
  }
  for (let probe = off + 1; probe + 8 < data.length; probe++) {
    if (frameAt(probe) !== undefined) {
      throw new CorruptFileError(path, `config log (layout MYCFGLG1) damaged at offset ${off}, valid data follows at ${probe}`, CONFIG_LOG_FORMAT.recovery)
    }
  }
  return { records, cutBytes: data.length - off, layout: 'MYCFGLG1' }
}
