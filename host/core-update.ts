/**
 * mycel's own core as a component (issue 14, docs/core-update.md): what the
 * component host does for a desired release of CORE_COMPONENT.
 *
 *   the running version    nothing to do (reported running, passing);
 *   another version        fetched, verified and unpacked into
 *                          components/mycel/<version>/ exactly as any
 *                          component (the host's own path), its
 *                          node_modules linked to the running install's,
 *                          written as `trying` into the launcher state, and
 *                          the agent asked to switch (it stops without a
 *                          leave and exits with EXIT_SWITCH_CORE; the
 *                          launcher starts the new build on trial);
 *   a version the launcher gave up on (bad): reported failed, never tried
 *                          again;
 *   no launcher            reported failed: nothing can switch the build.
 *
 * Components keep running across the switch: the next agent adopts them.
 * The core's files are never removed by an undeploy: the running build may
 * be one of them. The launcher state is written by the launcher while no
 * agent or a trial runs and by the agent only once its own trial is
 * confirmed, so the two never write it at once.
 */
import { lstat, readFile, realpath, rm, symlink } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from 'pino'
import type { Clock } from '../lib/clock.js'
import { coreStatePath } from '../launcher/contract.js'
import { CoreStateCorruptError, readState, writeState } from '../launcher/state-file.js'
import { badBuild, requestTry, type BadBuild, type LauncherState } from '../launcher/state.js'
import { CorruptFileError } from '../lib/errors.js'
import { CORE_COMPONENT } from '../protocols/artifacts/constants.js'
import type { ComponentReport } from '../protocols/health/report.js'
import { NotACoreBuildError } from './errors.js'
import { pruneVersions, versionDir } from './installed.js'
import type { Phase, Slot } from './slot.js'

export { CORE_COMPONENT }

/** Why a core update is refused on an agent the launcher did not start. */
export const NO_LAUNCHER_REASON = 'core updates need the launcher (deploy/mycel.service runs mycel-launcher); this agent runs without it'

/** What the agent tells the host about the core it runs. */
export interface CoreInit {
  /** The running agent's version (package.json of the running build). */
  version: string
  /** Unix ms the agent started: `since` of the running core. */
  startedAt: number
  /** The running install's node_modules: a core build has none of its own and is linked to it. */
  nodeModules: string
  /**
   * Present when the agent runs under the launcher (MYCEL_LAUNCHER=1): stop
   * gracefully WITHOUT announcing a leave, then exit with EXIT_SWITCH_CORE.
   * Called once, and must not wait for the host (the stop stops the host).
   */
  switchCore?: () => void
}

/** What the host lends the core logic: its own install path and its bookkeeping. */
export interface CoreHostSide {
  /** Fetch, verify and unpack `want` into components/<name>/<version>/, as for any component (phases fetching, installing). */
  install: (slot: Slot) => Promise<void>
  setPhase: (slot: Slot, phase: Phase, version: string | undefined, reason?: string) => void
  /** A failed step: reported, retried after the host's pause (a damaged file: fail-stop). */
  fail: (slot: Slot, version: string | undefined, err: unknown) => void
  /** Step again after `ms`. */
  later: (slot: Slot, ms: number) => void
  running: () => boolean
}

/** What the report shows, decided by the last step. */
type View =
  | { kind: 'running' }
  /** This agent is the trial build: running, not yet confirmed by the launcher. */
  | { kind: 'confirming' }
  | { kind: 'bad', bad: BadBuild }
  /** Installing, failed, refused: the slot's phase says it. */
  | { kind: 'phase' }

export class CoreUpdater {
  private view?: View
  private switched = false

  constructor (private readonly d: { dataDir: string, log: Logger, clock: Clock, pollMs: number, init?: CoreInit, host: CoreHostSide }) {}

  /** One step toward the wanted core version (the slot's want is set). */
  async step (slot: Slot): Promise<void> {
    const want = slot.want
    const init = this.d.init
    if (want === undefined || this.switched) return
    if (init === undefined || init.switchCore === undefined) {
      if (want.version === init?.version) this.settle(slot, { kind: 'running' }, 'idle')
      else this.settle(slot, { kind: 'phase' }, 'failed', want.version, NO_LAUNCHER_REASON)
      return
    }
    let state: LauncherState
    try {
      state = await this.readState()
    } catch (err) {
      this.view = { kind: 'phase' }
      this.d.host.fail(slot, want.version, err)
      return
    }
    const onTrial = state.trying?.version === init.version
    if (want.version === init.version || onTrial) {
      // Our own trial: the launcher writes the state until it confirms us; ask again shortly.
      if (onTrial) this.d.host.later(slot, this.d.pollMs)
      this.settle(slot, { kind: onTrial ? 'confirming' : 'running' }, 'idle')
      return
    }
    const bad = badBuild(state, want.version)
    if (bad !== undefined) {
      this.settle(slot, { kind: 'bad', bad }, 'failed', want.version, badReason(bad))
      return
    }
    if (this.d.clock.now() < slot.retryAt && slot.phaseVersion === want.version) return
    this.view = { kind: 'phase' }
    try {
      await this.d.host.install(slot)
      const dir = versionDir(this.d.dataDir, CORE_COMPONENT, want.version)
      await checkCoreBuild(dir, want.version)
      await linkNodeModules(dir, init.nodeModules)
      if (slot.want !== want || !this.d.host.running()) { slot.again = true; return }
      // Read again: nothing else writes while we run confirmed, but a damaged file must not be overwritten.
      const now = await this.readState()
      await writeState(coreStatePath(this.d.dataDir), requestTry(now, { version: want.version, dir }))
      const keep = new Set([init.version, want.version, ...(now.good !== undefined ? [now.good.version] : [])])
      const pruned = await pruneVersions(this.d.dataDir, CORE_COMPONENT, keep)
      if (pruned.length > 0) this.d.log.info({ removed: pruned }, 'old core builds removed')
      slot.pendingArchive = undefined
      this.d.host.setPhase(slot, 'installing', want.version, 'switching the agent to this build')
      this.d.log.info({ from: init.version, to: want.version, dir }, 'core build installed: switching the agent (the launcher starts it on trial)')
      this.switched = true
      init.switchCore()
    } catch (err) {
      if (!this.d.host.running()) return
      this.d.host.fail(slot, want.version, err)
    }
  }

