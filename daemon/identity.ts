/**
 * The node's identity: an Ed25519 libp2p key kept in the data dir with mode
 * 0600 (lib/key-file.ts: libp2p's protobuf layout, checked on load). The
 * peer id derived from it is the node's name everywhere.
 */
import { mkdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { readKeyFile, writeKeyFile } from '../lib/key-file.js'
import { fastSigningKey } from '../lib/ed25519-key.js'
import { IdentityExistsError } from './errors.js'

export const IDENTITY_FILE = 'identity.key'

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
  const privateKey = fastSigningKey(await generateKeyPair('Ed25519'))
  await writeKeyFile(path, privateKey)
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString(), path }
}

export async function loadIdentity (dataDir: string): Promise<Identity | undefined> {
  const path = join(dataDir, IDENTITY_FILE)
  const privateKey = await readKeyFile(path, 'identity key', IDENTITY_RECOVERY)
  if (privateKey === undefined) return undefined
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString(), path }
}

export async function loadOrCreateIdentity (dataDir: string): Promise<Identity> {
  return (await loadIdentity(dataDir)) ?? await createIdentity(dataDir)
}
