/**
 * Options shared by the commands that talk to an agent, defined once so
 * every command parses them the same way: a bad value is a usage error
 * (exit 2) before anything is sent, not "no agent answers".
 */
import { InvalidArgumentError, Option } from 'commander'
import { DEFAULT_API, apiAddressProblem } from '../config.js'
import { regionProblem } from '../../lib/region.js'

/** `--api HOST:PORT` (or an http:// URL) of the local agent's admin API. */
export function apiOption (): Option {
  return new Option('--api <host:port>', 'admin API of the local agent').default(DEFAULT_API).argParser(parseApiAddress)
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
