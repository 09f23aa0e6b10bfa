/**
 * Options shared by the commands that talk to an agent, defined once so
 * every command parses them the same way: a bad value is a usage error
 * (exit 2) before anything is sent, not "no agent answers".
 */
import { InvalidArgumentError, Option } from 'commander'
import { DEFAULT_API, apiAddressProblem } from '../api-address.js'
import { TOKEN_FILE_ENV } from './client.js'
import { regionProblem } from '../../lib/region.js'
import { LABEL_KEY_PATTERN } from '../../lib/labels.js'

/** `--api HOST:PORT` (or an http:// URL) of the local agent's admin API. */
export function apiOption (): Option {
  return new Option('--api <host:port>', 'admin API of the local agent').default(DEFAULT_API).argParser(parseApiAddress)
}

/**
 * `--token-file FILE` (or MYCEL_API_TOKEN_FILE): the agent's admin API token,
 * for an agent running with `--api-auth token` (daemon/api/auth.ts). The flag
 * wins over the variable.
 */
export function tokenFileOption (): Option {
  return new Option('--token-file <file>', 'admin API token file, the agent\'s <data dir>/api.token (needed when the agent runs with --api-auth token)').env(TOKEN_FILE_ENV)
}

export function parseApiAddress (v: string): string {
  if (/^https?:\/\//.test(v)) {
    try { new URL(v) } catch { throw new InvalidArgumentError('expected HOST:PORT or an http:// URL (port 0-65535)') } // eslint-disable-line no-new
    return v
  }
  const problem = apiAddressProblem(v)
  if (problem !== undefined) throw new InvalidArgumentError(problem)
  return v
}

/** `--region NAME`, checked with the same rule as the config file and the admin API. */
export function parseRegion (v: string): string {
  const problem = regionProblem(v)
  if (problem !== undefined) throw new InvalidArgumentError(problem)
  return v
}

/** A non-negative integer (counts, milliseconds). */
export function parseCount (v: string): number {
  const n = Number(v)
  if (v.trim() === '' || !Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer')
  return n
}

/**
 * `--label KEY=VALUE`, repeatable, into a record. Commander calls it once per
 * occurrence; a repeated key is a usage error, not a silent overwrite. The
 * key and value rules are the config's (checked when the config resolves).
 */
export function collectLabel (v: string, prev: Record<string, string> = {}): Record<string, string> {
  const eq = v.indexOf('=')
  if (eq <= 0) throw new InvalidArgumentError(`expected KEY=VALUE, got ${JSON.stringify(v.slice(0, 80))}`)
  const key = v.slice(0, eq)
  if (!LABEL_KEY_PATTERN.test(key)) throw new InvalidArgumentError(`label key ${JSON.stringify(key.slice(0, 80))}: letters, digits, . _ / - (max 63), starting with a letter or digit`)
  if (Object.hasOwn(prev, key)) throw new InvalidArgumentError(`label ${JSON.stringify(key.slice(0, 80))} given twice`)
  return { ...prev, [key]: v.slice(eq + 1) }
}
