/** `mycel agent`: run the daemon in the foreground (systemd, a terminal, a test). */
import { Option, type Command } from 'commander'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createLogger, type LogLevel } from '../logger.js'
import { API_AUTH_MODES, API_INSECURE_REMOTE_REMOVED, checkReferencedFiles, defaults, devDefaults, readConfigFile, resolveConfig, type AgentConfig } from '../config.js'
import { startupErrorMessage } from './startup-error.js'
import { ConfigError } from '../errors.js'
import { collectLabel, parseApiAddress, parseRegion } from './options.js'
import { printJson } from './output.js'
import { EXIT_SWITCH_CORE } from './exit-codes.js'
import { LAUNCHER_ENV } from '../../launcher/contract.js'

const collect = (v: string, prev: string[] = []): string[] => [...prev, v]
const list = (v: string, prev: string[] = []): string[] => [...prev, ...v.split(',').map(s => s.trim()).filter(Boolean)]

interface AgentFlags {
  config?: string
  dev?: boolean
  check?: boolean
  dataDir?: string
  listen?: string[]
  announce?: string[]
  bootstrap?: string[]
  region?: string
  api?: string
  apiAuth?: AgentConfig['apiAuth']
  /** Removed; kept only to say what replaced it. */
  apiInsecureRemote?: boolean
  networkKey?: string
  profile?: AgentConfig['profile']
  logLevel?: AgentConfig['logLevel']
  roles?: string[]
  genesis?: string
  joinToken?: string
  /** `--publisher ID`, repeatable: the config key `publishers`. */
  publisher?: string[]
  /** `--label KEY=VALUE`, repeatable: the config key `labels`. */
  label?: Record<string, string>
  componentUser?: string
  /** `--alertmanager URL`, repeatable: the config key `alertmanagers`. */
  alertmanager?: string[]
  /** `--alert-webhook URL`, repeatable: the config key `alertWebhooks`. */
  alertWebhook?: string[]
  otlpEndpoint?: string
}

export function registerAgentCommand (program: Command): void {
  program.command('agent')
    .description('run the mycel daemon in the foreground')
    .option('-c, --config <file>', 'config file (YAML or JSON; same keys as the flags, camelCase)')
    .option('--dev', 'single node on loopback with fast timers; a temporary data dir (removed on exit) unless --data-dir is given')
    .option('--check', 'validate the configuration and the files it names (genesis, network key), print it as JSON and exit')
    .option('-d, --data-dir <dir>', 'data directory (default ~/.mycel)')
    .option('-l, --listen <multiaddr>', 'listen address, repeatable (default /ip4/0.0.0.0/tcp/4100)', collect)
    .option('--announce <multiaddr>', 'address to advertise instead of the listen addresses, repeatable', collect)
    .option('-b, --bootstrap <multiaddr>', 'bootstrap peer (with /p2p/<id>), repeatable', collect)
    .option('-r, --region <name>', 'region of this host (default "default")', parseRegion)
    .option('--api <host:port>', 'admin API address (default 127.0.0.1:8900; port 0 picks a free one; loopback only unless --api-auth token)', parseApiAddress)
    .addOption(new Option('--api-auth <mode>', 'admin API authentication: none (default; loopback --api only) or token (bearer token in <data dir>/api.token, made on first start)').choices(API_AUTH_MODES))
    .addOption(new Option('--api-insecure-remote').hideHelp())
    .option('--network-key <file>', 'libp2p private-network pre-shared key file')
    .option('--profile <name>', 'timer profile: lan, wan or test (default lan)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default info)')
    .option('--roles <list>', 'management roles this node may hold, comma separated (default all)', list)
    .option('--genesis <file>', 'genesis file of the network (critical config)')
    .option('--join-token <token>', 'join a network that runs an allowlist with this token (mycel admission token create); needs --genesis')
    .option('--publisher <id>', 'trust component manifests signed by this publisher id, repeatable (only without --genesis: with one, critical config key "publishers" decides)', collect)
    .option('--component-user <user>', 'run components as this user (name, name:group or uid[:gid]; default nobody when the agent is root)')
    .option('--label <key=value>', 'a label of this node, repeatable; deployments\' --constraint KEY=VALUE match it', collectLabel)
    .option('--alertmanager <url>', 'deliver the region\'s alerts to this Alertmanager (base URL) while this node holds the monitoring role, repeatable', collect)
    .option('--alert-webhook <url>', 'send the region\'s alert notifications to this webhook (Alertmanager webhook format), repeatable', collect)
    .option('--otlp-endpoint <url>', 'also export this node\'s spans over OTLP/HTTP to this traces URL (e.g. http://collector:4318/v1/traces)')
    .action(async (flags: AgentFlags) => { await runAgent(flags) })
}

/**
 * Flags, file and defaults → a validated config whose files (genesis, network
 * key) were read. Throws ConfigError (exit 2) before anything starts.
 * `--dev` without a data dir makes a temporary one, returned as `tempDir`:
 * the caller removes it when the agent stops.
 */
