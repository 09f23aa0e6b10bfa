/** `mycel agent`: run the daemon in the foreground (systemd, a terminal, a test). */
import type { Command } from 'commander'
import { Agent } from '../agent.js'
import { createLogger, type LogLevel } from '../logger.js'
import { defaults, devDefaults, readConfigFile, resolveConfig, type AgentConfig } from '../config.js'
import { fail } from './output.js'

/** Start errors that are answers, not bugs: printed as one line without a stack. */
const EXPECTED_START_REFUSALS = new Set(['DataDirLockedError', 'CorruptFileError', 'StorageFailedError'])

const collect = (v: string, prev: string[] = []): string[] => [...prev, v]
const list = (v: string, prev: string[] = []): string[] => [...prev, ...v.split(',').map(s => s.trim()).filter(Boolean)]

interface AgentFlags {
  config?: string
  dev?: boolean
  dataDir?: string
  listen?: string[]
  announce?: string[]
  bootstrap?: string[]
  region?: string
  api?: string
  networkKey?: string
  profile?: AgentConfig['profile']
  logLevel?: AgentConfig['logLevel']
  roles?: string[]
  genesis?: string
}

export function registerAgentCommand (program: Command): void {
  program.command('agent')
    .description('run the mycel daemon in the foreground')
    .option('-c, --config <file>', 'config file (YAML or JSON; same keys as the flags, camelCase)')
    .option('--dev', 'single node on loopback with a temporary data dir and fast timers')
    .option('-d, --data-dir <dir>', 'data directory (default ~/.mycel)')
    .option('-l, --listen <multiaddr>', 'listen address, repeatable (default /ip4/0.0.0.0/tcp/4100)', collect)
    .option('--announce <multiaddr>', 'address to advertise instead of the listen addresses, repeatable', collect)
    .option('-b, --bootstrap <multiaddr>', 'bootstrap peer (with /p2p/<id>), repeatable', collect)
    .option('-r, --region <name>', 'region of this host (default "default")')
    .option('--api <host:port>', 'admin API address (default 127.0.0.1:8900; port 0 picks a free one)')
    .option('--network-key <file>', 'libp2p private-network pre-shared key file')
    .option('--profile <name>', 'timer profile: lan, wan or test (default lan)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default info)')
    .option('--roles <list>', 'management roles this node may hold, comma separated (default all)', list)
    .option('--genesis <file>', 'genesis file of the network (critical config)')
    .action(async (flags: AgentFlags) => { await runAgent(flags) })
}

async function runAgent (flags: AgentFlags): Promise<void> {
  let config: AgentConfig
  try {
    const file = flags.config !== undefined ? await readConfigFile(flags.config) : {}
    const { config: _c, dev, ...rest } = flags
    config = resolveConfig(defaults(), dev === true ? devDefaults() : {}, file, rest as Partial<AgentConfig>)
  } catch (err) {
    fail((err as Error).message, 2)
  }
  const logger = createLogger(config.logLevel as LogLevel)
  const agent = new Agent(config, logger)

  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now')
      process.exit(130)
    }
    stopping = true
    logger.info({ signal }, 'shutting down (leave, flush, close)')
    agent.stop().then(() => { logger.flush(); process.exit(0) }, (err) => { logger.error({ err }, 'shutdown failed'); process.exit(1) })
  }
  process.on('SIGINT', () => { stop('SIGINT') })
  process.on('SIGTERM', () => { stop('SIGTERM') })
  // Network input must never crash the daemon; if a library lets an error
  // escape anyway, log it loudly and keep serving rather than drop the host.
  process.on('uncaughtException', (err) => { logger.error({ err }, 'uncaught exception (kept running)') })
  process.on('unhandledRejection', (err) => { logger.error({ err }, 'unhandled rejection (kept running)') })

  try {
    await agent.start()
  } catch (err) {
    const e = err as Error
    // Refusals we expect (another agent holds the data dir, a damaged file
    // with its recovery step) are one human line; anything else also gets
    // the logged stack.
    if (!EXPECTED_START_REFUSALS.has(e.name)) {
      logger.error({ err: e }, 'agent failed to start')
      logger.flush()
    }
    const recovery = (e as { recovery?: string }).recovery
    // Exit 2: bad configuration; 1: the data dir is in use or damaged (retrying later can succeed).
    fail(`agent failed to start: ${e.message}${recovery !== undefined ? `; to recover: ${recovery}` : ''}`, e.name === 'ConfigError' ? 2 : 1)
  }
}
