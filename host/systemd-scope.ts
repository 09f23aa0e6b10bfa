/**
 * Components that survive a restart of the agent's systemd unit.
 *
 * systemd stops a service by killing its whole control group
 * (`KillMode=control-group`), and a child stays in its parent's cgroup
 * whatever its session or process group: a component spawned by the agent
 * would die with every `systemctl restart mycel`. So under systemd each
 * component is started through `systemd-run --scope`: systemd-run moves
 * itself into a new transient scope `mycel-<id>-<start>.scope` in
 * `mycel-components.slice` and then execs the component, so the pid we
 * spawn IS the component (same pid and start time: adoption by run record
 * works unchanged). The scope is a cgroup of its own, outside the agent's:
 * a restart or stop of the agent's unit kills the agent and its helpers
 * (health checks), never a component. Operators see components as units
 * (`systemctl status mycel-components.slice`) and can stop them all with the
 * slice. Nomad puts its tasks in cgroups under `nomad.slice` for the same
 * reason; the rejected alternative, `KillMode=process` on the agent's unit,
 * is in docs/components.md.
 *
 * Creating a system scope needs root (or a polkit grant), hence the strategy
 * is chosen per agent: `systemd-scope` when started by systemd as root with
 * systemd-run installed, else the plain detached process group.
 */
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import type { Clock } from '../lib/clock.js'
import { processLauncher, type LaunchSpec, type Launcher, type Wrap } from './process.js'

/** The slice every component scope goes in; deploy/mycel-components.slice ships it. */
export const COMPONENT_SLICE = 'mycel-components.slice'
/** Scope names are `<prefix>-<escaped id>-<start>.scope`. */
export const SCOPE_PREFIX = 'mycel'
/** Unit names are at most 255 characters; a longer escaped id is cut and keeps a hash of the whole. */
const MAX_ID_PART = 200

/** Where systemd-run is looked for (Debian/Ubuntu, Fedora/RHEL, older layouts). */
export const SYSTEMD_RUN_PATHS: readonly string[] = ['/usr/bin/systemd-run', '/bin/systemd-run']

export type LaunchStrategy = 'group' | 'systemd-scope'

export interface ScopeOptions {
  /** Absolute path of systemd-run. */
  systemdRun: string
  /** @default COMPONENT_SLICE */
  slice?: string
}

/** systemd-escape: unit names allow [A-Za-z0-9:_.-]; anything else (an instance id's '@') becomes \xNN. */
export function escapeUnitPart (s: string): string {
  return [...s].map(c => /[A-Za-z0-9:_.-]/.test(c) ? c : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join('')
}

/**
 * The scope's unit name. `start` (base36 ms) makes each start's scope new:
 * a scope lingers while anything the last run left behind still runs in it,
 * and a second scope of the same name would be refused.
 */
export function scopeUnitName (id: string, startMs: number): string {
  let part = escapeUnitPart(id)
  if (part.length > MAX_ID_PART) part = `${part.slice(0, MAX_ID_PART - 17)}-${createHash('sha256').update(id).digest('hex').slice(0, 16)}`
  return `${SCOPE_PREFIX}-${part}-${startMs.toString(36)}.scope`
}

/**
 * The command that runs `spec` in its own scope. The user switch is
 * systemd-run's (`--uid`/`--gid`, after the scope exists: only root may
 * create it); the spawn itself stays root but with gid 0 given, so libuv
 * drops the agent's supplementary groups before systemd-run runs and the
 * component inherits none of them.
 */
export function scopeCommand (spec: LaunchSpec, opts: ScopeOptions, startMs: number): ReturnType<Wrap> {
  const id = spec.name ?? 'component'
  return {
    argv: [
      opts.systemdRun, '--scope', '--quiet', '--collect',
      `--unit=${scopeUnitName(id, startMs)}`,
      `--slice=${opts.slice ?? COMPONENT_SLICE}`,
      `--description=mycel component ${id}`,
      ...(spec.user !== undefined ? [`--uid=${spec.user.uid}`, `--gid=${spec.user.gid}`] : []),
      '--',
      ...spec.argv
    ],
    ...(spec.user !== undefined ? { uid: 0, gid: 0 } : {})
  }
}

/** A launcher that starts each component in its own transient scope; adoption is the plain one (pid + start time). */
export function systemdScopeLauncher (clock: Clock, pollMs: number, opts: ScopeOptions): Launcher {
  return processLauncher(clock, pollMs, spec => scopeCommand(spec, opts, clock.now()))
}

export interface StrategyChoice {
  strategy: LaunchStrategy
  /** systemd-run's path when `systemd-scope`. */
  systemdRun?: string
  /** Why, for the agent's start-up log. */
  reason: string
}

/**
 * Which strategy an agent uses. `INVOCATION_ID` is set by systemd (≥ 232)
 * in every process it starts as a unit: without it there is no unit whose
 * stop could kill the components. Pure but for `exists` (injectable for tests).
 */
export function chooseStrategy (env: Readonly<Record<string, string | undefined>>, euid: number | undefined, exists: (path: string) => boolean = existsSync): StrategyChoice {
  if (env.INVOCATION_ID === undefined || env.INVOCATION_ID === '') return { strategy: 'group', reason: 'not started by systemd: components run in their own process groups' }
  const systemdRun = SYSTEMD_RUN_PATHS.find(p => exists(p))
  if (systemdRun === undefined) return { strategy: 'group', reason: 'systemd-run not found: components stay in the agent unit\'s cgroup and a restart of the unit kills them' }
  if (euid !== 0) return { strategy: 'group', reason: 'agent is not root, so it cannot create scopes: components stay in the agent unit\'s cgroup and a restart of the unit kills them (see docs/components.md)' }
  return { strategy: 'systemd-scope', systemdRun, reason: `each component in its own scope in ${COMPONENT_SLICE}` }
}

/** The launcher for a chosen strategy. */
export function launcherFor (choice: StrategyChoice, clock: Clock, pollMs: number): Launcher {
  if (choice.strategy === 'systemd-scope' && choice.systemdRun !== undefined) return systemdScopeLauncher(clock, pollMs, { systemdRun: choice.systemdRun })
  return processLauncher(clock, pollMs)
}
