/**
 * `<dataDir>/bft/genesis.hash`: the network a data dir belongs to. Written
 * the first time the critical-config component starts with a genesis; a
 * start with another genesis is refused, because the WAL and the block store
 * belong to the first network.
 *
 * A checksummed single record (lib/sealed-file.ts, `MYCELGH1`) holding the
 * hash in hex. The first layout (the hex and a newline, no checksum) is
 * still read, and rewritten in the current one by the caller. A damaged file
 * is a CorruptFileError naming it, not "another network"; a file that cannot
 * be read is a StorageFailedError, not an absent one to write over.
 */
import type { FileFormat } from '../../lib/file-format.js'
import { CorruptFileError } from '../../lib/errors.js'
import { readSealed, writeSealed } from '../../lib/sealed-file.js'

export const GENESIS_MARK_FILE = 'genesis.hash'

export const GENESIS_MARK_FORMAT: FileFormat = {
  magic: 'MYCELGH1',
  name: 'genesis mark',
  recovery: 'if this data dir belongs to the network of the --genesis file given, stop the agent and move this file aside: ' +
    'the agent writes it again from that genesis (a block store of another network is then refused as not verifying)'
}

const HASH_HEX = /^[0-9a-f]{64}$/

/** The genesis hash (hex) a data dir belongs to, undefined when none is recorded; `legacy`: in the first layout. */
export async function readGenesisMark (path: string): Promise<{ hash: string, legacy: boolean } | undefined> {
  const read = await readSealed(GENESIS_MARK_FORMAT, path, (data) => {
    const text = Buffer.from(data).toString('latin1').trim()
    return HASH_HEX.test(text) ? Buffer.from(text, 'latin1') : undefined
  })
  if (read === undefined) return undefined
  const hash = Buffer.from(read.payload).toString('latin1')
  if (!HASH_HEX.test(hash)) throw new CorruptFileError(path, `${GENESIS_MARK_FORMAT.name} does not hold a genesis hash`, GENESIS_MARK_FORMAT.recovery)
  return { hash, legacy: read.legacy }
}

export async function writeGenesisMark (path: string, hash: string): Promise<void> {
  await writeSealed(GENESIS_MARK_FORMAT, path, Buffer.from(hash, 'latin1'))
}
