/**
 * The admin API token (`apiAuth: token`): 32 random bytes as 64 hex
 * characters in `<dataDir>/api.token`, mode 0600, made on the agent's first
 * start with that setting and kept across restarts (the CLI and scripts read
 * it: `--token-file`, `MYCEL_API_TOKEN_FILE`). Like the identity key it is a
 * credential: a file that others may read, or that is empty or garbled, stops
 * the agent with the file and the fix named, instead of serving with a
 * secret that may have leaked or that no client holds.
 */
import { randomBytes } from 'node:crypto'
import { chmod, open } from 'node:fs/promises'
import { join } from 'node:path'
import { writeFileDurable } from '../lib/durable-file.js'
import { ApiTokenFileError } from './errors.js'

export const API_TOKEN_FILE = 'api.token'
/** Random bytes in a token: 256 bits, as many as the identity key's seed. */
export const API_TOKEN_BYTES = 32
/** What the file holds: the token in hex, optionally followed by one newline (`openssl rand -hex 32 > api.token`). */
const TOKEN_PATTERN = new RegExp(`^[0-9a-f]{${API_TOKEN_BYTES * 2}}\\n?$`)

/** The token of `dataDir`, made (0600, atomically) when there is no file. Call under the data dir lock. */
export async function loadOrCreateApiToken (dataDir: string): Promise<string> {
  const path = join(dataDir, API_TOKEN_FILE)
  return (await readApiToken(path)) ?? await createApiToken(path)
}

async function createApiToken (path: string): Promise<string> {
  const token = randomBytes(API_TOKEN_BYTES).toString('hex')
  // Written to a temp file opened 0600 and renamed: never visible with wider permissions or half written.
  await writeFileDurable(path, token + '\n', 0o600)
  await chmod(path, 0o600) // the umask may have taken bits away; the owner must still read it
  return token
}

/** The token in `path`, or undefined when there is no file; ApiTokenFileError when it is unusable. */
export async function readApiToken (path: string): Promise<string | undefined> {
  let fh
  try {
    fh = await open(path, 'r')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new ApiTokenFileError(path, `cannot be read: ${(err as Error).message}`, 'make it readable by the user the agent runs as')
  }
  try {
    // The mode of the file read, not of a path that may have been replaced in between.
    const mode = (await fh.stat()).mode & 0o777
    if ((mode & 0o077) !== 0) {
      throw new ApiTokenFileError(path, `mode ${mode.toString(8).padStart(4, '0')} lets others than its owner read it`,
        `\`chmod 600 ${path}\` if nobody else could have read it, otherwise remove it and restart the agent to make a new token`)
    }
    const text = (await fh.readFile()).toString('utf8')
    if (!TOKEN_PATTERN.test(text)) {
      throw new ApiTokenFileError(path, text.length === 0 ? 'is empty' : `is not a token (expected ${API_TOKEN_BYTES * 2} lowercase hex characters)`,
        'remove it and restart the agent to make a new token (or write one: `openssl rand -hex 32`)')
    }
    return text.trimEnd()
  } finally {
    await fh.close()
  }
}
