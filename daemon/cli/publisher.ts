/**
 * `mycel publisher keygen --out FILE` and `mycel publisher id --key FILE`:
 * the key a publisher signs component manifests with (docs/components.md,
 * "Publisher keys and signing"). Both print the publisher id, which the
 * network trusts through critical config key `publishers` (or the agent
 * config's `publishers` without a genesis). Local only: no agent involved.
 */
import { resolve } from 'node:path'
import type { Command } from 'commander'
import { generatePublisherKey, loadPublisherKey } from '../../protocols/artifacts/publisher-key.js'
import { print, printJson } from './output.js'
import { UsageError } from '../errors.js'

export function registerPublisherCommands (program: Command): void {
  const publisher = program.command('publisher').description('keys that sign component manifests')

  publisher.command('keygen')
    .description('create a publisher key (Ed25519, mode 0600) and print its publisher id')
    .requiredOption('--out <file>', 'where to write the key')
    .option('--force', 'replace an existing key file (its publisher id is lost)')
    .option('--json', 'print {publisherId, key} as JSON')
    .action(async (opts: { out: string, force?: boolean, json?: boolean }) => {
      const path = resolve(opts.out)
      const key = await generatePublisherKey(path, { force: opts.force === true })
      printPublisher(key.publisherId, path, opts.json === true)
    })

  publisher.command('id')
    .description('print the publisher id of a key file')
    .requiredOption('--key <file>', 'the publisher key file')
    .option('--json', 'print {publisherId, key} as JSON')
    .action(async (opts: { key: string, json?: boolean }) => {
      const path = resolve(opts.key)
      const key = await loadPublisherKey(path).catch((err: unknown) => {
        // A damaged key named on the command line is a bad argument (exit 2), not a runtime failure.
        throw (err as Error).name === 'CorruptFileError' ? new UsageError((err as Error).message) : err
      })
      printPublisher(key.publisherId, path, opts.json === true)
    })
}

function printPublisher (publisherId: string, path: string, json: boolean): void {
  if (json) printJson({ publisherId, key: path })
  else print(`${publisherId}\n`)
}
