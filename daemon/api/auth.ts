/**
 * Bearer-token authentication of the admin API (`apiAuth: token`). The API
 * proposes critical changes as this agent, so whoever may call it is an
 * admin of the network; with a token, every request carries
 * `Authorization: Bearer <token>` (RFC 6750), the token of
 * `<dataDir>/api.token` (daemon/api-token.ts).
 *
 * Open without a token, as Consul, etcd and Prometheus exporters keep them:
 * `GET /healthz`, `/readyz` and `/metrics`. Probes (systemd, a load
 * balancer, the core update launcher's readiness check) and scrapers must
 * not need an admin credential, and these paths only read: liveness, a
 * ready flag with the faulted components, counters. Everything else (all of
 * `/v1/`, and unknown paths, so a caller without the token cannot map the
 * API by its 404s) needs the token.
 *
 * The token is compared in constant time: both sides are hashed to SHA-256
 * first, so timingSafeEqual always compares 32 bytes and neither the token's
 * content nor its length leaks through timing.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import { metricsOn } from '../../lib/metrics.js'

/** Paths answered without a token (GET only): probes and scrapers; see the header. */
export const OPEN_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics'])

/**
 * Shortest gap between two log lines about refused requests from one remote
 * address, ms. A scanner or a misconfigured client retrying in a loop must
 * not flood the log; refusals in between are counted (metric) and the next
 * line says how many there were.
 */
export const AUTH_LOG_INTERVAL_MS = 60_000

/**
 * Remote addresses whose last log line is remembered, at most. A scan from
 * many addresses evicts the longest-quiet ones first, so memory stays
 * bounded; an evicted address may log again early, which is harmless.
 */
export const AUTH_LOG_MAX_ADDRESSES = 1024

/** Why a request was refused: no Authorization header, another scheme than Bearer, or a token that is not this agent's. */
export type AuthFailure = 'missing' | 'scheme' | 'token'
const FAILURES: AuthFailure[] = ['missing', 'scheme', 'token']

/** The answer to a refused request: 401, a JSON error and the challenge header. */
export interface AuthRefusal {
  reason: AuthFailure
  message: string
  /** `WWW-Authenticate` value (RFC 6750 section 3). */
  challenge: string
}

const MESSAGES: Record<AuthFailure, string> = {
  missing: 'this admin API requires a token: send Authorization: Bearer <token> (the token is in the agent\'s data dir, file api.token)',
  scheme: 'the Authorization header must be Bearer <token>',
  token: 'the admin API token is not this agent\'s (the token is in the agent\'s data dir, file api.token)'
}

const REALM = 'Bearer realm="mycel"'

export interface TokenAuthInit {
  token: string
  logger: Logger
  registry?: Registry
  /** Clock for the log rate limit, ms; tests pass their own. */
  now?: () => number
}

/** True for a request answered without a token (see the header). */
export function isOpenPath (method: string, pathname: string): boolean {
  return method === 'GET' && OPEN_PATHS.has(pathname)
}

function digest (s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest()
}

export class TokenAuth {
  private readonly expected: Buffer
  private readonly failures
  private readonly now: () => number
  /** Remote address → when its last refusal was logged and how many were not logged since; oldest-logged first. */
  private readonly logged = new Map<string, { at: number, suppressed: number }>()

  constructor (private readonly init: TokenAuthInit) {
    this.expected = digest(init.token)
    this.now = init.now ?? Date.now
    this.failures = metricsOn(init.registry).counter<'reason'>({
      name: 'mycel_api_auth_failures_total',
      help: 'Admin API requests refused for a missing or wrong bearer token, by reason (missing, scheme, token)',
      labelNames: ['reason']
    })
    // Every reason exported from the start, so a rate over it is defined before the first refusal.
    for (const reason of FAILURES) this.failures.inc({ reason }, 0)
  }

  /**
   * Undefined when the request may go on; else the refusal to send. Counts
   * and (rate-limited per `remote`) logs every refusal.
   */
  check (method: string, pathname: string, authorization: string | undefined, remote: string): AuthRefusal | undefined {
    if (isOpenPath(method, pathname)) return undefined
    const reason = this.failure(authorization)
    if (reason === undefined) return undefined
    this.failures.inc({ reason })
    this.log(remote, reason, method, pathname)
    return {
      reason,
      message: MESSAGES[reason],
      challenge: reason === 'token' ? `${REALM}, error="invalid_token"` : REALM
    }
  }

  private failure (authorization: string | undefined): AuthFailure | undefined {
    if (authorization === undefined || authorization.trim() === '') return 'missing'
    // The scheme is case-insensitive (RFC 7235 section 2.1); the token is compared as sent.
    const m = /^bearer +(\S+) *$/i.exec(authorization)
    if (m === null) return 'scheme'
    return timingSafeEqual(digest(m[1] as string), this.expected) ? undefined : 'token'
  }

  private log (remote: string, reason: AuthFailure, method: string, path: string): void {
    const now = this.now()
    const last = this.logged.get(remote)
    if (last !== undefined && now - last.at < AUTH_LOG_INTERVAL_MS) {
      last.suppressed++
      return
    }
    // Re-inserted, so the map stays ordered by last log line and the first entry is the one to evict.
    this.logged.delete(remote)
    if (this.logged.size >= AUTH_LOG_MAX_ADDRESSES) this.logged.delete(this.logged.keys().next().value as string)
    this.logged.set(remote, { at: now, suppressed: 0 })
    this.init.logger.warn({ remote, reason, method, path, ...(last !== undefined ? { notLogged: last.suppressed } : {}) },
      `admin API request refused (${reason} token); at most one line per ${AUTH_LOG_INTERVAL_MS / 1000} s per address`)
  }
}
