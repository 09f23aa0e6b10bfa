/**
 * One running version of a component on this node: its supervisor (the
 * process, restarts, re-adoption) and its health check, started while the
 * process runs and stopped otherwise, reported as one `ComponentReport`.
 */
import type { Logger } from 'pino'
import type { Clock } from '../lib/clock.js'
import type { ComponentReport, ComponentState } from '../protocols/health/report.js'
import { healthTimings, resolveArgv, type Manifest } from '../protocols/artifacts/manifest.js'
import type { HostConfig } from './constants.js'
import { HealthCheck, type HealthCheckSpec } from './health-check.js'
import type { HostMetrics } from './metrics.js'
import { Supervisor, type SupervisorState } from './supervisor.js'
import type { StrategyChoice } from './systemd-scope.js'
import type { ComponentUser } from './user.js'

/** The supervisor's states as `mycel component status` names them. */
const REPORTED: Readonly<Record<SupervisorState, ComponentState>> = {
  stopped: 'stopped',
  starting: 'starting',
  running: 'running',
  // Waiting to start again after an exit: starting, with the exit as the reason.
  backoff: 'starting',
  stopping: 'stopped',
  failed: 'failed'
}

export interface InstanceInit {
  manifest: Manifest
  /** The unpacked version: the working directory, and where relative argv resolve. */
  dir: string
  /** Variables the host adds (MYCEL_*), over the manifest's `env`. */
  env: Readonly<Record<string, string>>
  stateDir: string
  logDir: string
  tunables: Readonly<HostConfig>
  clock?: Clock
  strategy?: StrategyChoice
  /** The component user, resolved (exec health checks run as it too). */
  user?: ComponentUser
  logger: Logger
  metrics: HostMetrics
  /** Something a status shows changed. */
  onChange: () => void
}

/** The PATH a component gets when the agent has none: the usual system one. */
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'

export class Instance {
  readonly supervisor: Supervisor
  readonly version: string
  private check?: HealthCheck

  constructor (private readonly init: InstanceInit) {
    const m = init.manifest
    this.version = m.version
    const env = { PATH: process.env.PATH ?? DEFAULT_PATH, ...(m.env ?? {}), ...init.env }
    this.supervisor = new Supervisor({
      spec: { id: m.name, argv: resolveArgv(m.entry, init.dir), cwd: init.dir, env },
      stateDir: init.stateDir,
      logDir: init.logDir,
      tunables: init.tunables,
      ...(init.clock !== undefined ? { clock: init.clock } : {}),
      ...(init.strategy !== undefined ? { strategy: init.strategy } : {}),
      ...(init.user !== undefined ? { user: `${init.user.uid}:${init.user.gid}` } : {}),
      logger: init.logger
    })
    if (m.health !== undefined) this.check = this.makeCheck(m, env)
    this.supervisor.addEventListener('supervisor:state', (e) => {
      const { state, previous } = e.detail
      if (state === 'starting' && (previous === 'backoff' || previous === 'failed')) init.metrics.restarts.inc({ component: m.name })
      if (state === 'running') this.check?.start()
      else this.check?.stop()
      init.onChange()
    })
  }

  /** Adopt the running process or start one; `adoptOnly` starts nothing new. */
  async start (opts: { adoptOnly?: boolean } = {}): Promise<void> {
    await this.supervisor.start(opts)
    if (this.supervisor.status().state === 'running') this.check?.start()
  }

  /** Stop the process (undeploy, or switching to another version). */
  async stop (): Promise<void> {
    this.check?.stop()
    await this.supervisor.stop()
  }

  /** The agent stops: the process keeps running for the next agent. */
  async detach (): Promise<void> {
    this.check?.stop()
    await this.supervisor.detach()
  }

  report (): ComponentReport {
    const s = this.supervisor.status()
    return {
      name: this.supervisor.id,
      version: this.version,
      state: REPORTED[s.state],
      ...(s.pid !== undefined ? { pid: s.pid } : {}),
      restarts: s.restarts,
      health: this.check?.status().state ?? 'unknown',
      since: Math.floor(s.since),
      ...(s.reason !== undefined ? { reason: s.reason.slice(0, 256) } : {})
    }
  }

  private makeCheck (m: Manifest, env: Record<string, string>): HealthCheck {
    const h = m.health!
    const t = healthTimings(h)
    const timing = { intervalMs: t.intervalMs, timeoutMs: t.timeoutMs, failureThreshold: t.failureThreshold }
    let spec: HealthCheckSpec
    if (h.exec !== undefined) spec = { exec: resolveArgv(h.exec, this.init.dir), ...timing }
    else if (h.http !== undefined) spec = { http: h.http, ...timing }
    else {
      const tcp = h.tcp ?? ''
      const at = tcp.lastIndexOf(':')
      spec = { tcp: { host: tcp.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(tcp.slice(at + 1)) }, ...timing }
    }
    const check = new HealthCheck({
      spec,
      tunables: this.init.tunables,
      cwd: this.init.dir,
      env,
      ...(this.init.user !== undefined ? { user: { uid: this.init.user.uid, gid: this.init.user.gid } } : {}),
      ...(this.init.clock !== undefined ? { clock: this.init.clock } : {})
    })
    check.addEventListener('health:result', (e) => { this.init.metrics.healthResults.inc({ component: m.name, result: e.detail.ok ? 'passed' : 'failed' }) })
    check.addEventListener('health:change', () => { this.init.onChange() })
    return check
  }
}
