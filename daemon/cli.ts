#!/usr/bin/env node
/**
 * The `mycel` command. Every subcommand but `init`, `keygen`, `genesis` and
 * `agent` talks to a local agent's admin API (`--api`). Exit codes: 0 ok,
 * 1 runtime failure, 2 bad usage or configuration.
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
// CLI: command groups register here, one line each.

const program = new Command('mycel')
  .description('peer-to-peer management daemon')
  .version(VERSION)
  .exitOverride()
  .showHelpAfterError('(run with --help for usage)')

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
  if (err instanceof CommanderError) {
    // --help and --version end here with exit code 0.
    process.exit(err.exitCode === 0 ? 0 : 2)
  }
  process.stderr.write(`mycel: ${(err as Error).message}\n`)
  process.exit(1)
}
