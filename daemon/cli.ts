#!/usr/bin/env node
/**
 * The `mycel` command. Every subcommand but `init`, `id`, `keygen`, `genesis`
 * and `agent` talks to a local agent's admin API (`--api`). Commands throw;
 * this file prints one line (`mycel: ...`) and picks the exit code for all of
 * them (cli/exit-codes.ts): 0 ok, 1 runtime failure, 2 bad usage or
 * configuration.
 */
import './polyfill.js'
import { Command, CommanderError } from 'commander'
import { VERSION } from './version.js'
import { registerAgentCommand } from './cli/agent.js'
import { registerInitCommands } from './cli/init.js'
import { registerMemberCommands } from './cli/members.js'
import { registerConfigCommands } from './cli/config.js'
import { registerRolesCommands } from './cli/roles.js'
import { registerGenesisCommands } from './cli/genesis.js'
import { registerCriticalCommands } from './cli/critical.js'
import { guardOutput } from './cli/output.js'
import { exitCodeOf } from './cli/exit-codes.js'
// CLI: command groups register here, one line each.

guardOutput()

const program = new Command('mycel')
  .description('peer-to-peer management daemon')
  .version(VERSION)
  .exitOverride()
  // Commander's own usage errors, as one line in our format.
  .configureOutput({ outputError: (str, write) => { write(`mycel: ${str.replace(/^error: /, '').trim().replace(/\s*\n\s*/g, ' ')} (see --help)\n`) } })

registerAgentCommand(program)
registerInitCommands(program)
registerMemberCommands(program)
registerConfigCommands(program)
registerRolesCommands(program)
registerGenesisCommands(program)
registerCriticalCommands(program)

try {
  await program.parseAsync(process.argv)
} catch (err) {
  // Commander has printed its own message (and --help/--version their output).
  if (!(err instanceof CommanderError)) process.stderr.write(`mycel: ${(err as Error).message.split('\n')[0]}\n`)
  process.exit(exitCodeOf(err))
}
