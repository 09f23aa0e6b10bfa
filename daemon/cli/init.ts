/**
 * `mycel init`, `mycel id` and `mycel keygen`: create or show an identity,
 * create a network key. Offline: no agent needed.
 *
 * `init` writes only the identity. Everything else about a host (region,
 * addresses, bootstrap peers) is the agent's configuration: flags or the
 * `--config` file, which is the one place the agent reads it from.
 */
import type { Command } from 'commander'
import { stat, mkdir } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { generateKey } from '@libp2p/pnet'
import { writeFileDurable } from '../../lib/durable-file.js'
import { createIdentity, loadIdentity } from '../identity.js'
import { defaultDataDir } from '../data-dir.js'
import { print, printJson } from './output.js'
import { IdentityExistsError, NoIdentityError, UsageError } from '../errors.js'

export function registerInitCommands (program: Command): void {
  program.command('init')
    .description('create a data directory and an Ed25519 identity; prints the peer id')
    .option('-d, --data-dir <dir>', 'data directory (default ~/.mycel)')
    .option('--force', 'replace an existing identity (the node gets a new peer id)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { dataDir?: string, force?: boolean, json?: boolean }) => {
      const dataDir = resolve(opts.dataDir ?? defaultDataDir())
      if (opts.force !== true) {
        const existing = await loadIdentity(dataDir)
        if (existing !== undefined) {
          throw new IdentityExistsError(`${dataDir} already has an identity, peer id ${existing.peerId}; pass --force to replace it (the node gets a new peer id)`)
        }
      }
      printIdentity(await createIdentity(dataDir, { force: opts.force }), dataDir, opts.json === true)
    })

  program.command('id')
    .description('print the peer id of a data directory\'s identity (no agent needed)')
    .option('-d, --data-dir <dir>', 'data directory (default ~/.mycel)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { dataDir?: string, json?: boolean }) => {
      const dataDir = resolve(opts.dataDir ?? defaultDataDir())
      const id = await loadIdentity(dataDir)
      if (id === undefined) throw new NoIdentityError(`no identity in ${dataDir}: create one with \`mycel init --data-dir ${dataDir}\``)
      printIdentity(id, dataDir, opts.json === true)
    })

  program.command('keygen')
    .description('create a libp2p private-network pre-shared key file (mode 0600)')
    .requiredOption('--network-key <file>', 'where to write the key')
    .option('--force', 'overwrite an existing key file')
    .action(async (opts: { networkKey: string, force?: boolean }) => {
      const path = resolve(opts.networkKey)
      if (opts.force !== true && await stat(path).then(() => true, () => false)) {
        throw new UsageError(`${path} exists; pass --force to overwrite`)
      }
      const key = new Uint8Array(95)
      generateKey(key)
      await mkdir(dirname(path), { recursive: true })
      await writeFileDurable(path, key, 0o600)
      print(`${path}\n`)
    })
}

/** What `init` and `id` print alike: the peer id, or with --json the peer id, data dir and key file. */
function printIdentity (id: { peerId: string, path: string }, dataDir: string, json: boolean): void {
  if (json) printJson({ peerId: id.peerId, dataDir, identity: id.path })
  else print(`${id.peerId}\n`)
}
