/**
 * The `mycel` command tree: every command group registers here, one line
 * each. Commands throw; `runCli` prints one line (`mycel: ...`) and picks the
 * exit code for all of them (exit-codes.ts). `daemon/cli.ts` runs it as the
 * process; tests run it in-process.
 */
import { Command, CommanderError, type OutputConfiguration } from 'commander'
import { VERSION } from '../version.js'
import { EXIT_OK, exitCodeOf } from './exit-codes.js'

/** Where commander writes help and its own errors (default: stdout and stderr). */
export type CliOutput = Pick<OutputConfiguration, 'writeOut' | 'writeErr'>

type Register = (program: Command) => void

/**
 * Every command group in help order: the top-level names it registers and how
 * to load it. A group's module is imported only when the command line names
 * it (or help lists everything): `mycel init` on a new host need not load the
 * agent's config schema, and `mycel members` need not load libp2p. The test
 * in test/daemon/cli-groups.test.ts keeps `names` equal to what each registers.
 */
export const COMMAND_GROUPS: ReadonlyArray<{ names: readonly string[], load: () => Promise<Register> }> = [
  { names: ['agent'], load: async () => (await import('./agent.js')).registerAgentCommand },
  { names: ['init', 'id', 'keygen'], load: async () => (await import('./init.js')).registerInitCommands },
  { names: ['members', 'status'], load: async () => (await import('./members.js')).registerMemberCommands },
  { names: ['config'], load: async () => (await import('./config.js')).registerConfigCommands },
  { names: ['roles'], load: async () => (await import('./roles.js')).registerRolesCommands },
  { names: ['genesis'], load: async () => (await import('./genesis.js')).registerGenesisCommands },
  { names: ['critical'], load: async () => (await import('./critical.js')).registerCriticalCommands },
  { names: ['publisher'], load: async () => (await import('./publisher.js')).registerPublisherCommands },
  // `component`: publish and list releases (component.ts), deploy and undeploy them (deployments.ts).
  {
    names: ['component'],
    load: async () => {
      const [{ registerComponentCommands }, { registerDeploymentCommands }] = await Promise.all([import('./component.js'), import('./deployments.js')])
      return program => { registerDeploymentCommands(registerComponentCommands(program)) }
    }
  },
  { names: ['rollout'], load: async () => (await import('./rollout.js')).registerRolloutCommands },
  { names: ['security'], load: async () => (await import('./security.js')).registerSecurityCommands },
  // `alerts`, `alert rules|inhibit|silence|silences|expire` (docs/monitoring.md).
  { names: ['alerts', 'alert'], load: async () => (await import('./alerts.js')).registerAlertCommands },
  // `core pack`: mycel's own core as a component (docs/core-update.md).
  { names: ['core'], load: async () => (await import('./core.js')).registerCoreCommands },
  // `admission`: allowlist, revocations, join tokens (docs/security.md).
  { names: ['admission'], load: async () => (await import('./admission.js')).registerAdmissionCommands },
  // `identity rotate`: a new node key handed over through critical config (docs/security.md).
  { names: ['identity'], load: async () => (await import('./identity.js')).registerIdentityCommands },
  // `emergency freeze|thaw|status`: the management services stopped everywhere, the minimal core serving (docs/minimal-core.md).
  { names: ['emergency'], load: async () => (await import('./emergency.js')).registerEmergencyCommands },
  // `logs`: the region's logs merged by time, `-f` follows (docs/logs.md).
  { names: ['logs'], load: async () => (await import('./logs.js')).registerLogsCommand },
  // `command run|audit`: signed fan-out commands (docs/commands.md).
  { names: ['command'], load: async () => (await import('./command.js')).registerCommandCommands },
  // `trace ID`: a traced operation's hops across the region, from the log stores (docs/tracing.md).
  { names: ['trace'], load: async () => (await import('./trace.js')).registerTraceCommand }
]

/**
 * The command tree for `args`: only the group the first argument names, none
 * for `--version`, or every group when it names none (help, a typo commander
 * should answer with its suggestions). `output` is set before the commands are
 * added, which copy it.
 */
export async function createProgram (output: CliOutput = {}, args?: readonly string[]): Promise<Command> {
  const program = new Command('mycel')
    .description('peer-to-peer management daemon')
    .version(VERSION)
    .exitOverride()
    // Commander's own usage errors, as one line in our format.
    .configureOutput({ ...output, outputError: (str, write) => { write(`mycel: ${str.replace(/^error: /, '').trim().replace(/\s*\n\s*/g, ' ')} (see --help)\n`) } })
  const first = args?.[0]
  const named = COMMAND_GROUPS.find(g => first !== undefined && g.names.includes(first))
  const groups = named !== undefined ? [named] : first === '--version' || first === '-V' ? [] : COMMAND_GROUPS
  const registers = await Promise.all(groups.map(async g => await g.load()))
  for (const register of registers) register(program)
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
    await (await createProgram({ ...output, writeErr }, args)).parseAsync(args, { from: 'user' })
    return EXIT_OK
  } catch (err) {
    // Commander has printed its own message (and --help/--version their output).
    if (!(err instanceof CommanderError)) writeErr(`mycel: ${(err as Error).message.split('\n')[0]}\n`)
    return exitCodeOf(err)
  }
}
