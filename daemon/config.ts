/**
 * Agent configuration: one zod schema for the config file (YAML or JSON) and
 * the command-line flags, which use the same keys. Precedence: embedded
 * defaults < profile < config file < flags. Environment variables override
 * nothing (DESIGN.md: nothing silently).
 */
import { readFile } from 'node:fs/promises'
import { homedir, tmpdir } from 'node:os'
import { join, resolve, extname } from 'node:path'
import { mkdtempSync } from 'node:fs'
import * as yaml from 'js-yaml'
import { z } from 'zod'
import { multiaddr } from '@multiformats/multiaddr'
import { ConfigError } from './errors.js'
import { PROFILE_NAMES, type ProfileName } from './profiles.js'
import { namespacesSectionSchema } from '../crdt/namespaces.js'

export const DEFAULT_API = '127.0.0.1:8900'
export const DEFAULT_LISTEN = ['/ip4/0.0.0.0/tcp/4100']
export const ROLE_NAMES = ['network', 'update', 'config', 'security', 'monitoring'] as const

const multiaddrString = z.string().refine(s => {
  try { multiaddr(s); return true } catch { return false }
}, { message: 'not a valid multiaddr' })

const hostPort = z.string().regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'expected HOST:PORT')
  .refine(s => Number(s.slice(s.lastIndexOf(':') + 1)) <= 65535, { message: 'port out of range' })

const regionName = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'lowercase letters, digits, . _ - (max 63)')

/** Keys a config file may hold; every one is also a flag of `mycel agent`. */
export const agentConfigSchema = z.object({
  dataDir: z.string().min(1),
  listen: z.array(multiaddrString).min(1),
  announce: z.array(multiaddrString),
  bootstrap: z.array(multiaddrString),
  region: regionName,
  api: hostPort,
  networkKey: z.string().min(1).optional(),
  profile: z.enum(PROFILE_NAMES as [ProfileName, ...ProfileName[]]),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  roles: z.array(z.enum(ROLE_NAMES)),
  genesis: z.string().min(1).optional(),
  /** Replicated-config namespaces (ACL and schema); see docs/config.md. */
  namespaces: namespacesSectionSchema.optional()
}).strict()

export type AgentConfig = z.infer<typeof agentConfigSchema>

export function defaultDataDir (): string {
  return process.env.MYCEL_DATA_DIR_DEFAULT ?? join(homedir(), '.mycel')
}

export function defaults (): AgentConfig {
  return {
    dataDir: defaultDataDir(),
    listen: DEFAULT_LISTEN,
    announce: [],
    bootstrap: [],
    region: 'default',
    api: DEFAULT_API,
    profile: 'lan',
    logLevel: 'info',
    roles: [...ROLE_NAMES]
  }
}

/** `--dev`: one node, throwaway data dir, fast timers, loopback only. */
export function devDefaults (): Partial<AgentConfig> {
  return {
    dataDir: mkdtempSync(join(tmpdir(), 'mycel-dev-')),
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
  const parsed = agentConfigSchema.partial().safeParse(raw)
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
  cfg.dataDir = resolve(cfg.dataDir)
  if (cfg.networkKey !== undefined) cfg.networkKey = resolve(cfg.networkKey)
  if (cfg.genesis !== undefined) cfg.genesis = resolve(cfg.genesis)
  return cfg
}

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
