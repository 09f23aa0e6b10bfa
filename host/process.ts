/**
 * How the supervisor runs and watches a component's process: `spawn` a new
 * one, or `adopt` one a previous agent started.
 *
 * A spawned component leads its own process group and session (`detached`),
 * reads nothing and writes to its log file (no pipe to the agent), and is
 * unref'd: the agent may exit or die and the component runs on, re-parented
 * to init (or a subreaper), until a later agent adopts it. Stopping signals
 * the whole group, so whatever the component started goes with it.
 * Given a user (host/user.ts), the child switches to its uid and gid before
 * exec. How the argv is wrapped is the launch strategy's (host/systemd-scope.ts).
 *
 * An adopted process is not our child: there is no exit event, so it is
 * looked up in /proc every `pollMs` and counts as exited once its pid is gone,
 * a zombie, or another process (host/proc.ts). It is signalled only after the
 * same check, so a reused pid is never signalled.
 */
import { spawn } from 'node:child_process'
import { setTimer, type Clock } from '../lib/clock.js'
import { identify, isSameProcess, signalGroup, type ProcessIdentity } from './proc.js'

export interface LaunchSpec {
  argv: readonly string[]
  cwd: string
  /** The whole environment of the process (nothing is inherited from the agent). */
  env: Readonly<Record<string, string>>
  /** Descriptor for stdout and stderr (an append-mode log file). */
  logFd: number
  /** The instance id (names the systemd scope, host/systemd-scope.ts). */
  name?: string
  /** Run as this uid/gid (the agent is root: host/user.ts checks); supplementary groups are dropped. */
  user?: { uid: number, gid: number }
}

export interface ExitInfo {
  /** Exit code; null when killed by a signal or when adopted (not our child: the code is not ours to read). */
  code: number | null
  signal: NodeJS.Signals | null
}

export interface ComponentProcess extends ProcessIdentity {
  /** Started by an earlier agent and adopted by this one. */
  readonly adopted: boolean
  /** Settles once, when the process has exited. */
  readonly exited: Promise<ExitInfo>
  /** Signal the process group; false when none of it is left. */
  signal: (signal: NodeJS.Signals) => boolean
  /** Stop watching without touching the process (the agent is going away). */
  release: () => void
}

export interface Launcher {
  /** Start a process; rejects when it cannot be started (no such file, not executable). */
  spawn: (spec: LaunchSpec) => Promise<ComponentProcess>
  /** Watch the recorded process if it is still that process; undefined when it is gone or its pid was reused. */
  adopt: (id: ProcessIdentity) => ComponentProcess | undefined
}

/** How the argv and credentials the process is spawned with are derived from a spec (the identity for a plain group). */
export type Wrap = (spec: LaunchSpec) => { argv: readonly string[], uid?: number, gid?: number }

const plain: Wrap = spec => ({ argv: spec.argv, uid: spec.user?.uid, gid: spec.user?.gid })

export function processLauncher (clock: Clock, pollMs: number, wrap: Wrap = plain): Launcher {
  return {
    spawn: async (spec) => await new Promise<ComponentProcess>((resolve, reject) => {
      const run = wrap(spec)
      // libuv drops the supplementary groups (setgroups(0)) whenever uid or gid is given: root's are never inherited.
      const child = spawn(run.argv[0], run.argv.slice(1), {
        cwd: spec.cwd,
        env: { ...spec.env },
        detached: true,
        stdio: ['ignore', spec.logFd, spec.logFd],
        ...(run.uid !== undefined ? { uid: run.uid } : {}),
        ...(run.gid !== undefined ? { gid: run.gid } : {})
      })
      child.unref()
      const exited = new Promise<ExitInfo>(resolve => {
        child.once('exit', (code, signal) => { resolve({ code, signal }) })
      })
      child.once('error', reject)
      child.once('spawn', () => {
        child.removeListener('error', reject)
        // An 'error' after the spawn (a failed kill) must not become an uncaught exception.
        child.on('error', () => {})
        const pid = child.pid as number
        resolve({
          ...identify(pid),
          adopted: false,
          exited,
          signal: (sig) => signalGroup(pid, sig),
          release: () => { child.removeAllListeners('exit') }
        })
      })
    }),

    adopt: (id) => {
      if (!isSameProcess(id)) return undefined
      let cancel = (): void => {}
      let gone = (_: ExitInfo): void => {}
      const exited = new Promise<ExitInfo>(resolve => { gone = resolve })
      const poll = (): void => {
        if (isSameProcess(id)) cancel = setTimer(clock, pollMs, poll)
        else gone({ code: null, signal: null })
      }
      cancel = setTimer(clock, pollMs, poll)
      return {
        ...id,
        adopted: true,
        exited,
        signal: (sig) => isSameProcess(id) && signalGroup(id.pid, sig),
        release: () => { cancel() }
      }
    }
  }
}
