/**
 * `mycel genesis create|show`: write and inspect the genesis file of a
 * network (critical config, docs/bft.md). Works offline: no agent needed.
 * Every agent of the network must be started with the same file
 * (`mycel agent --genesis FILE`).
 */
import type { Command } from 'commander'
import { readFile } from 'node:fs/promises'
import { writeFileDurable } from '../../lib/durable-file.js'
import { createGenesis, genesisHashHex, genesisToJson, loadGenesis } from '../../protocols/bft/genesis.js'
import { InvalidGenesisError } from '../../protocols/bft/errors.js'
import { POLICY_KEY_RULES } from '../../policy/key-rules.js'
import { checkGenesisValues } from '../../protocols/bft/critical-state.js'
import { print, printJson } from './output.js'
import { UsageError } from '../errors.js'

interface CreateFlags {
  networkId: string
  validator: string[]
  admin: string[]
  set: string[]
  maxBlockEntries?: string
  maxValueBytes?: string
  out?: string
  force?: boolean
}

const collect = (v: string, prev: string[]): string[] => [...prev, ...v.split(',').map(s => s.trim()).filter(s => s.length > 0)]

export function registerGenesisCommands (program: Command): void {
  const genesis = program.command('genesis').description('create and inspect the genesis file of a network (critical config)')

  genesis.command('create')
    .description('write a genesis file: network id, validators, admins, initial critical values')
    .requiredOption('--network-id <id>', 'name of the network (letters, digits, . _ -)')
    .option('--validator <peerId>', 'validator peer id (repeat, or comma separated); n = 3f+1 tolerates f faults', collect, [])
    .option('--admin <peerId>', 'admin peer id allowed to propose critical changes (repeat)', collect, [])
    .option('--set <key=value>', 'initial critical value (repeat)', (v: string, prev: string[]) => [...prev, v], [])
    .option('--max-block-entries <n>', 'entries per block (network-wide)')
    .option('--max-value-bytes <n>', 'largest critical value (network-wide)')
    .option('--out <file>', 'write here instead of stdout')
    .option('--force', 'overwrite an existing --out file')
    .action(async (flags: CreateFlags) => {
      if (flags.validator.length === 0) throw new UsageError('at least one --validator is required')
      if (flags.admin.length === 0) throw new UsageError('at least one --admin is required')
      const values: Record<string, string> = {}
      for (const kv of flags.set) {
        const i = kv.indexOf('=')
        if (i <= 0) throw new UsageError(`--set expects key=value, got ${JSON.stringify(kv)}`)
        values[kv.slice(0, i)] = kv.slice(i + 1)
      }
      const params: Record<string, number> = {}
      if (flags.maxBlockEntries !== undefined) params.maxBlockEntries = Number(flags.maxBlockEntries)
      if (flags.maxValueBytes !== undefined) params.maxValueBytes = Number(flags.maxValueBytes)
      // InvalidGenesisError (exit 2) names what is wrong.
      const g = createGenesis({ networkId: flags.networkId, validators: flags.validator, admins: flags.admin, values, params })
      // Values of keys a policy owns (e.g. `publishers`) follow the rule every validator runs.
      checkGenesisValues(g, POLICY_KEY_RULES)
      const text = genesisToJson(g)
      if (flags.out === undefined) {
        print(text)
        return
      }
      const exists = await readFile(flags.out).then(() => true, () => false)
      if (exists && flags.force !== true) throw new UsageError(`${flags.out} exists; pass --force to replace it`)
      await writeFileDurable(flags.out, text, 0o644)
      const n = g.validators.length
      process.stderr.write(`genesis for network ${g.networkId} written to ${flags.out}\n` +
        `  hash ${genesisHashHex(g)}\n  ${n} validator(s), tolerates ${Math.floor((n - 1) / 3)} faulty; ${g.admins.length} admin(s)\n`)
    })

  genesis.command('show')
    .description('validate a genesis file and print it with its hash')
    .argument('<file>', 'genesis file')
    .option('--json', 'machine-readable output')
    .action(async (file: string, opts: { json?: boolean }) => {
      const g = await loadGenesis(file)
      const hash = genesisHashHex(g)
      if (opts.json === true) { printJson({ hash, ...g }); return }
      const n = g.validators.length
      print(`network     ${g.networkId}\nhash        ${hash}\ncreated     ${g.createdAt}\n` +
        `validators  ${n} (tolerates ${Math.floor((n - 1) / 3)} faulty)\n${g.validators.map(v => `  ${v}\n`).join('')}` +
        `admins      ${g.admins.length}\n${g.admins.map(v => `  ${v}\n`).join('')}` +
        `values      ${Object.keys(g.values).length}\n${Object.entries(g.values).map(([k, v]) => `  ${k} = ${v}\n`).join('')}`)
    })
}
