/**
 * Runs one component instance and keeps it running: systemd's
 * `Restart=always` with an exponential delay and a start limit
 * (host/backoff.ts), Habitat's re-attach after the agent restarts.
 *
 * States (one place changes them, `transition`, against the table `NEXT`):
 *
 *   stopped ──start──▶ starting ──spawned──▶ running ──exit──▶ backoff ──delay──▶ starting
 *      │                  │ cannot start ─────────────────────────▲
 *      │ record: alive ───────────────────────▶ running (adopted)
 *      │ record: failed / unreadable ─▶ failed ◀── exit, start limit hit
 *   running ──stop──▶ stopping ──exit──▶ stopped     (SIGTERM to the group, SIGKILL after stopTimeoutMs)
 *   backoff, failed ──stop──▶ stopped;  failed ──reset──▶ starting
 *
 * Every change is a typed `supervisor:state` event carrying `{state,
 * previous, pid, restarts, since, ...}`.
 *
 * Re-adoption: the running process is recorded (host/run-record.ts) with
 * its pid and start time. `start()` on a record whose process still runs —
 * the same pid AND start time — adopts it instead of starting another; a
 * pid now used by another process is not adopted. A recorded `failed` stays
 * failed. `detach()` is how the agent leaves (graceful stop): the component
 * and its record stay for the next agent. `stop()` stops the component.
 *
 * A residue: an agent killed between spawning a process and writing its
 * record (one fsync'd write) leaves a process the next agent does not know
 * of; it runs in its own process group, named in the log.
 */
import { fchownSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { TypedEventEmitter } from 'main-event'
import type { Logger } from 'pino'
import { setTimer, systemClock, type Clock } from '../lib/clock.js'
import { errText } from '../lib/errors.js'
import { recentStarts, restartDelay, startLimitHit } from './backoff.js'
import type { HostConfig } from './constants.js'
import { SupervisorStateError } from './errors.js'
import { processLauncher, type ComponentProcess, type ExitInfo, type Launcher } from './process.js'
import { closeQuietly, RotatingLog } from './rotating-log.js'
import { readRunRecord, removeRunRecord, runRecordPath, writeRunRecord, type RunRecord } from './run-record.js'
import { launcherFor, type StrategyChoice } from './systemd-scope.js'
import { checkUserSwitch, resolveUser, type ComponentUser, type UserFiles } from './user.js'

export type SupervisorState = 'stopped' | 'starting' | 'running' | 'backoff' | 'stopping' | 'failed'

/** The transitions allowed out of each state. */
const NEXT: Readonly<Record<SupervisorState, readonly SupervisorState[]>> = {
  stopped: ['starting', 'running', 'failed'],
  starting: ['running', 'backoff', 'failed', 'stopping', 'stopped'],
  running: ['backoff', 'failed', 'stopping'],
  backoff: ['starting', 'failed', 'stopped'],
  stopping: ['stopped', 'failed'],
  failed: ['starting', 'stopped']
}

export interface ComponentSpec {
  /** Names the instance's files: `<stateDir>/<id>.run`, `<logDir>/<id>.log`. [a-z0-9@._-] */
  id: string
  /** argv[0] is the program; resolved by the caller (absolute, or relative to cwd). */
  argv: readonly string[]
  cwd: string
  /** The whole environment of the component. */
  env: Readonly<Record<string, string>>
}

export interface SupervisorStatus {
  id: string
  state: SupervisorState
  /** The process while one runs (starting: not yet). */
  pid?: number
  /** Starts after the first, across agent restarts. */
  restarts: number
  /** When the current state began, Unix ms (for an adopted process: when the earlier agent saw it start). */
  since: number
  /** The running process was started by an earlier agent. */
  adopted: boolean
  /** Why it is `failed`, or why the last start failed. */
  reason?: string
  lastExit?: ExitInfo
  /** In `backoff`: the delay before the next start, ms. */
  delayMs?: number
}

export interface SupervisorStateChange extends SupervisorStatus {
  previous: SupervisorState
}

export interface SupervisorEvents {
  'supervisor:state': CustomEvent<SupervisorStateChange>
}

export interface SupervisorInit {
  spec: ComponentSpec
  /** Where the run record lives (kept across agent restarts). */
  stateDir: string
  /** Where the rotating log lives. */
  logDir: string
  tunables: Readonly<HostConfig>
  /** @default systemClock */
  clock?: Clock
  /** Jitter source. @default Math.random */
  random?: () => number
  /**
   * How processes are started when no `launcher` is given: the plain
   * detached process group, or a systemd scope each (host/systemd-scope.ts
   * `chooseStrategy`). @default { strategy: 'group' }
   */
  strategy?: StrategyChoice
  /** @default launcherFor(strategy, clock, tunables.adoptPollMs) */
  launcher?: Launcher
  /**
   * Run the component as this user (a name or `uid[:gid]`, host/user.ts);
   * needs an agent running as root. Its log file and log dir are chowned to
   * it; the state dir (the run records the agent trusts) stays the agent's.
   * @default the agent's own user
   */
  user?: string
  /** Where `user` is looked up. @default /etc/passwd, /etc/group */
  userFiles?: UserFiles
  logger?: Pick<Logger, 'info' | 'warn' | 'error'>
}

const ID_RE = /^[a-z0-9@._-]{1,128}$/

export class Supervisor extends TypedEventEmitter<SupervisorEvents> {
  readonly id: string
  readonly log: RotatingLog
  private readonly recordPath: string
  private readonly clock: Clock
  private readonly random: () => number
  private readonly launcher: Launcher
  private readonly t: Readonly<HostConfig>
  private state: SupervisorState = 'stopped'
  private since: number
  private restarts = 0
  private adopted = false
  private reason?: string
  private lastExit?: ExitInfo
  private delayMs?: number
  private proc?: ComponentProcess
  /** `init.user` resolved by start(). */
  private user?: ComponentUser
  /** Start times that may still count against the start limit. */
  private starts: number[] = []
  /** Exits in a row after runs shorter than backoffResetMs. */
  private quickExits = 0
  private runStartedAt = 0
  private cancelRestart = (): void => {}
  private cancelKill = (): void => {}
  private cancelLogCheck = (): void => {}
  /** Set by stop(): the next exit ends in `stopped` (or `failed` when a record could not be written). */
  private stopTo?: 'stopped' | 'failed'
  private stopped?: { promise: Promise<void>, resolve: () => void }
  private detached = false
  /** start() found the run record damaged. */
  private unreadableRecord = false
  /** Record writes, one after another. */
  private writes: Promise<void> = Promise.resolve()

  constructor (private readonly init: SupervisorInit) {
    super()
    if (!ID_RE.test(init.spec.id)) throw new SupervisorStateError(`bad component instance id ${JSON.stringify(init.spec.id)}`)
    if (init.spec.argv.length === 0) throw new SupervisorStateError(`component ${init.spec.id}: empty argv`)
    this.id = init.spec.id
    this.t = init.tunables
    this.clock = init.clock ?? systemClock
    this.random = init.random ?? Math.random
    this.launcher = init.launcher ?? (init.strategy !== undefined ? launcherFor(init.strategy, this.clock, this.t.adoptPollMs) : processLauncher(this.clock, this.t.adoptPollMs))
    this.recordPath = runRecordPath(init.stateDir, this.id)
    this.log = new RotatingLog(join(init.logDir, `${this.id}.log`), this.t.logMaxBytes, this.t.logFiles)
    this.since = this.clock.now()
  }

  status (): SupervisorStatus {
    return {
      id: this.id,
      state: this.state,
      ...(this.proc !== undefined ? { pid: this.proc.pid } : {}),
      restarts: this.restarts,
      since: this.since,
      adopted: this.adopted,
      ...(this.reason !== undefined ? { reason: this.reason } : {}),
      ...(this.lastExit !== undefined ? { lastExit: this.lastExit } : {}),
      ...(this.delayMs !== undefined ? { delayMs: this.delayMs } : {})
    }
  }

  /**
   * Adopt the recorded process if it still runs, else start one; a recorded
   * `failed` stays failed (`reset()` starts it). Resolves once the first
   * start attempt is decided. Does nothing unless `stopped`.
   *
   * `adoptOnly`: adopt the recorded process if it still runs, and otherwise
   * start nothing (the instance stays `stopped`, its record is dropped).
   * The host uses it for a component that is no longer deployed: adopted
   * only to be stopped, never started just to be stopped.
   */
  async start (opts: { adoptOnly?: boolean } = {}): Promise<void> {
    if (this.detached) throw new SupervisorStateError(`component ${this.id}: start after detach`)
    if (this.state !== 'stopped') return
    if (this.init.user !== undefined && this.user === undefined) {
      // A bad user is a configuration error (UnknownUserError, UserSwitchError): thrown, the instance stays stopped.
      const user = await resolveUser(this.init.user, this.init.userFiles)
      checkUserSwitch(user, process.geteuid?.() ?? -1, process.getegid?.() ?? -1)
      this.user = user
    }
    await mkdir(this.init.stateDir, { recursive: true, mode: 0o700 })
    // The log dir stays the agent's: a component that could write in it could
    // plant a link where the agent opens, rotates or chowns its log file.
    await mkdir(this.init.logDir, { recursive: true, mode: 0o750 })
    let record: RunRecord | undefined
    try {
      record = await readRunRecord(this.recordPath)
    } catch (err) {
      // Unknown whether a process runs: starting one could run it twice, so wait for the operator.
      this.unreadableRecord = true
      this.transition('failed', { reason: errText(err) })
      return
    }
    this.startLogChecks()
    if (record?.state === 'failed') {
      this.restarts = record.restarts
      this.transition('failed', { since: record.since, reason: 'failed before the agent restarted (start limit hit)' })
      return
    }
    if (record?.pid !== undefined) {
      this.restarts = record.restarts
      const proc = this.launcher.adopt({ pid: record.pid, startTime: record.startTime, bootId: record.bootId })
      if (proc !== undefined) {
        this.init.logger?.info({ component: this.id, pid: proc.pid }, 'adopted a running component')
        this.runStartedAt = record.since
        this.watch(proc)
        this.transition('running', { since: record.since, adopted: true })
        return
      }
      // It exited (or its pid went to another process) while no agent watched: this start is a restart.
      this.restarts++
    }
    if (opts.adoptOnly === true) {
      this.cancelLogCheck()
      this.forget()
      await this.writes
      return
    }
    await this.launch()
  }

  /** Start a `failed` component again with a fresh start-limit history (systemd: a manual start). */
  async reset (): Promise<void> {
    if (this.state !== 'failed' || this.detached) return
    this.starts = []
    this.quickExits = 0
    this.restarts++
    this.startLogChecks()
    await this.launch()
  }

  /** Stop the component: SIGTERM to its process group, SIGKILL after stopTimeoutMs; forget its record. */
  async stop (): Promise<void> {
    if (this.detached) return
    if (this.stopped !== undefined) return await this.stopped.promise
    // Never started (or already stopped): a record on disk may name a process an earlier agent left running; not ours to drop.
    if (this.state === 'stopped') return
    let resolve = (): void => {}
    const promise = new Promise<void>(r => { resolve = r })
    this.stopped = { promise, resolve }
    this.stopTo = 'stopped'
    switch (this.state) {
      case 'running': this.terminate(); break
      case 'starting': break // launch() sees stopTo once the spawn settles
      default: this.finishStop()
    }
    await promise
  }

  /**
   * Leave the component running and its record in place (the agent is
   * stopping); this supervisor is done. Resolves once the record is on disk.
   */
  async detach (): Promise<void> {
    if (!this.detached) {
      this.detached = true
      this.cancelRestart()
      this.cancelKill()
      this.cancelLogCheck()
      this.proc?.release()
      this.stopped?.resolve()
    }
    await this.writes
  }

  private async launch (): Promise<void> {
    const now = this.clock.now()
    this.starts = [...recentStarts(this.starts, now, this.t), now]
    this.transition('starting', { adopted: false })
    let proc: ComponentProcess
    let fd: number | undefined
    try {
      fd = this.log.openForChild()
      const user = this.user !== undefined ? { uid: this.user.uid, gid: this.user.gid } : undefined
      if (user !== undefined) fchownSync(fd, user.uid, user.gid)
      proc = await this.launcher.spawn({ argv: this.init.spec.argv, cwd: this.init.spec.cwd, env: this.init.spec.env, logFd: fd, name: this.id, ...(user !== undefined ? { user } : {}) })
    } catch (err) {
      this.runStartedAt = this.clock.now()
      this.exited({ code: null, signal: null }, `cannot start: ${errText(err)}`)
      return
    } finally {
      if (fd !== undefined) closeQuietly(fd)
    }
    const record = (since: number): void => { this.record({ state: 'running', pid: proc.pid, startTime: proc.startTime, bootId: proc.bootId, argv: [...this.init.spec.argv], since, restarts: this.restarts }) }
    // Detached while it spawned: the next agent adopts it through its record.
    if (this.detached) { proc.release(); record(this.clock.now()); return }
    this.runStartedAt = this.clock.now()
    this.watch(proc)
    if (this.stopTo !== undefined) { this.terminate(); return }
    this.transition('running', { reason: undefined })
    record(this.since)
  }

  private watch (proc: ComponentProcess): void {
    this.proc = proc
    void proc.exited.then(info => { if (this.proc === proc && !this.detached) this.exited(info) })
  }

  /** The process is gone (or never started, with `reason`): restart after the delay, or give up. */
  private exited (info: ExitInfo, reason?: string): void {
    const proc = this.proc
    this.proc = undefined
    this.lastExit = info
    this.cancelKill()
    // What it left running in its group goes with it (systemd's KillMode=control-group); an adopted one is not ours to check.
    if (proc !== undefined && !proc.adopted) { try { proc.signal('SIGKILL') } catch {} }
    if (this.stopTo !== undefined) { this.finishStop(); return }
    this.init.logger?.warn({ component: this.id, pid: proc?.pid, ...info, reason }, 'component exited')
    const now = this.clock.now()
    if (now - this.runStartedAt >= this.t.backoffResetMs) this.quickExits = 0
    const delayMs = restartDelay(this.quickExits, this.t, this.random)
    this.quickExits++
    if (startLimitHit(this.starts, now + delayMs, this.t)) {
      const why = `start limit hit: ${this.t.startLimitBurst} starts within ${this.t.startLimitIntervalMs} ms${reason !== undefined ? ` (last: ${reason})` : ''}`
      this.transition('failed', { reason: why })
      this.record({ state: 'failed', argv: [...this.init.spec.argv], since: this.since, restarts: this.restarts })
      return
    }
    this.transition('backoff', { delayMs, reason })
    this.cancelRestart = setTimer(this.clock, delayMs, () => {
      this.restarts++
      void this.launch()
    })
  }

  private terminate (): void {
    const proc = this.proc
    if (proc === undefined) return
    this.transition('stopping')
    this.cancelKill = setTimer(this.clock, this.t.stopTimeoutMs, () => {
      this.init.logger?.warn({ component: this.id, pid: proc.pid }, 'component ignored SIGTERM: SIGKILL')
      this.signal(proc, 'SIGKILL')
    })
    this.signal(proc, 'SIGTERM')
  }

  private signal (proc: ComponentProcess, sig: NodeJS.Signals): void {
    try { proc.signal(sig) } catch (err) { this.init.logger?.error({ component: this.id, pid: proc.pid, err: errText(err) }, `cannot send ${sig}`) }
  }

  private finishStop (): void {
    const to = this.stopTo ?? 'stopped'
    this.stopTo = undefined
    this.cancelRestart()
    this.cancelKill()
    this.cancelLogCheck()
    // A damaged record stays for the operator: its process may still run.
    if (to === 'stopped' && !this.unreadableRecord) this.forget()
    if (this.state !== to) this.transition(to)
    const waiter = this.stopped
    this.stopped = undefined
    void this.writes.then(() => waiter?.resolve())
  }

  private record (r: RunRecord): void {
    this.writes = this.writes.then(async () => await writeRunRecord(this.recordPath, r)).catch(err => {
      // Without its record a restarted agent would start the component a second time: stop it instead.
      this.init.logger?.error({ component: this.id, err: errText(err) }, 'cannot write the run record: stopping the component')
      this.reason = `cannot write ${this.recordPath}: ${errText(err)}`
      if (this.state === 'running' && this.stopTo === undefined) { this.stopTo = 'failed'; this.terminate() }
    })
  }

  private forget (): void {
    this.writes = this.writes.then(async () => await removeRunRecord(this.recordPath)).catch(err => {
      this.init.logger?.error({ component: this.id, err: errText(err) }, 'cannot remove the run record')
    })
  }

  private startLogChecks (): void {
    this.cancelLogCheck()
    const check = (): void => {
      void this.log.rotateIfNeeded().catch(err => this.init.logger?.warn({ component: this.id, err: errText(err) }, 'log rotation failed'))
      this.cancelLogCheck = setTimer(this.clock, this.t.logCheckMs, check)
    }
    this.cancelLogCheck = setTimer(this.clock, this.t.logCheckMs, check)
  }

  /** The one place the state changes: checked against `NEXT`, then announced. */
  private transition (to: SupervisorState, patch: { since?: number, adopted?: boolean, reason?: string, delayMs?: number } = {}): void {
    const from = this.state
    if (!NEXT[from].includes(to)) throw new SupervisorStateError(`component ${this.id}: no transition ${from} → ${to}`)
    this.state = to
    this.since = patch.since ?? this.clock.now()
    if ('adopted' in patch) this.adopted = patch.adopted === true
    if ('reason' in patch) this.reason = patch.reason
    this.delayMs = to === 'backoff' ? patch.delayMs : undefined
    // Nothing runs in these states, so nothing writes to the log.
    if (to === 'failed' || to === 'stopped') this.cancelLogCheck()
    this.safeDispatchEvent<SupervisorStateChange>('supervisor:state', { detail: { ...this.status(), previous: from } })
  }
}
