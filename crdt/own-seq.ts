/**
 * The own-sequence watermark: per namespace, the highest sequence number of
 * our own envelopes that was acknowledged. It is raised after the config
 * log's fdatasync covers those envelopes and before the write is
 * acknowledged or published, in its own file (`own-seq.log`), so it
 * survives what the config log may suffer.
 *
 * Why: a crash can only cut envelopes that were never acknowledged, but a
 * truncation or damage of the log can remove acknowledged ones, and the
 * log's bytes alone cannot tell the two apart. Peers may hold a lost
 * envelope; signing a new one with its sequence number would be
 * equivocation (peers refuse it, and everything we write after it waits
 * behind it forever). With the watermark, the store knows after a restart
 * exactly which of its own envelopes it lost, refuses local writes to those
 * namespaces, and lets anti-entropy bring them back from peers first.
 *
 * Records are JSON `{namespace: seq}` of the namespaces that advanced, in a
 * checksummed record log (lib/record-log.ts); reading folds them with max.
 * The file is compacted to one record when it is opened.
 */
import { RecordLog, type RecordLogFormat } from '../lib/record-log.js'
import { CorruptFileError } from '../lib/errors.js'

export const OWN_SEQ_FILE = 'own-seq.log'

/** Records beyond this many are folded into one when the file is opened. */
const COMPACT_AT_RECORDS = 1024

export const OWN_SEQ_FORMAT: RecordLogFormat = {
  magic: 'MYCELOS1',
  name: 'own-sequence watermark',
  recovery: 'stop the agent and move this file aside: the agent then trusts its config log for its own sequence numbers ' +
    '(if that log also lost acknowledged writes, new writes may reuse their numbers and peers refuse them as equivocation)',
  maxRecordBytes: 1024 * 1024
}

export type Heads = Record<string, number>

export class OwnSeqWatermark {
  private readonly recorded: Heads = {}

  private constructor (private readonly log: RecordLog) {}

  /** Open (or create) the file; returns it with the watermarks it holds. */
  static open (path: string): { mark: OwnSeqWatermark, heads: Heads } {
    const { log, records } = RecordLog.open(path, OWN_SEQ_FORMAT)
    const mark = new OwnSeqWatermark(log)
    for (const r of records) {
      let parsed: unknown
      try { parsed = JSON.parse(Buffer.from(r.payload).toString('utf8')) } catch { parsed = undefined }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        log.close()
        throw new CorruptFileError(path, `${OWN_SEQ_FORMAT.name} record is not a JSON object`, OWN_SEQ_FORMAT.recovery)
      }
      for (const [ns, seq] of Object.entries(parsed)) {
        if (!Number.isSafeInteger(seq) || (seq as number) < 1) {
          log.close()
          throw new CorruptFileError(path, `${OWN_SEQ_FORMAT.name} holds a bad sequence number for ${ns}`, OWN_SEQ_FORMAT.recovery)
        }
        mark.recorded[ns] = Math.max(mark.recorded[ns] ?? 0, seq as number)
      }
    }
    if (records.length > COMPACT_AT_RECORDS) log.rewriteNow([encode(mark.recorded)])
    return { mark, heads: { ...mark.recorded } }
  }

  /** Append what `heads` raises (not yet durable). Returns whether anything was appended. */
  private note (heads: Heads): boolean {
    const delta: Heads = {}
    for (const [ns, seq] of Object.entries(heads)) if (seq > (this.recorded[ns] ?? 0)) delta[ns] = seq
    if (Object.keys(delta).length === 0) return false
    this.log.append(encode(delta))
    Object.assign(this.recorded, delta)
    return true
  }

  /** Raise to `heads` durably; concurrent callers share one fdatasync. Resolves once durable. */
  async raise (heads: Heads): Promise<void> {
    this.note(heads)
    await this.log.sync()
  }

  /** Raise to `heads` durably, blocking (at open, before anything is served). */
  raiseNow (heads: Heads): void {
    if (this.note(heads)) this.log.syncNow()
  }

  /** Watermark of a namespace (0: none). */
  get (ns: string): number { return this.recorded[ns] ?? 0 }

  close (): void { this.log.close() }
}

function encode (heads: Heads): Uint8Array { return Buffer.from(JSON.stringify(heads)) }
