/**
 * The launcher's loop: start the build the state says, judge a trial, and
 * fall back on its own when the trial does not become ready.
 *
 *   1. read the state; plan the boot (state.ts planBoot): the trying build
 *      if any, its attempt counted, or after maxAttempts marked bad; else
 *      the good build; else the base install. The plan is persisted BEFORE
 *      anything starts, so a crash mid-trial still counts the attempt.
 *   2. start `node <build>/dist/daemon/cli.js agent <the agent's args>`
 *      with MYCEL_LAUNCHER=1.
 *   3. a trial must be ready within readyDeadlineMs: agent.json names the
 *      child's pid and its API answers GET /readyz 200. Ready: confirmed,
 *      it is the good build. Not ready in time, or exited before: stopped
 *      (SIGTERM, SIGKILL after stopTimeoutMs), the failure recorded, back
 *      to 1 (which tries again or gives up on it).
 *   4. when the agent exits: with EXIT_SWITCH_CORE, back to 1 (it wrote a
 *      new trying build); after SIGTERM/SIGINT to the launcher (forwarded
 *      to the agent), exit with the agent's code; otherwise the good build
 *      crashed: exit with its code and let systemd restart the launcher.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { AGENT_NODE_FLAGS } from './node-flags.js'
import { readFile } from 'node:fs/promises'
import { constants } from 'node:os'
import { join } from 'node:path'
import { agentInfoPath, coreStatePath, EXIT_SWITCH_CORE, LAUNCHER_ENV } from './contract.js'
import { attemptFailed, confirm, planBoot, type Build } from './state.js'
import { readState, writeState } from './state-file.js'
import type { LauncherTunables } from './tunables.js'

export type LauncherLog = (level: 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void

export interface LauncherInit {
  /** The agent's data dir (absolute): the state lives in <dataDir>/core/, the agent writes <dataDir>/agent.json. */
  dataDir: string
  /** The agent's arguments, passed on as `cli.js agent ...args`. */
  args: readonly string[]
  /** The install the launcher ships with: started while no build is good. */
  base: { root: string, version: string }
  tunables: LauncherTunables
  log: LauncherLog
  /** The agent's environment (MYCEL_LAUNCHER is added). @default process.env */
  env?: NodeJS.ProcessEnv
  /** @default Date.now */
  now?: () => number
}

type Trial = { ready: true } | { ready: false, reason: string }

interface Running { child: ChildProcess, exited: Promise<number>, code?: number }

export class Launcher {
  private running?: Running
  private stopping?: NodeJS.Signals
  private killTimer?: NodeJS.Timeout
  private readonly statePath: string
  private readonly now: () => number

  constructor (private readonly init: LauncherInit) {
    this.statePath = coreStatePath(init.dataDir)
    this.now = init.now ?? Date.now
  }

  /** Runs until the agent exits for good; resolves to the launcher's exit code. */
  async run (): Promise<number> {
    try {
      return await this.loop()
    } catch (err) {
      // The state could not be read or written: no build is started on a guess, and none is left behind.
      if (this.running !== undefined) await this.end(this.running)
      throw err
    }
  }

  /** SIGTERM/SIGINT to the launcher: passed to the agent, which stops gracefully; SIGKILL if it does not in time. */
  stop (signal: NodeJS.Signals): void {
    if (this.stopping !== undefined) return
    this.stopping = signal
    this.init.log('info', 'stopping the agent', { signal })
    if (this.running !== undefined) this.signal(this.running, signal)
  }

  private async loop (): Promise<number> {
    const t = this.init.tunables
    while (true) {
      if (this.stopping !== undefined) return 0
      const plan = planBoot(await readState(this.statePath), { maxAttempts: t.maxAttempts, baseVersion: this.init.base.version, now: this.now() })
      if (plan.trial || plan.markedBad !== undefined) await writeState(this.statePath, plan.state)
      if (plan.markedBad !== undefined) {
        const b = plan.markedBad
        this.init.log('error', `build ${b.version} did not become ready after ${b.attempts} attempts: returning to ${b.returnedTo}`, { version: b.version, reason: b.reason, returnedTo: b.returnedTo })
      }
      const build = plan.boot ?? { version: this.init.base.version, dir: this.init.base.root }
      const run = this.start(build, plan.trial)
      if (plan.trial) {
        const trial = await this.judge(run)
        if (this.stopping !== undefined) return await this.exitOf(run)
        if (!trial.ready) {
          await this.end(run)
          await writeState(this.statePath, attemptFailed(await readState(this.statePath), build, trial.reason))
          this.init.log('warn', `build ${build.version} did not become ready: ${trial.reason}`, { version: build.version, attempt: plan.state.trying?.attempts, maxAttempts: t.maxAttempts })
          continue
        }
        const before = await readState(this.statePath)
        const after = confirm(before, build)
        if (after !== before) await writeState(this.statePath, after)
        this.init.log('info', `build ${build.version} is ready: it is the good build now`, { version: build.version, dir: build.dir })
      }
      const code = await this.exitOf(run)
      if (this.stopping !== undefined) return code
      if (code === EXIT_SWITCH_CORE) {
        this.init.log('info', 'the agent asked for a core switch', { from: build.version })
        continue
      }
      this.init.log(code === 0 ? 'info' : 'error', `the agent exited with code ${code}`, { version: build.version, code })
      return code
    }
  }

