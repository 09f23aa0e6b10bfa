/**
 * The `mycel` command tree: every command group registers here, one line
 * each. Commands throw; `runCli` prints one line (`mycel: ...`) and picks the
 * exit code for all of them (exit-codes.ts). `daemon/cli.ts` runs it as the
 * process; tests run it in-process.
 */
import { Command, CommanderError, type OutputConfiguration } from 'commander'
import { VERSION } from '../version.js'
import { registerAgentCommand } from './agent.js'
import { registerInitCommands } from './init.js'
import { registerMemberCommands } from './members.js'
import { registerConfigCommands } from './config.js'
import { registerRolesCommands } from './roles.js'
import { registerGenesisCommands } from './genesis.js'
import { registerCriticalCommands } from './critical.js'
import { registerPublisherCommands } from './publisher.js'
import { registerComponentCommands } from './component.js'
import { registerDeploymentCommands } from './deployments.js'
import { registerRolloutCommands } from './rollout.js'
import { registerCoreCommands } from './core.js'
import { registerAdmissionCommands } from './admission.js'
import { registerIdentityCommands } from './identity.js'
import { registerSecurityCommands } from './security.js'
import { registerAlertCommands } from './alerts.js'
import { registerTraceCommand } from './trace.js'
import { registerEmergencyCommands } from './emergency.js'
import { registerLogsCommand } from './logs.js'
import { registerCommandCommands } from './command.js'
import { EXIT_OK, exitCodeOf } from './exit-codes.js'

/** Where commander writes help and its own errors (default: stdout and stderr). */
export type CliOutput = Pick<OutputConfiguration, 'writeOut' | 'writeErr'>

/** The command tree; `output` is set before the commands are added, which copy it. */
export function createProgram (output: CliOutput = {}): Command {
  const program = new Command('mycel')
    .description('peer-to-peer management daemon')
    .version(VERSION)
    .exitOverride()
    // Commander's own usage errors, as one line in our format.
    .configureOutput({ ...output, outputError: (str, write) => { write(`mycel: ${str.replace(/^error: /, '').trim().replace(/\s*\n\s*/g, ' ')} (see --help)\n`) } })
  registerAgentCommand(program)
  registerInitCommands(program)
  registerMemberCommands(program)
  registerConfigCommands(program)
  registerRolesCommands(program)
  registerGenesisCommands(program)
  registerCriticalCommands(program)
  registerPublisherCommands(program)
  // `component`: publish and list releases (component.ts), deploy and undeploy them (deployments.ts).
  registerDeploymentCommands(registerComponentCommands(program))
  registerRolloutCommands(program)
  registerSecurityCommands(program)
  // `alerts`, `alert rules|inhibit|silence|silences|expire` (docs/monitoring.md).
  registerAlertCommands(program)
  // `core pack`: mycel's own core as a component (docs/core-update.md).
  registerCoreCommands(program)
  // `admission`: allowlist, revocations, join tokens (docs/security.md).
  registerAdmissionCommands(program)
  // `identity rotate`: a new node key handed over through critical config (docs/security.md).
  registerIdentityCommands(program)
  // `emergency freeze|thaw|status`: the management services stopped everywhere, the minimal core serving (docs/minimal-core.md).
  registerEmergencyCommands(program)
  // `logs`: the region's logs merged by time, `-f` follows (docs/logs.md).
  registerLogsCommand(program)
  // `command run|audit`: signed fan-out commands (docs/commands.md).
  registerCommandCommands(program)
  // `trace ID`: a traced operation's hops across the region, from the log stores (docs/tracing.md).
  registerTraceCommand(program)
  return program
}

/**
 * Run `mycel` with `args` (without node and the script). Resolves to the exit
 * code once the command returns: 0 also for `mycel agent`, whose agent goes
 * on running. Every error is one line on `writeErr`.
 */
export async function runCli (args: string[], output: CliOutput = {}): Promise<number> {
  const writeErr = output.writeErr ?? ((str: string) => { process.stderr.write(str) })
  try {
    await createProgram({ ...output, writeErr }).parseAsync(args, { from: 'user' })
    return EXIT_OK
  } catch (err) {
    // Commander has printed its own message (and --help/--version their output).
    if (!(err instanceof CommanderError)) writeErr(`mycel: ${(err as Error).message.split('\n')[0]}\n`)
    return exitCodeOf(err)
  }
}
