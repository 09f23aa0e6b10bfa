/**
 * Agent configuration: one zod schema for the config file (YAML or JSON) and
 * the command-line flags, which use the same keys. Precedence: embedded
 * defaults < profile < config file < flags. Environment variables override
 * nothing (DESIGN.md: nothing silently).
 */
import { readFile } from 'node:fs/promises'
import { resolve, extname } from 'node:path'
import { BlockList, isIP } from 'node:net'
import * as yaml from 'js-yaml'
import { z } from 'zod'
import { multiaddr } from '@multiformats/multiaddr'
import { ConfigError } from './errors.js'
import { DEFAULT_API, apiAddressProblem } from './api-address.js'
import { defaultDataDir } from './data-dir.js'
import { PROFILE_NAMES, type ProfileName } from '../lib/tunables.js'
import { namespacesSectionSchema } from '../crdt/namespaces.js'
import { REGION_PATTERN, REGION_RULE } from '../lib/region.js'
import { checkPublishers } from '../policy/publisher-trust.js'
import { labelsSchema } from '../protocols/health/report.js'
import { checkUserSwitch, resolveUser } from '../host/user.js'
import { genesisHash, loadGenesis } from '../protocols/bft/genesis.js'
import { parseJoinTokenText } from '../policy/join-token.js'
import { ROLE_NAMES } from '../managers/role-names.js'

export { DEFAULT_API, apiAddressProblem } from './api-address.js'
export { defaultDataDir } from './data-dir.js'
export const DEFAULT_LISTEN = ['/ip4/0.0.0.0/tcp/4100']
/** Values of `apiAuth` (`--api-auth`). */
export const API_AUTH_MODES = ['none', 'token'] as const
/** The management roles (managers/role-names.ts; the registry builds one role per name). */
export { ROLE_NAMES } from '../managers/role-names.js'

const multiaddrString = z.string().refine(s => {
  try { multiaddr(s); return true } catch { return false }
}, { message: 'not a valid multiaddr' })

/** `HOST:PORT` of the admin API; the CLI's `--api` uses the same rule. */
export const apiAddressSchema = z.string().superRefine((s, ctx) => {
  const problem = apiAddressProblem(s)
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem })
})

const regionName = z.string().regex(REGION_PATTERN, REGION_RULE)

/** Alert delivery targets of one kind one agent may have. */
export const MAX_ALERT_TARGETS = 16

/** An http(s) URL without credentials in it (they would be logged and shown in `--check`). */
const httpUrl = z.string().max(2048).superRefine((s, ctx) => {
  let u: URL
  try { u = new URL(s) } catch { ctx.addIssue({ code: 'custom', message: `not a URL: ${JSON.stringify(s.slice(0, 80))}` }); return }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: `${JSON.stringify(s.slice(0, 80))}: only http and https URLs` })
  else if (u.username !== '' || u.password !== '') ctx.addIssue({ code: 'custom', message: `${JSON.stringify(s.slice(0, 80))}: credentials in the URL are not supported` })
})

