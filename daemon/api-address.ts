/**
 * The admin API's address rule and default, shared by the agent config
 * (config.ts builds its schema on `apiAddressProblem`) and the CLI's `--api`.
 * Kept free of heavy imports: every CLI command loads it.
 */

export const DEFAULT_API = '127.0.0.1:8900'

const HOST_PORT = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/

/** Why `s` is not a `HOST:PORT` admin API address, or undefined when it is one. */
export function apiAddressProblem (s: string): string | undefined {
  if (!HOST_PORT.test(s)) return 'expected HOST:PORT'
  if (Number(s.slice(s.lastIndexOf(':') + 1)) > 65535) return 'port out of range (0-65535)'
  return undefined
}
