/**
 * Storage of certified blocks, in height order. `append` writes (surviving a
 * process crash) and `sync` makes it durable (fdatasync). The state syncs
 * right after applying, off the commit's critical path: a decided block is
 * already durable on a quorum, since every validator logs the block with its
 * precommit in its WAL (fsync) before sending it; and a validator prunes its
 * WAL for a height only after the block store is synced (consensus.ts).
 *
 * The file is a checksummed record log (lib/record-log.ts, `MYCELBB1`);
 * damage, or a record that does not decode, is a CorruptFileError and the
 * critical-config component stops (fail-stop). Blocks are re-verified
 * against their certificates when replayed (critical-state.ts).
 */
import { join } from 'node:path'
import { CorruptFileError } from '../../lib/errors.js'
import type { RecordLog, RecordLogFormat } from '../../lib/record-log.js'
import { decodeCertificate, encodeCertificate } from './messages.js'
import { openBftLog } from './record-file.js'
import type { BftLogger } from './consensus-types.js'
import type { Certificate } from './types.js'

export const BLOCKS_FILE = 'bft-blocks.log'

export const BLOCKS_FORMAT: RecordLogFormat = {
  magic: 'MYCELBB1',
  name: 'BFT block store',
  recovery: 'stop the agent and move this file aside: the node refetches the certified blocks from its peers',
  maxRecordBytes: 16 * 1024 * 1024
}

export interface BlockStore {
  load: () => Promise<Certificate[]>
  append: (cert: Certificate) => Promise<void>
  sync: () => Promise<void>
  close: () => Promise<void>
}

export class FileBlockStore implements BlockStore {
  readonly path: string
  private log: RecordLog | undefined

  constructor (dir: string, private readonly logger?: BftLogger) { this.path = join(dir, BLOCKS_FILE) }

  async load (): Promise<Certificate[]> {
    this.log?.close()
    const opened = openBftLog(this.path, BLOCKS_FORMAT)
    let certs: Certificate[]
    try {
      certs = opened.records.map((r, i) => {
        try {
          return decodeCertificate(r.payload)
        } catch (err) {
          throw new CorruptFileError(this.path, `${BLOCKS_FORMAT.name} record ${i + 1} does not decode: ${(err as Error).message}`, BLOCKS_FORMAT.recovery)
        }
      })
    } catch (err) {
      opened.log.close()
      throw err
    }
    this.log = opened.log
    if (opened.convertedFrom !== undefined) this.logger?.info({ path: this.path, from: opened.convertedFrom }, 'bft: block store converted to the current layout')
    // Blocks are durable on a quorum before they are appended here: a cut one is fetched again from peers.
    if (opened.cutBytes > 0) this.logger?.warn({ path: this.path, offset: opened.cutAt, bytes: opened.cutBytes }, 'bft: cut an incomplete last block record (a crash during a write, or the file was truncated); peers resend it')
    return certs
  }

  async append (cert: Certificate): Promise<void> {
    if (this.log === undefined) await this.load()
    ;(this.log as RecordLog).append(encodeCertificate(cert))
  }

  async sync (): Promise<void> { await this.log?.sync() }

  async close (): Promise<void> {
    this.log?.close()
    this.log = undefined
  }
}

export class MemoryBlockStore implements BlockStore {
  certs: Certificate[] = []
  async load (): Promise<Certificate[]> { return [...this.certs] }
  async append (cert: Certificate): Promise<void> { this.certs.push(cert) }
  async sync (): Promise<void> {}
  async close (): Promise<void> {}
}
