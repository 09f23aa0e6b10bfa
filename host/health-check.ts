/**
 * A component's health check, run every `intervalMs` (after the previous
 * run ends: runs never overlap) with a `timeoutMs` bound (host/probes.ts),
 * turned into one state:
 *
 *  - `unknown` until the first result (and after stop);
 *  - `passing` after a passing run;
 *  - `failing` after `failureThreshold` failed runs in a row. Fewer failures
 *    leave the state where it was, so one slow answer does not flap it.
 *
 * Each change is a typed `health:change` event. Probes are injectable so
 * the state rule is tested on a virtual clock.
 */
import { TypedEventEmitter } from 'main-event'
import { setTimer, systemClock, type Clock } from '../lib/clock.js'
import type { HostConfig } from './constants.js'
import { InvalidHealthCheckError } from './errors.js'
import { runProbe, type ProbeContext, type ProbeResult, type ProbeSpec } from './probes.js'

export type HealthState = 'passing' | 'failing' | 'unknown'

export type HealthCheckSpec = ProbeSpec & {
  /** Pause between runs, ms. @default tunables.healthIntervalMs */
  intervalMs?: number
  /** A run longer than this is killed and fails, ms. @default tunables.healthTimeoutMs */
  timeoutMs?: number
  /** @default tunables.healthFailureThreshold */
  failureThreshold?: number
}

export interface HealthStatus {
  state: HealthState
  /** Failed runs in a row. */
  failures: number
  /** When the state began, Unix ms. */
  since: number
  /** The last run's detail. */
  detail?: string
}

export interface HealthCheckEvents {
  'health:change': CustomEvent<HealthStatus & { previous: HealthState }>
  /** Every run's result (metrics count them). */
  'health:result': CustomEvent<ProbeResult>
}

export interface HealthCheckInit {
  spec: HealthCheckSpec
  tunables: Pick<HostConfig, 'healthIntervalMs' | 'healthTimeoutMs' | 'healthFailureThreshold'>
  /** The component's working directory and environment, for an exec check. */
  cwd?: string
  env?: Readonly<Record<string, string>>
  /** An exec check runs as this user (the component's). @default the agent's */
  user?: { uid: number, gid: number }
  /** @default systemClock */
  clock?: Clock
  /** @default runProbe */
  probe?: (spec: ProbeSpec, ctx: ProbeContext) => Promise<ProbeResult>
}

export class HealthCheck extends TypedEventEmitter<HealthCheckEvents> {
  readonly intervalMs: number
  readonly timeoutMs: number
  readonly failureThreshold: number
  private readonly probeSpec: ProbeSpec
  private readonly clock: Clock
  private readonly probe: (spec: ProbeSpec, ctx: ProbeContext) => Promise<ProbeResult>
  private state: HealthState = 'unknown'
  private failures = 0
  private since: number
  private detail?: string
  private running = false
  private cancel = (): void => {}

  constructor (private readonly init: HealthCheckInit) {
    super()
    const s = init.spec
    const kinds = (['exec', 'http', 'tcp'] as const).filter(k => k in s)
    if (kinds.length !== 1) throw new InvalidHealthCheckError(`a health check has exactly one of exec, http, tcp (got ${kinds.length === 0 ? 'none' : kinds.join(', ')})`)
    if ('exec' in s && s.exec.length === 0) throw new InvalidHealthCheckError('exec health check: empty argv')
    if ('tcp' in s && !(Number.isInteger(s.tcp.port) && s.tcp.port > 0 && s.tcp.port < 65536)) throw new InvalidHealthCheckError(`tcp health check: bad port ${s.tcp.port}`)
    if ('http' in s && !/^https?:\/\//.test(s.http)) throw new InvalidHealthCheckError(`http health check: not an http(s) URL: ${s.http}`)
    this.probeSpec = 'exec' in s ? { exec: s.exec } : 'http' in s ? { http: s.http } : { tcp: s.tcp }
    this.intervalMs = s.intervalMs ?? init.tunables.healthIntervalMs
    this.timeoutMs = s.timeoutMs ?? init.tunables.healthTimeoutMs
    this.failureThreshold = s.failureThreshold ?? init.tunables.healthFailureThreshold
    for (const [k, v] of Object.entries({ intervalMs: this.intervalMs, timeoutMs: this.timeoutMs, failureThreshold: this.failureThreshold })) {
      if (!(Number.isInteger(v) && v > 0)) throw new InvalidHealthCheckError(`health check ${k} must be a positive integer (got ${v})`)
    }
    this.clock = init.clock ?? systemClock
    this.probe = init.probe ?? runProbe
    this.since = this.clock.now()
  }

  status (): HealthStatus {
    return { state: this.state, failures: this.failures, since: this.since, ...(this.detail !== undefined ? { detail: this.detail } : {}) }
  }

  /** The first run starts at once. Idempotent. */
  start (): void {
    if (this.running) return
    this.running = true
    void this.run()
  }

  /** No further runs; a run in flight finishes (bounded by its timeout) and is ignored. The state returns to `unknown`. */
  stop (): void {
    if (!this.running) return
    this.running = false
    this.cancel()
    this.failures = 0
    this.set('unknown')
  }

  private async run (): Promise<void> {
    const result = await this.probe(this.probeSpec, { clock: this.clock, timeoutMs: this.timeoutMs, cwd: this.init.cwd, env: this.init.env, ...(this.init.user !== undefined ? { user: this.init.user } : {}) })
    if (!this.running) return
    this.detail = result.detail
    this.safeDispatchEvent('health:result', { detail: result })
    if (result.ok) {
      this.failures = 0
      this.set('passing')
    } else {
      this.failures++
      if (this.failures >= this.failureThreshold) this.set('failing')
    }
    this.cancel = setTimer(this.clock, this.intervalMs, () => { void this.run() })
  }

  private set (state: HealthState): void {
    if (state === this.state) return
    const previous = this.state
    this.state = state
    this.since = this.clock.now()
    this.safeDispatchEvent('health:change', { detail: { ...this.status(), previous } })
  }
}
