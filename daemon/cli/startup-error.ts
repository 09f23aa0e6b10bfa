/**
 * Why `mycel agent` could not start, as one line a person can act on.
 * Libraries phrase some failures for their own users (libp2p suggests
 * `transportManager.faultTolerance` when a port is taken); the operator needs
 * the address and the reason.
 */
import { ListenError } from '../errors.js'
import { StartError } from '../../lib/lifecycle.js'

/** What `mycel agent` says of a listen address another process holds (the test harness picks another port on it). */
export const ADDRESS_IN_USE = 'address already in use by another process (perhaps another mycel agent)'

/** Reasons by errno, in the words of the fix. */
const LISTEN_REASONS: Record<string, string> = {
  EADDRINUSE: ADDRESS_IN_USE,
  EADDRNOTAVAIL: 'address not available on this host',
  EACCES: 'permission denied (ports below 1024 need privileges)'
}

/**
 * The error to report for a failed start: the cause of the agent's
 * StartError (the part that failed is in the debug log), listen failures
 * rewritten, anything else unchanged (its name decides the exit code).
 */
export function startupErrorMessage (failed: unknown): Error {
  const err = (failed as Error | undefined)?.name === StartError.name ? (failed as StartError).cause : failed
  const e = err as Error & { code?: string, address?: string, port?: number, syscall?: string }
  if (e.name === 'UnsupportedListenAddressesError') {
    const failures = [...e.message.matchAll(/^\s+(\/\S+): (.*)$/gm)].map(([, addr, why]) => `${addr}: ${listenReason(why)}`)
    if (failures.length > 0) return new ListenError(`cannot listen on ${failures.join('; ')}; change --listen`)
  }
  if (e.syscall === 'listen' && e.code !== undefined) {
    return new ListenError(`cannot serve the admin API on ${e.address ?? '?'}:${e.port ?? '?'}: ${LISTEN_REASONS[e.code] ?? e.code}; change --api`)
  }
  // A held data dir or a damaged file says what to do about it.
  const recovery = (e as { recovery?: unknown }).recovery
  if (e instanceof Error && typeof recovery === 'string') {
    const withStep = new Error(`${e.message}; to recover: ${recovery}`)
    withStep.name = e.name
    return withStep
  }
  return e instanceof Error ? e : new Error(String(err))
}

function listenReason (text: string): string {
  const code = /\b(E[A-Z]+)\b/.exec(text)?.[1]
  return code !== undefined && LISTEN_REASONS[code] !== undefined ? LISTEN_REASONS[code] : text.replace(/^\w*Error: /, '')
}
