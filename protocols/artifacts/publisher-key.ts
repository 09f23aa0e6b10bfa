/**
 * Publisher keys: an Ed25519 key in the same self-checking file as the node
 * identity (lib/key-file.ts, libp2p's protobuf layout, mode 0600). The
 * publisher id is the key's libp2p peer id string: printable, and it carries
 * the public key, so any node verifies a manifest from the id alone (as
 * wire/signing.ts does for every signer). A publisher key is not a node
 * identity: it lives wherever the publisher builds, never in a data dir.
 */
import { mkdir, stat } from 'node:fs/promises'
import { dirname } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { readKeyFile, writeKeyFile } from '../../lib/key-file.js'
import { PublisherKeyExistsError, PublisherKeyNotFoundError } from './errors.js'

const PUBLISHER_KEY_RECOVERY = 'restore the publisher key from a backup; a new key (`mycel publisher keygen`) has a new publisher id, ' +
  'which the network must trust (critical config key `publishers`) before it accepts what it signs'

export interface PublisherKey {
  privateKey: PrivateKey
  /** The printable publisher id (a libp2p peer id string). */
  publisherId: string
}

/** The publisher id of a key. */
export function publisherIdOf (key: PrivateKey): string {
  return peerIdFromPrivateKey(key).toString()
}

/** `mycel publisher keygen --out FILE`: make a key, write it (refusing to replace one unless `force`). */
export async function generatePublisherKey (path: string, opts: { force?: boolean } = {}): Promise<PublisherKey> {
  const exists = await stat(path).then(() => true, () => false)
  if (exists && opts.force !== true) throw new PublisherKeyExistsError(`a publisher key already exists at ${path}; pass --force to replace it`)
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  const privateKey = await generateKeyPair('Ed25519')
  await writeKeyFile(path, privateKey)
  return { privateKey, publisherId: publisherIdOf(privateKey) }
}

/** Load a publisher key; PublisherKeyNotFoundError without a file, CorruptFileError for a damaged one. */
export async function loadPublisherKey (path: string): Promise<PublisherKey> {
  const privateKey = await readKeyFile(path, 'publisher key', PUBLISHER_KEY_RECOVERY)
  if (privateKey === undefined) throw new PublisherKeyNotFoundError(`no publisher key at ${path}; create one with \`mycel publisher keygen --out ${path}\``)
  return { privateKey, publisherId: publisherIdOf(privateKey) }
}