/** Keys a config file may hold; every one is also a flag of `mycel agent`. */
export const agentConfigSchema = z.object({
  dataDir: z.string().min(1),
  listen: z.array(multiaddrString).min(1),
  announce: z.array(multiaddrString),
  bootstrap: z.array(multiaddrString),
  region: regionName,
  api: apiAddressSchema,
  /**
   * Who may use the admin API. It proposes critical changes as this agent, so
   * whoever reaches it is an admin. `none`: anyone who can connect, allowed
   * only on a loopback `api` (as Consul and etcd ship with auth off);
   * `token`: every request but the probes carries the bearer token of
   * `<dataDir>/api.token` (daemon/api/auth.ts), required off loopback.
   */
  apiAuth: z.enum(API_AUTH_MODES),
  networkKey: z.string().min(1).optional(),
  profile: z.enum(PROFILE_NAMES as [ProfileName, ...ProfileName[]]),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  roles: z.array(z.enum(ROLE_NAMES)),
  genesis: z.string().min(1).optional(),
  /**
   * A join token (`mycel admission token create`) this agent presents to
   * join a network that runs an allowlist; needs `genesis`.
   */
  joinToken: z.string().min(1).max(4096).superRefine((t, ctx) => {
    try { parseJoinTokenText(t) } catch (err) { ctx.addIssue({ code: z.ZodIssueCode.custom, message: (err as Error).message }) }
  }).optional(),
  /** Replicated-config namespaces (ACL and schema); see docs/config.md. */
  namespaces: namespacesSectionSchema.optional(),
  /**
   * Publisher ids whose component manifests this node accepts when the
   * network has no genesis (with one, critical config key `publishers`
   * decides for every node: policy/publisher-trust.ts).
   */
  publishers: z.array(z.string()).superRefine((ids, ctx) => {
    try { checkPublishers(ids) } catch (err) { ctx.addIssue({ code: z.ZodIssueCode.custom, message: (err as Error).message }) }
  }),
  /**
   * This node's labels (`--label KEY=VALUE`, repeatable), in its health
   * report; a deployment's `--constraint KEY=VALUE` places instances only on
   * nodes carrying the label with that value. The rule is the health
   * report's, so every receiver accepts what the config accepted.
   */
  labels: labelsSchema,
  /**
   * The user components run as (a name, `name:group` or `uid[:gid]`) when the
   * agent runs as root (`--component-user`). Unset under root: `nobody`, as
   * Nomad's exec driver does; an agent that is not root runs components as
   * itself and refuses a different user.
   */
  componentUser: z.string().min(1).max(64).optional(),
  /**
   * Alertmanagers this node delivers the region's alerts to while it holds
   * the monitoring role (`--alertmanager URL`, repeatable): their base URL,
   * alerts go to `<url>/api/v2/alerts` (docs/monitoring.md). Give every
   * agent that may hold the role the same list.
   */
  alertmanagers: z.array(httpUrl).max(MAX_ALERT_TARGETS),
  /** Webhooks that get the region's alert notifications in Alertmanager's webhook format (`--alert-webhook URL`, repeatable). */
  alertWebhooks: z.array(httpUrl).max(MAX_ALERT_TARGETS),
  /**
   * OTLP/HTTP traces URL (`--otlp-endpoint URL`, e.g.
   * `http://collector:4318/v1/traces`): the spans this node records are also
   * exported there (docs/tracing.md). Unset: they go to the log store only.
   */
  otlpEndpoint: httpUrl.optional()
}).strict()

export type AgentConfig = z.infer<typeof agentConfigSchema>

export function defaults (): AgentConfig {
  return {
    dataDir: defaultDataDir(),
    listen: DEFAULT_LISTEN,
    announce: [],
    bootstrap: [],
    region: 'default',
    api: DEFAULT_API,
    apiAuth: 'none',
    profile: 'lan',
    logLevel: 'info',
    roles: [...ROLE_NAMES],
    publishers: [],
    labels: {},
    alertmanagers: [],
    alertWebhooks: []
  }
}

/**
 * `--dev`: one node, fast timers, loopback only. The throwaway data dir is
 * the caller's to make (and remove), and only when no data dir was given.
 */
export function devDefaults (): Partial<AgentConfig> {
  return {
    listen: ['/ip4/127.0.0.1/tcp/0'],
    profile: 'test',
    api: DEFAULT_API
  }
}

/** Read a YAML or JSON config file; unknown keys and bad values name the key. */
export async function readConfigFile (path: string): Promise<Partial<AgentConfig>> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`)
  }
  let raw: unknown
  try {
    raw = extname(path) === '.json' ? JSON.parse(text) : yaml.load(text)
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid ${extname(path) === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`)
  }
  if (raw === undefined || raw === null) return {}
  if (typeof raw === 'object' && Object.hasOwn(raw, 'apiInsecureRemote')) {
    // An operator's file from before apiAuth: say what replaced the key, not just "unknown key".
    throw new ConfigError(`config file ${path}: ${API_INSECURE_REMOTE_REMOVED}`)
  }
  const parsed = agentConfigSchema.partial().safeParse(withoutEmptyKeys(raw))
  if (!parsed.success) throw new ConfigError(`config file ${path}: ${formatIssue(parsed.error)}`)
  return parsed.data
}

/** Merge layers left to right (later wins) and validate the result. */
export function resolveConfig (...layers: Array<Partial<AgentConfig>>): AgentConfig {
  const merged: Record<string, unknown> = {}
  for (const layer of layers) {
    for (const [k, v] of Object.entries(layer)) {
      if (v !== undefined) merged[k] = v
    }
  }
  const parsed = agentConfigSchema.safeParse(merged)
  if (!parsed.success) throw new ConfigError(formatIssue(parsed.error))
  const cfg = parsed.data
  const exposed = apiExposureProblem(cfg)
  if (exposed !== undefined) throw new ConfigError(exposed)
  cfg.dataDir = resolve(cfg.dataDir)
  if (cfg.networkKey !== undefined) cfg.networkKey = resolve(cfg.networkKey)
  if (cfg.genesis !== undefined) cfg.genesis = resolve(cfg.genesis)
  return cfg
}