  private start (build: Build, trial: boolean): Running {
    const cli = join(build.dir, 'dist', 'daemon', 'cli.js')
    this.init.log('info', trial ? `starting build ${build.version} on trial` : `starting build ${build.version}`, { version: build.version, dir: build.dir, trial })
    const child = spawn(process.execPath, [...AGENT_NODE_FLAGS, cli, 'agent', ...this.init.args], {
      stdio: 'inherit',
      env: { ...(this.init.env ?? process.env), [LAUNCHER_ENV]: '1' }
    })
    const run: Running = { child, exited: Promise.resolve(0) }
    run.exited = new Promise<number>(resolve => {
      child.once('error', (err) => {
        this.init.log('error', `cannot start the agent: ${err.message}`, { cli })
        run.code = 127
        resolve(127)
      })
      child.once('exit', (code, signal) => {
        run.code = code ?? 128 + (signal !== null ? constants.signals[signal] : 0)
        resolve(run.code)
      })
    })
    this.running = run
    // A stop that arrived while nothing ran reaches this agent too.
    if (this.stopping !== undefined) this.signal(run, this.stopping)
    return run
  }

  /** Ready within the deadline, or why not. */
  private async judge (run: Running): Promise<Trial> {
    const t = this.init.tunables
    const deadline = this.now() + t.readyDeadlineMs
    while (true) {
      if (run.code !== undefined) return { ready: false, reason: `exited with code ${run.code} before it was ready` }
      if (this.stopping !== undefined) return { ready: false, reason: 'stopped' }
      if (this.now() >= deadline) return { ready: false, reason: `not ready within ${t.readyDeadlineMs / 1000} s` }
      if (await this.ready(run.child.pid)) return { ready: true }
      await Promise.race([new Promise(resolve => setTimeout(resolve, t.readyPollMs)), run.exited])
    }
  }

  /** agent.json names this child, and its admin API says ready. */
  private async ready (pid: number | undefined): Promise<boolean> {
    try {
      const info = JSON.parse(await readFile(agentInfoPath(this.init.dataDir), 'utf8')) as { pid?: unknown, api?: unknown }
      if (info.pid !== pid || typeof info.api !== 'string') return false
      const res = await fetch(`http://${apiHost(info.api)}/readyz`, { signal: AbortSignal.timeout(Math.max(this.init.tunables.readyPollMs, 1_000)) })
      await res.arrayBuffer()
      return res.status === 200
    } catch {
      return false // not written yet, mid-write, or not answering yet
    }
  }

  private async exitOf (run: Running): Promise<number> {
    const code = await run.exited
    clearTimeout(this.killTimer)
    if (this.running === run) this.running = undefined
    return code
  }

  /** Stop an agent: SIGTERM, SIGKILL after stopTimeoutMs. */
  private async end (run: Running): Promise<number> {
    this.signal(run, 'SIGTERM')
    return await this.exitOf(run)
  }

  private signal (run: Running, signal: NodeJS.Signals): void {
    if (run.code !== undefined) return
    run.child.kill(signal)
    clearTimeout(this.killTimer)
    this.killTimer = setTimeout(() => {
      if (run.code !== undefined) return
      this.init.log('warn', `the agent did not stop within ${this.init.tunables.stopTimeoutMs} ms: killing it`, { pid: run.child.pid })
      run.child.kill('SIGKILL')
    }, this.init.tunables.stopTimeoutMs)
  }
}

/** `host:port` as a URL authority: an IPv6 host in brackets; a wildcard listen address reached on loopback. */
export function apiHost (api: string): string {
  const colon = api.lastIndexOf(':')
  let host = api.slice(0, colon)
  const port = api.slice(colon + 1)
  if (host === '0.0.0.0') host = '127.0.0.1'
  if (host === '::' || host === '[::]') host = '::1'
  if (host.includes(':') && !host.startsWith('[')) host = `[${host}]`
  return `${host}:${port}`
}
