/**
 * An Ed25519 private key in a file: libp2p's protobuf layout (other libp2p
 * tools read it), mode 0600, written durably. The file checks itself: it
 * holds the 32-byte seed and the public key, and the public key is a
 * function of the seed. On load the key is rebuilt from the seed and
 * re-encoded; anything but the exact same bytes is damage
 * (CorruptFileError). Without that check a damaged byte either silently
 * changes the key's id or yields a key whose signatures nobody accepts.
 * Used for the node identity (daemon/identity.ts) and publisher keys
 * (protocols/artifacts/publisher-key.ts). A key read here signs through
 * lib/ed25519-key.ts fastSigningKey.
 */
import { chmod } from 'node:fs/promises'
import { generateKeyPairFromSeed, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { readFileIfExists, writeFileDurable } from './durable-file.js'
import { CorruptFileError } from './errors.js'
import { fastSigningKey } from './ed25519-key.js'

/** Ed25519 seed length, bytes (the raw private key is seed || public key). */
const SEED_BYTES = 32

/** Write `key` to `path` (0600, atomically and durably). */
export async function writeKeyFile (path: string, key: PrivateKey): Promise<void> {
  await writeFileDurable(path, privateKeyToProtobuf(key), 0o600)
  await chmod(path, 0o600)
}

/**
 * The Ed25519 key in `path`, or undefined when there is no file. `what`
 * names the key in errors ("identity key"); `recovery` is the operator's
 * step when the file is damaged.
 */
export async function readKeyFile (path: string, what: string, recovery: string): Promise<PrivateKey | undefined> {
  const buf = await readFileIfExists(path)
  if (buf === undefined) return undefined
  const corrupt = (problem: string): CorruptFileError => new CorruptFileError(path, `${what} ${problem}`, recovery)
  let privateKey: PrivateKey
  try {
    privateKey = privateKeyFromProtobuf(buf)
  } catch (err) {
    throw corrupt(`does not decode: ${(err as Error).message}`)
  }
  if (privateKey.type !== 'Ed25519') throw corrupt(`is ${privateKey.type}, expected Ed25519`)
  const rebuilt = await generateKeyPairFromSeed('Ed25519', privateKey.raw.subarray(0, SEED_BYTES))
  if (!Buffer.from(privateKeyToProtobuf(rebuilt)).equals(buf)) throw corrupt('is damaged (its public key does not match its seed)')
  // Signs with a KeyObject made once (lib/ed25519-key.ts): the same signatures, a fraction of the CPU.
  return fastSigningKey(privateKey)
}
