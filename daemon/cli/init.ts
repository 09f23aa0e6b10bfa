/** `mycel init` and `mycel keygen`: create an identity or a network key. */
import type { Command } from 'commander'
import { writeFile, stat, mkdir } from 'node:fs/promises'
import { dirname, resolve, join } from 'node:path'
import { generateKey } from '@libp2p/pnet'
import { createIdentity } from '../identity.js'
import { defaultDataDir } from '../config.js'
import { fail, printJson } from './output.js'

export function registerInitCommands (program: Command): void {
  program.command('init')
    .description('create a data directory and an Ed25519 identity; prints the peer id')
    .option('-d, --data-dir <dir>', 'data directory (default ~/.mycel)')
    .option('-r, --region <name>', 'region to record in the data dir config (default "default")')
    .option('--force', 'replace an existing identity (the node gets a new peer id)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { dataDir?: string, region?: string, force?: boolean, json?: boolean }) => {
      const dataDir = resolve(opts.dataDir ?? defaultDataDir())
      if (opts.region !== undefined && !/^[a-z0-9][a-z0-9._-]{0,62}$/.test(opts.region)) {
        fail(`invalid region "${opts.region}": lowercase letters, digits, . _ - (max 63)`, 2)
      }
      try {
        const id = await createIdentity(dataDir, { force: opts.force })
        const configPath = join(dataDir, 'config.yaml')
        if (opts.region !== undefined) {
          await writeFile(configPath, `# written by mycel init\ndataDir: ${JSON.stringify(dataDir)}\nregion: ${opts.region}\n`, { mode: 0o644 })
        }
        if (opts.json === true) printJson({ peerId: id.peerId, dataDir, identity: id.path, region: opts.region ?? 'default' })
        else process.stdout.write(`${id.peerId}\n`)
      } catch (err) {
        fail((err as Error).message, (err as Error).name === 'IdentityExistsError' ? 2 : 1)
      }
    })

  program.command('keygen')
    .description('create a libp2p private-network pre-shared key file (mode 0600)')
    .requiredOption('--network-key <file>', 'where to write the key')
    .option('--force', 'overwrite an existing key file')
    .action(async (opts: { networkKey: string, force?: boolean }) => {
      const path = resolve(opts.networkKey)
      if (opts.force !== true && await stat(path).then(() => true, () => false)) {
        fail(`${path} exists; pass --force to overwrite`, 2)
      }
      const key = new Uint8Array(95)
      generateKey(key)
      await mkdir(dirname(path), { recursive: true })
      await writeFile(path, key, { mode: 0o600 })
      process.stdout.write(`${path}\n`)
    })
}
