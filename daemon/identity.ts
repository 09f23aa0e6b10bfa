/**
 * The node's identity: an Ed25519 libp2p key kept in the data dir with mode
 * 0600. The peer id derived from it is the node's name everywhere.
 *
 * The file stays in libp2p's protobuf layout (other libp2p tools read it)
 * and checks itself: it holds the 32-byte seed and the public key, and the
 * public key is a function of the seed. On load the key is rebuilt from the
 * seed and re-encoded; anything but the exact same bytes is damage
 * (CorruptFileError). Without that check a damaged byte either silently
 * changes the peer id or yields a key whose signatures nobody accepts.
 */
import { chmod, mkdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair, generateKeyPairFromSeed, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { readFileIfExists, writeFileDurable } from '../lib/durable-file.js'
import { CorruptFileError } from '../lib/errors.js'
import { IdentityExistsError } from './errors.js'

export const IDENTITY_FILE = 'identity.key'

/** Ed25519 seed length, bytes (the raw private key is seed || public key). */
const SEED_BYTES = 32

const IDENTITY_RECOVERY = 'restore identity.key from a backup; moving it aside makes the agent create a new identity, ' +
  'with a new peer id (update bootstrap addresses, genesis and ACL entries that name the old one)'

export interface Identity {
  privateKey: PrivateKey
  peerId: string
  path: string
}

export async function createIdentity (dataDir: string, opts: { force?: boolean } = {}): Promise<Identity> {
  const path = join(dataDir, IDENTITY_FILE)
  const exists = await stat(path).then(() => true, () => false)
  if (exists && opts.force !== true) {
    throw new IdentityExistsError(`an identity already exists at ${path}; pass --force to replace it`)
  }
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const privateKey = await generateKeyPair('Ed25519')
  await writeFileDurable(path, privateKeyToProtobuf(privateKey), 0o600)
  await chmod(path, 0o600)
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString(), path }
}

export async function loadIdentity (dataDir: string): Promise<Identity | undefined> {
  const path = join(dataDir, IDENTITY_FILE)
  const buf = await readFileIfExists(path)
  if (buf === undefined) return undefined
  const corrupt = (problem: string): CorruptFileError => new CorruptFileError(path, `identity key ${problem}`, IDENTITY_RECOVERY)
  let privateKey: PrivateKey
  try {
    privateKey = privateKeyFromProtobuf(buf)
  } catch (err) {
    throw corrupt(`does not decode: ${(err as Error).message}`)
  }
  if (privateKey.type !== 'Ed25519') throw corrupt(`is ${privateKey.type}, expected Ed25519`)
  const rebuilt = await generateKeyPairFromSeed('Ed25519', privateKey.raw.subarray(0, SEED_BYTES))
  if (!Buffer.from(privateKeyToProtobuf(rebuilt)).equals(buf)) throw corrupt('is damaged (its public key does not match its seed)')
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString(), path }
}

export async function loadOrCreateIdentity (dataDir: string): Promise<Identity> {
  return (await loadIdentity(dataDir)) ?? await createIdentity(dataDir)
}
