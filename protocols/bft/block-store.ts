/**
 * Durable storage of certified blocks, in height order. A certificate is
 * appended (fsync) before the state applies it, so a node never reports a
 * value it could lose on a crash.
 */
import { join } from 'node:path'
import { CorruptStateError } from './errors.js'
import { decodeCertificate, encodeCertificate } from './messages.js'
import { RecordFile } from './record-file.js'
import type { Certificate } from './types.js'

export interface BlockStore {
  load: () => Promise<Certificate[]>
  append: (cert: Certificate) => Promise<void>
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

  async append (cert: Certificate): Promise<void> { await this.file.append(encodeCertificate(cert)) }
  async close (): Promise<void> { await this.file.close() }
}

export class MemoryBlockStore implements BlockStore {
  certs: Certificate[] = []
  async load (): Promise<Certificate[]> { return [...this.certs] }
  async append (cert: Certificate): Promise<void> { this.certs.push(cert) }
  async close (): Promise<void> {}
}
