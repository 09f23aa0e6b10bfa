/**
 * The node's identity: an Ed25519 libp2p key kept in the data dir with mode
 * 0600. The peer id derived from it is the node's name everywhere.
 */
import { mkdir, readFile, rename, open, chmod, stat } from 'node:fs/promises'
import { join, dirname } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { IdentityExistsError, BadIdentityError } from './errors.js'

export const IDENTITY_FILE = 'identity.key'

export interface Identity {
  privateKey: PrivateKey
  peerId: string
  path: string
}

/** Write a file so that a crash leaves either the old or the new content, never a torn one. */
export async function writeFileDurable (path: string, data: Uint8Array | string, mode = 0o600): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
  const tmp = `${path}.tmp-${process.pid}`
  const fh = await open(tmp, 'w', mode)
  try {
    await fh.writeFile(data)
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, path)
  const dir = await open(dirname(path), 'r')
  try { await dir.sync() } finally { await dir.close() }
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
  let buf: Buffer
  try {
    buf = await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  let privateKey: PrivateKey
  try {
    privateKey = privateKeyFromProtobuf(buf)
  } catch (err) {
    throw new BadIdentityError(`cannot read identity ${path}: ${(err as Error).message}`)
  }
  if (privateKey.type !== 'Ed25519') throw new BadIdentityError(`identity ${path} is ${privateKey.type}, expected Ed25519`)
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString(), path }
}

export async function loadOrCreateIdentity (dataDir: string): Promise<Identity> {
  return (await loadIdentity(dataDir)) ?? await createIdentity(dataDir)
}