async function loadAgentConfig (flags: AgentFlags): Promise<{ config: AgentConfig, tempDir?: string }> {
  const { config: file, dev, check: _check, publisher, label, alertmanager, alertWebhook, apiInsecureRemote, ...rest } = flags
  if (apiInsecureRemote === true) throw new ConfigError(API_INSECURE_REMOTE_REMOVED)
  const fromFile = file !== undefined ? await readConfigFile(file) : {}
  const given = {
    ...rest,
    ...(publisher !== undefined ? { publishers: publisher } : {}),
    ...(label !== undefined ? { labels: label } : {}),
    ...(alertmanager !== undefined ? { alertmanagers: alertmanager } : {}),
    ...(alertWebhook !== undefined ? { alertWebhooks: alertWebhook } : {})
  } as Partial<AgentConfig>
  const layers = [defaults(), dev === true ? devDefaults() : {}, fromFile, given]
  // Validate before making the temporary dir: a bad config leaves nothing behind.
  const config = resolveConfig(...layers)
  await checkReferencedFiles(config)
  if (dev !== true || given.dataDir !== undefined || fromFile.dataDir !== undefined) return { config }
  const tempDir = await mkdtemp(join(tmpdir(), 'mycel-dev-'))
  return { config: resolveConfig(...layers, { dataDir: tempDir }), tempDir }
}

async function runAgent (flags: AgentFlags): Promise<void> {
  const { config, tempDir } = await loadAgentConfig(flags)
  if (flags.check === true) {
    // `--dev --check` shows the temporary dir a run would make; nothing runs in it.
    printJson(config)
    if (tempDir !== undefined) await rm(tempDir, { recursive: true, force: true })
    return
  }
  const logger = createLogger(config.logLevel as LogLevel)
  // Loaded here, not at the top: the agent pulls in libp2p and every
  // protocol, which every other command (and `--check`) would pay for at
  // start-up (about a second) without using it.
  const { Agent } = await import('../agent.js')
  if (tempDir !== undefined) logger.info({ dataDir: tempDir }, 'dev mode: temporary data dir, removed when the agent stops')
  // Under the launcher (deploy/mycel.service), a core update switches builds: stop without a leave (the node is
  // back in seconds, as the new build), exit with the code that makes the launcher start it (docs/core-update.md).
  const underLauncher = process.env[LAUNCHER_ENV] === '1'
  const switchCore = (): void => {
    if (stopping) return
    stopping = true
    logger.info('switching core build: stopping without a leave; the launcher starts the new build')
    agent.stop({ leave: false }).then(removeTempDir).then(() => { logger.flush(); process.exit(EXIT_SWITCH_CORE) }, (err) => { logger.error({ err }, 'shutdown failed'); process.exit(1) })
  }
  // A refused join token: the agent could only run on admitted nowhere; say why in one line and exit 1.
  const fatal = (message: string): void => {
    if (stopping) return
    stopping = true
    logger.error(message)
    // Exit 1 however the process ends (it may drain by itself once stopped). The one line is written on exit,
    // after every shutdown log line, so it is what the operator sees (stderr is synchronous on Linux).
    process.exitCode = 1
    process.once('exit', () => { process.stderr.write(`mycel: ${message}\n`) })
    const exit = (): void => { logger.flush(); process.exit(1) }
    // Called during start too (a peer refuses the token while the agent starts): stop once the start is done.
    void started.catch(() => {}).then(async () => { await agent.stop({ leave: false }) }).then(removeTempDir).then(exit, exit)
  }
  // A key rotation swapped identity.key: stop without a leave (the old id stays a member until its grace ends;
  // a leave would announce this host gone) and start a new Agent with the same config; the component host
  // re-adopts the running components. Waits for a start still running (the start-up rotation check calls it).
  let started: Promise<unknown> = Promise.resolve()
  const restart = (): void => {
    if (stopping) return
    logger.info('restarting the agent under its new key')
    const previous = agent
    started = started.catch(() => {}).then(async () => {
      if (stopping) return
      await previous.stop({ leave: false })
      agent = new Agent(config, logger, opts)
      await agent.start()
    }).catch((err: unknown) => {
      logger.error({ err }, 'restart under the new key failed; stopping')
      logger.flush()
      process.exit(1)
    })
  }
  const opts = { ...(underLauncher ? { switchCore } : {}), fatal, restart, ...(flags.config !== undefined ? { configFile: resolve(flags.config) } : {}) }
  let agent = new Agent(config, logger, opts)
  const removeTempDir = async (): Promise<void> => {
    if (tempDir !== undefined) await rm(tempDir, { recursive: true, force: true }).catch((err: unknown) => { logger.warn({ err, dataDir: tempDir }, 'cannot remove the temporary data dir') })
  }

  let stopping = false
  const stop = (signal: string): void => {
    // Under the launcher a signal usually arrives twice (systemd signals the whole unit, the launcher passes
    // its own on); the launcher, not a second signal, ends an agent that does not stop in time.
    if (stopping && underLauncher) return
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now')
      process.exit(130)
    }
    stopping = true
    logger.info({ signal }, 'shutting down (leave, flush, close)')
    agent.stop().then(removeTempDir).then(() => { logger.flush(); process.exit(0) }, (err) => { logger.error({ err }, 'shutdown failed'); process.exit(1) })
  }
  process.on('SIGINT', () => { stop('SIGINT') })
  process.on('SIGTERM', () => { stop('SIGTERM') })
  // Network input must never crash the daemon; if a library lets an error
  // escape anyway, log it loudly and keep serving rather than drop the host.
  process.on('uncaughtException', (err) => { logger.error({ err }, 'uncaught exception (kept running)') })
  process.on('unhandledRejection', (err) => { logger.error({ err }, 'unhandled rejection (kept running)') })

  try {
    started = agent.start()
    await started
  } catch (err) {
    // One human line on stderr (cli.ts prints it, with the recovery step of a
    // held data dir or a damaged file); the stack only at debug level.
    logger.debug({ err }, 'agent failed to start')
    logger.flush()
    await removeTempDir()
    throw startupErrorMessage(err)
  }
}