/**
 * Read the files a config names (genesis, network key) so that a missing or
 * bad one is a configuration error (exit 2, nothing started), not a failure
 * halfway through starting the agent.
 */
export async function checkReferencedFiles (cfg: AgentConfig): Promise<void> {
  if (cfg.networkKey !== undefined) await readNetworkKey(cfg.networkKey)
  if (cfg.componentUser !== undefined) {
    // The component host resolves it again at start; a typo must stop the agent here, with the key named.
    try {
      checkUserSwitch(await resolveUser(cfg.componentUser), process.geteuid?.() ?? -1, process.getegid?.() ?? -1)
    } catch (err) {
      throw new ConfigError(`componentUser ${JSON.stringify(cfg.componentUser)}: ${(err as Error).message}`)
    }
  }
  if (cfg.genesis !== undefined) {
    let g
    try {
      g = await loadGenesis(cfg.genesis)
    } catch (err) {
      throw new ConfigError((err as Error).message)
    }
    if (cfg.joinToken !== undefined) {
      const token = parseJoinTokenText(cfg.joinToken)
      if (Buffer.compare(token.chain, genesisHash(g)) !== 0) throw new ConfigError(`joinToken: the token is for another network than genesis ${cfg.genesis} (${g.networkId})`)
      if (token.expiresAt <= Date.now()) throw new ConfigError(`joinToken: the token expired at ${new Date(token.expiresAt).toISOString()}; ask an admin for a new one (mycel admission token create)`)
    }
  } else if (cfg.joinToken !== undefined) {
    throw new ConfigError('joinToken needs genesis: a join token admits to a network, named by its genesis file (--genesis)')
  }
}

/** The libp2p pre-shared key file (`mycel keygen`); ConfigError when unreadable or not a PSK. */
export async function readNetworkKey (path: string): Promise<Uint8Array> {
  let key: Buffer
  try {
    key = await readFile(path)
  } catch (err) {
    throw new ConfigError(`network key ${path}: ${(err as Error).message}`)
  }
  if (!key.toString('utf8').startsWith('/key/swarm/psk/1.0.0/')) {
    throw new ConfigError(`network key ${path}: not a libp2p PSK file (expected /key/swarm/psk/1.0.0/ header); create one with \`mycel keygen --network-key FILE\``)
  }
  return key
}

/**
 * A key written without a value (`bootstrap:` followed only by comments, as
 * in deploy/mycel.yaml) is YAML null: it means "not set", so the default
 * applies, rather than a type error that stops a host from starting.
 */
function withoutEmptyKeys (raw: unknown): unknown {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw
  return Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== null))
}

/** Addresses only this host can reach: 127.0.0.0/8 and ::1 (BlockList also matches their IPv4-mapped forms). */
const LOOPBACK = new BlockList()
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4')
LOOPBACK.addAddress('::1', 'ipv6')

/** True for a loopback IP address or `localhost`; any other name may resolve anywhere. */
export function isLoopbackHost (host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  if (h === 'localhost') return true
  const family = isIP(h)
  return family !== 0 && LOOPBACK.check(h, family === 4 ? 'ipv4' : 'ipv6')
}

/** What replaced `apiInsecureRemote` (`--api-insecure-remote`), for a config that still names it. */
export const API_INSECURE_REMOTE_REMOVED = 'apiInsecureRemote (--api-insecure-remote) was removed: an admin API off loopback now needs apiAuth: token (--api-auth token)'

/** Why this config would expose an unauthenticated admin API beyond this host, or undefined. */
export function apiExposureProblem (cfg: Pick<AgentConfig, 'api' | 'apiAuth'>): string | undefined {
  const { host } = splitHostPort(cfg.api)
  if (isLoopbackHost(host) || cfg.apiAuth === 'token') return undefined
  return `refusing --api ${cfg.api} with apiAuth none: whoever reaches the admin API can propose critical changes as this agent, ` +
    'so without authentication it listens on loopback only (127.0.0.1, ::1); add --api-auth token (config key apiAuth: token) to require the token in <data dir>/api.token'
}

/** A zod error of the config schema as one line: its first issue. */
export function formatIssue (error: z.ZodError): string {
  const issue = error.issues[0]
  if (issue === undefined) return 'invalid configuration'
  const key = issue.path.join('.')
  if (issue.code === 'unrecognized_keys') return `unknown key ${issue.keys.map(k => `"${k}"`).join(', ')}`
  return `invalid value for "${key}": ${issue.message}`
}

export function splitHostPort (api: string): { host: string, port: number } {
  const i = api.lastIndexOf(':')
  return { host: api.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(api.slice(i + 1)) }
}
