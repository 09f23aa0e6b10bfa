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
import type { RecordLog, RecordLogFormat } from '../../lib/record-log.js'
import { decodeCertificate, encodeCertificate } from './messages.js'
import { openBftLog } from './record-file.js'
import type { BftLogger } from './logger.js'
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
    // Blocks are durable on a quorum before they are appended here: a cut one is fetched again from peers.
    const { log, items } = openBftLog(this.path, BLOCKS_FORMAT, decodeCertificate, this.logger,
      'bft: cut an incomplete last block record (a crash during a write, or the file was truncated); peers resend it')
    this.log = log
    return items
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
