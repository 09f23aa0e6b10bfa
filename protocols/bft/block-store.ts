/**
 * Storage of certified blocks, in height order. `append` writes (surviving a
 * process crash) and `sync` makes it durable (fdatasync). The state syncs
 * right after applying, off the commit's critical path: a decided block is
 * already durable on a quorum, since every validator logs the block with its
 * precommit in its WAL (fsync) before sending it; and a validator prunes its
 * WAL for a height only after the block store is synced (consensus.ts).
 */
import { join } from 'node:path'
import { CorruptStateError } from './errors.js'
import { decodeCertificate, encodeCertificate } from './messages.js'
import { RecordFile } from './record-file.js'
import type { Certificate } from './types.js'

export interface BlockStore {
  load: () => Promise<Certificate[]>
  append: (cert: Certificate) => Promise<void>
  sync: () => Promise<void>
  close: () => Promise<void>
}

export class FileBlockStore implements BlockStore {
  private readonly file: RecordFile
  constructor (dir: string) { this.file = new RecordFile(join(dir, 'bft-blocks.log')) }

  async load (): Promise<Certificate[]> {
    return (await this.file.readAll()).map((bytes, i) => {
      try {
        return decodeCertificate(bytes)
      } catch (err) {
        throw new CorruptStateError(`block store record ${i} unreadable: ${(err as Error).message}`)
      }
    })
  }

  async append (cert: Certificate): Promise<void> { await this.file.append(encodeCertificate(cert), false) }
  async sync (): Promise<void> { await this.file.sync() }
  async close (): Promise<void> { await this.file.close() }
}

export class MemoryBlockStore implements BlockStore {
  certs: Certificate[] = []
  async load (): Promise<Certificate[]> { return [...this.certs] }
  async append (cert: Certificate): Promise<void> { this.certs.push(cert) }
  async sync (): Promise<void> {}
  async close (): Promise<void> {}
}