  /**
   * The health report's entry for the core, whenever it is desired here:
   * the running version passing; or the version being installed, refused or
   * given up on by the launcher.
   */
  report (slot: Slot): ComponentReport | undefined {
    const want = slot.want
    const init = this.d.init
    if (want === undefined) return undefined
    const view: View = this.view ?? (want.version === init?.version ? { kind: 'running' } : { kind: 'phase' })
    if ((view.kind === 'running' || view.kind === 'confirming') && init !== undefined) {
      return {
        name: CORE_COMPONENT,
        version: init.version,
        state: view.kind === 'running' ? 'running' : 'starting',
        pid: process.pid,
        restarts: 0,
        health: view.kind === 'running' ? 'passing' : 'unknown',
        since: Math.floor(init.startedAt),
        ...(view.kind === 'confirming' ? { reason: 'on trial: the launcher has not seen this build ready yet' } : {})
      }
    }
    if (view.kind === 'bad') {
      return { name: CORE_COMPONENT, version: view.bad.version, state: 'failed', restarts: 0, health: 'failing', since: view.bad.at, reason: badReason(view.bad) }
    }
    return {
      name: CORE_COMPONENT,
      version: slot.phaseVersion ?? want.version,
      state: slot.phase === 'idle' ? 'starting' : slot.phase,
      restarts: 0,
      health: 'unknown',
      since: Math.floor(slot.phaseSince),
      ...(slot.reason !== undefined ? { reason: slot.reason } : {})
    }
  }

  /** Show `view`; the phase is set (and the change announced) only when something changed, as this runs on every poll. */
  private settle (slot: Slot, view: View, phase: Phase, version?: string, reason?: string): void {
    const same = this.view?.kind === view.kind && slot.phase === phase && slot.phaseVersion === version && slot.reason === reason
    this.view = view
    if (!same) this.d.host.setPhase(slot, phase, version, reason)
  }

  /** The launcher state; a damaged one is the lib's CorruptFileError (fail-stop for the core slot, named in /readyz). */
  private async readState (): Promise<LauncherState> {
    try {
      return await readState(coreStatePath(this.d.dataDir))
    } catch (err) {
      if (err instanceof CoreStateCorruptError) throw new CorruptFileError(err.file, err.problem, err.recovery)
      throw err
    }
  }
}

function badReason (b: BadBuild): string {
  return `the launcher returned to ${b.returnedTo}: ${b.version} did not become ready (${b.reason}, ${b.attempts} attempts)`
}

/** The unpacked archive is a core build of `version`: mycel's package.json at that version and the CLI the launcher runs. */
async function checkCoreBuild (dir: string, version: string): Promise<void> {
  let pkg: { name?: unknown, version?: unknown }
  try {
    pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8')) as typeof pkg
  } catch {
    throw new NotACoreBuildError(`${CORE_COMPONENT}@${version} is not a core build: no readable package.json (make one with mycel core pack)`)
  }
  if (pkg.name !== 'mycel' || pkg.version !== version) {
    throw new NotACoreBuildError(`${CORE_COMPONENT}@${version} is not a core build: its package.json is ${String(pkg.name)}@${String(pkg.version)}`)
  }
  try {
    await lstat(join(dir, 'dist', 'daemon', 'cli.js'))
  } catch {
    throw new NotACoreBuildError(`${CORE_COMPONENT}@${version} is not a core build: no dist/daemon/cli.js`)
  }
}

/**
 * A core build ships without dependencies: <dir>/node_modules links to the
 * running install's (resolved, so a chain of builds links to the base
 * install's real directory). A real directory the archive brought is kept.
 */
async function linkNodeModules (dir: string, nodeModules: string): Promise<void> {
  const link = join(dir, 'node_modules')
  const target = await realpath(nodeModules)
  try {
    const st = await lstat(link)
    if (st.isDirectory()) return
    await rm(link, { force: true })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  await symlink(target, link, 'dir')
}
