/**
 * The validator's write-ahead log. Before a validator sends a vote or a
 * proposal it appends it here and waits for fsync; after a restart it reads
 * the log back and re-sends what it logged instead of signing anything new
 * for the same (height, round, type). That is the whole safety argument for
 * crash/restart: a validator never signs two different votes for one slot,
 * and its lock (the block of its latest non-nil precommit, kept with the
 * record, with the polka that justified it) survives the crash.
 *
 * The file is a checksummed record log (lib/record-log.ts, `MYCELBW1`).
 * Damage, or a record that does not decode, is a CorruptFileError: the
 * validator must not vote without its history, so the critical-config
 * component stops (fail-stop) and says how to recover.
 */
import { z } from 'zod'
import { join } from 'node:path'
import type { RecordLog, RecordLogFormat } from '../../lib/record-log.js'
import { decodeSigned, encodeCbor } from '../../wire/codec.js'
import { blockSchema, messageSchema } from './messages.js'
import { CorruptStateError } from './errors.js'
import { openBftLog } from './record-file.js'
import type { BftLogger } from './logger.js'
import type { Block, Proposal, Vote } from './types.js'

export const WAL_FILE = 'bft-wal.log'

/** Largest WAL record, bytes (a precommit with its block and polka). */
const MAX_WAL_RECORD_BYTES = 16 * 1024 * 1024

export const WAL_FORMAT: RecordLogFormat = {
  magic: 'MYCELBW1',
  name: 'BFT WAL',
  recovery: 'stop the agent and move this file aside, then start it again only after the network has committed a height above the one ' +
    'this validator was voting on (`mycel critical status` on another node): without its WAL it could sign a vote contradicting one it forgot',
  maxRecordBytes: MAX_WAL_RECORD_BYTES
}

export type WalRecord =
  /** `polka`: for a non-nil precommit, the 2f+1 prevotes that justified it (our lock's proof). */
  | { kind: 'vote', vote: Vote, block: Block | null, polka: Vote[] }
  | { kind: 'proposal', proposal: Proposal }

export interface Wal {
  load: () => Promise<WalRecord[]>
  /** Resolves only once the record is durable (votes; proposals survive a process crash). */
  append: (rec: WalRecord) => Promise<void>
  /** Worth pruning below `height` now? (Rewriting costs fsyncs; stale records are harmless.) */
  wantsPrune: (height: number) => boolean
  /** Forget records below `height` (those heights are committed and durable). */
  prune: (height: number) => Promise<void>
  close: () => Promise<void>
}

const walRecordSchema = z.discriminatedUnion('kind', [
  z.object({ v: z.literal(1), kind: z.literal('vote'), vote: z.any(), block: blockSchema.nullable(), polka: z.array(z.any()).max(1024) }).strict(),
  z.object({ v: z.literal(1), kind: z.literal('proposal'), proposal: z.any() }).strict()
])

export function encodeWalRecord (rec: WalRecord): Uint8Array { return encodeCbor({ v: 1, ...rec }) }

/** Throws CorruptStateError on anything that is not a record we wrote. */
export function decodeWalRecord (bytes: Uint8Array): WalRecord {
  try {
    // decodeSigned: blocks, votes and proposals keep every field they were
    // signed or hashed with (docs/wire.md rule 1).
    const r = decodeSigned(bytes, walRecordSchema, MAX_WAL_RECORD_BYTES)
    // Re-use the wire schemas for the embedded vote / proposal.
    if (r.kind === 'vote') {
      const asVote = (x: unknown): Vote => {
        const m = decodeSigned(encodeCbor({ v: 1, kind: 'vote', vote: x }), messageSchema)
        if (m.kind !== 'vote') throw new Error('not a vote')
        return m.vote
      }
      return { kind: 'vote', vote: asVote(r.vote), block: r.block, polka: r.polka.map(asVote) }
    }
    const m = decodeSigned(encodeCbor({ v: 1, kind: 'proposal', proposal: r.proposal }), messageSchema)
    if (m.kind !== 'proposal') throw new Error('not a proposal')
    return { kind: 'proposal', proposal: m.proposal }
  } catch (err) {
    throw new CorruptStateError(`unreadable WAL record: ${(err as Error).message}`)
  }
}

function recHeight (r: WalRecord): number { return r.kind === 'vote' ? r.vote.height : r.proposal.height }

/** Stale records tolerated before the file is rewritten. */
const PRUNE_AFTER_RECORDS = 512

export class FileWal implements Wal {
  readonly path: string
  private log: RecordLog | undefined
  private records: WalRecord[] = []

  constructor (dir: string, private readonly logger?: BftLogger) { this.path = join(dir, WAL_FILE) }

  async load (): Promise<WalRecord[]> {
    this.log?.close()
    // A vote is sent only after its record is fsynced, so a crash cuts only unsent ones; a truncation of the file looks the same.
    const { log, items } = openBftLog(this.path, WAL_FORMAT, decodeWalRecord, this.logger,
      'bft: cut an incomplete last WAL record (a crash during a write, or the file was truncated)')
    this.log = log
    this.records = items
    return [...this.records]
  }

  async append (rec: WalRecord): Promise<void> {
    const log = await this.opened()
    log.append(encodeWalRecord(rec))
    // Votes are fsynced before they are sent; a proposal need not be (consensus.ts).
    if (rec.kind === 'vote') await log.sync()
    this.records.push(rec)
  }

  wantsPrune (height: number): boolean {
    return this.records.length > PRUNE_AFTER_RECORDS && this.records.some(r => recHeight(r) < height)
  }

  async prune (height: number): Promise<void> {
    const keep = this.records.filter(r => recHeight(r) >= height)
    if (keep.length === this.records.length) return
    await (await this.opened()).rewrite(keep.map(encodeWalRecord))
    this.records = keep
  }

  async close (): Promise<void> {
    this.log?.close()
    this.log = undefined
  }

  private async opened (): Promise<RecordLog> {
    if (this.log === undefined) await this.load()
    return this.log as RecordLog
  }
}

/** In-memory WAL for the simulator: "durable" means it survives a simulated crash. */
export class MemoryWal implements Wal {
  records: WalRecord[] = []
  async load (): Promise<WalRecord[]> { return [...this.records] }
  async append (rec: WalRecord): Promise<void> { this.records.push(rec) }
  wantsPrune (height: number): boolean { return this.records.some(r => recHeight(r) < height) }
  async prune (height: number): Promise<void> { this.records = this.records.filter(r => recHeight(r) >= height) }
  async close (): Promise<void> {}
}
