/**
 * The component host of one node (issue 13): makes what runs here match what
 * the network wants here. For each component this node should run
 * (`desired`: deployments and placements, read by the daemon), it
 *
 *   fetching    gets the archive the verified manifest names, peer to peer,
 *               every chunk and the whole archive checked (ArchiveSource);
 *   installing  unpacks it into components/<name>/<version>/ (the safe,
 *               atomic unpack of protocols/artifacts/archive.ts);
 *   switch      stops the version that ran before, records the new one as
 *               `current` (durably, installed.ts), starts it supervised
 *               (instance.ts: restarts, start limit, health check).
 *
 * Nothing is switched until the new version is fully unpacked: a failed
 * fetch or install (no provider, disk full, a hostile archive) leaves the
 * running version running, reports `failed` with the reason, and is tried
 * again after a pause that doubles (installRetryMinMs … installRetryMaxMs).
 * A component no longer desired is stopped and its files removed.
 *
 * Restarting the agent does not restart components: `start()` adopts every
 * installed component's running process (same pid and start time) from its
 * run record, and `stop()` detaches, leaving them running (Habitat's
 * launcher). One that is no longer desired is adopted only to be stopped.
 *
 * mycel's own core (CORE_COMPONENT) is fetched, verified and unpacked the
 * same way, then handed to the launcher instead of run: host/core-update.ts.
 *
 * Work on one component is serialized (one step at a time, a change during
 * a step runs another step after it); components proceed independently, so
 * a slow fetch of one does not hold the others.
 */
import { access, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { Logger } from 'pino'
import type { CommonComponents } from '../lib/components.js'
import { setTimer, systemClock, type Clock } from '../lib/clock.js'
import { CorruptFileError, errText } from '../lib/errors.js'
import type { Startable } from '../lib/lifecycle.js'
import { unpackArchive } from '../protocols/artifacts/archive.js'
import { ManifestConflictError, UntrustedPublisherError } from '../protocols/artifacts/errors.js'
import { UnknownComponentError } from './errors.js'
import type { Manifest } from '../protocols/artifacts/manifest.js'
import type { ComponentReport } from '../protocols/health/report.js'
import type { HostConfig } from './constants.js'
import { allowTraverse, componentsDir, installedNames, pruneVersions, readCurrent, removeComponent, versionDir, writeCurrent, type ReleaseRef } from './installed.js'
import { newSlot, slotReports, type DesiredRelease, type Phase, type Slot } from './slot.js'
import { Instance } from './instance.js'
import { hostMetrics, type HostMetrics } from './metrics.js'
import { Supervisor } from './supervisor.js'
import type { StrategyChoice } from './systemd-scope.js'
import { checkUserSwitch, resolveUser, type ComponentUser } from './user.js'
import { CORE_COMPONENT, CoreUpdater, type CoreInit } from './core-update.js'

/** Errors that mean "not available here yet" (the release has not replicated, no provider has the archive), not a failure of this node. */
const WAITING_ERRORS = new Set(['UnknownReleaseError', 'ArtifactUnavailableError'])

/** The component name the agent runs the host under (faults, logs). */
export const HOST_COMPONENT = 'component-host'

export type { DesiredRelease }

/** A release as the host needs it: the manifest and the archive it names. */
export type HostRelease = Manifest & { archive: { cid: string, size: number } }

/** Where verified manifests come from (the artifact service). */
export interface ReleaseSource {
  /** The verified manifest of `name@version`, its publisher trusted now; a named error otherwise. */
  release: (name: string, version: string) => Promise<HostRelease>
}

/** Where archives come from (the artifact fetcher and block store). */
export interface ArchiveSource {
  /** Resolves once every chunk of the archive is held and the whole archive checked against its CID. */
  fetch: (archive: { cid: string, size: number }, signal: AbortSignal) => Promise<void>
  /** The held archive's bytes, verified again as they are read. */
  read: (cid: string) => AsyncIterable<Uint8Array>
}

export type ComponentHostComponents = Pick<CommonComponents, 'dataDir' | 'logger' | 'registry' | 'signal' | 'faults'>

export interface ComponentHostInit {
  tunables: Readonly<HostConfig>
  /** What this node should run; undefined while that is unknown (replicated config not running): then nothing is stopped. */
  desired: () => readonly DesiredRelease[] | undefined
  releases: ReleaseSource
  archives: ArchiveSource
  /** Variables every component gets (MYCEL_NODE_ID, MYCEL_REGION, ...). */
  env?: Readonly<Record<string, string>>
  /** Run components as this user (a name or uid[:gid]); needs an agent running as root. */
  user?: string
  strategy?: StrategyChoice
  /** A state changed (the health report is published early). */
  onChange?: () => void
  /** A switch or a removal finished: archives may have fallen out of use (the daemon collects garbage). */
  onSettled?: () => void
  /** @default systemClock */
  clock?: Clock
  /** The running core, for a desired release of CORE_COMPONENT; absent: such a release is refused (no launcher). */
  core?: CoreInit
}

export class ComponentHost implements Startable {
  readonly metrics: HostMetrics
  private readonly slots = new Map<string, Slot>()
  private readonly log: Logger
  private readonly clock: Clock
  private readonly stateDir: string
  private readonly logDir: string
  private user?: ComponentUser
  private started = false
  private readonly working = new Set<Promise<void>>()
  private readonly core: CoreUpdater

  constructor (private readonly components: ComponentHostComponents, private readonly init: ComponentHostInit) {
    this.log = components.logger.child({ component: HOST_COMPONENT })
    this.clock = init.clock ?? systemClock
    this.metrics = hostMetrics(components.registry)
    this.metrics.bind(() => this.report())
    this.stateDir = join(components.dataDir, 'host', 'run')
    this.logDir = join(components.dataDir, 'host', 'logs')
    this.core = new CoreUpdater({
      dataDir: components.dataDir,
      log: this.log,
      clock: this.clock,
      pollMs: init.tunables.corePollMs,
      ...(init.core !== undefined ? { init: init.core } : {}),
      host: {
        install: async (slot) => { await this.fetchAndUnpack(slot, slot.want!) },
        setPhase: (slot, phase, version, reason) => { this.setPhase(slot, phase, version, reason) },
        fail: (slot, version, err) => { this.fail(slot, version, err) },
        later: (slot, ms) => { slot.cancelRetry(); slot.cancelRetry = setTimer(this.clock, ms, () => { this.kick(slot) }) },
        running: () => this.started
      }
    })
  }

  /** Adopt what runs, then converge on what is desired. */
  async start (): Promise<void> {
    if (this.started) return
    if (this.init.user !== undefined) {
      const user = await resolveUser(this.init.user)
      checkUserSwitch(user, process.geteuid?.() ?? -1, process.getegid?.() ?? -1)
      this.user = user
    }
    await mkdir(componentsDir(this.components.dataDir), { recursive: true, mode: 0o755 })
    if (this.user !== undefined) await allowTraverse(this.components.dataDir)
    this.started = true
    const desired = this.desiredMap()
    for (const name of await installedNames(this.components.dataDir)) {
      // The core's builds run under the launcher, not here: nothing to adopt (or stop).
      if (name === CORE_COMPONENT) continue
      const slot = this.slot(name)
      if (desired !== undefined) this.setWant(slot, desired.get(name))
      // Not desired, or desired only if it still runs (keepOnly): adopt, never start.
      await this.adopt(slot, desired !== undefined && (slot.want === undefined || slot.want.keepOnly === true))
    }
    this.reconcile()
    this.log.info({ components: this.slots.size, user: this.user?.name }, 'component host started')
  }

  /** Leave every component running for the next agent. */
  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    for (const s of this.slots.values()) { s.abort.abort(); s.cancelRetry() }
    await Promise.allSettled([...this.working])
    await Promise.allSettled([...this.slots.values()].map(async s => await s.instance?.detach()))
    this.slots.clear()
  }

  /** The desired set changed (or may have): converge. Cheap when nothing changed. */
  reconcile (): void {
    if (!this.started) return
    const desired = this.desiredMap()
    if (desired === undefined) return
    for (const s of this.slots.values()) if (!desired.has(s.name)) this.setWant(s, undefined)
    for (const [name, want] of desired) this.setWant(this.slot(name), want)
    for (const s of this.slots.values()) this.kick(s)
  }

  /** A fetch of a version no longer wanted is aborted at once (an undeploy must not wait for it). */
  private setWant (slot: Slot, want: DesiredRelease | undefined): void {
    const fetching = slot.phase === 'fetching' ? slot.phaseVersion : undefined
    if (fetching !== undefined && fetching !== want?.version) {
      slot.abort.abort()
      slot.abort = new AbortController()
    }
    slot.want = want
    slot.wantKnown = true
  }

  /**
   * Something a failed install waited for may have arrived (a release was
   * learned, a provider announced): try every failed install now instead of
   * at the end of its pause.
   */
  retryNow (): void {
    if (!this.started) return
    for (const s of this.slots.values()) {
      if (s.retryAt === 0) continue
      s.cancelRetry()
      s.retryAt = 0
      this.kick(s)
    }
  }

  /**
   * Stop and start a component's running instance (the `component-restart`
   * command, docs/commands.md): same version, same install, a fresh process
   * and a fresh start-limit history. Throws UnknownComponentError when this
   * node runs no instance of it.
   */
  async restart (name: string): Promise<void> {
    const inst = this.started ? this.slots.get(name)?.instance : undefined
    if (inst === undefined) throw new UnknownComponentError(`no instance of component ${name} runs on this node`)
    await inst.stop()
    await inst.start()
  }

  /** Resolves once every step started so far has ended. */
  async idle (): Promise<void> {
    while (this.working.size > 0) await Promise.allSettled([...this.working])
  }

  /** Archive CIDs this node needs: each component's current and previous version, and installs in progress. */
  archivesInUse (): string[] | undefined {
    // Stopped: unknown, so a collection running meanwhile deletes nothing (rollback blocks included).
    if (!this.started) return undefined
    const out = new Set<string>()
    for (const s of this.slots.values()) {
      for (const a of [s.running?.archive, s.previous?.archive, s.pendingArchive]) if (a !== undefined) out.add(a)
    }
    return [...out].sort()
  }

  /** One entry per component this node hosts or is installing, sorted by name, capped to fit a health report. */
  report (): ComponentReport[] {
    return slotReports(this.slots.values())
  }

  private desiredMap (): Map<string, DesiredRelease> | undefined {
    const list = this.init.desired()
    if (list === undefined) return undefined
    return new Map(list.map(d => [d.name, d]))
  }

  private slot (name: string): Slot {
    let s = this.slots.get(name)
    if (s === undefined) {
      s = newSlot(name, this.clock.now())
      if (name === CORE_COMPONENT) { const core = s; core.report = () => this.core.report(core) }
      this.slots.set(name, s)
    }
    return s
  }

  /** Re-attach to an installed component after an agent restart; `adoptOnly` when it is no longer desired. */
  private async adopt (slot: Slot, adoptOnly: boolean): Promise<void> {
    try {
      const current = await readCurrent(this.components.dataDir, slot.name)
      if (current === undefined) return // an install that never switched: its files are pruned or reused
      slot.running = current.current
      slot.previous = current.previous
      let release: HostRelease
      try {
        release = await this.init.releases.release(slot.name, current.current.version)
      } catch (err) {
        // Its publisher is no longer trusted, or its version is conflicted:
        // what runs is not run on. Any other failure (the artifact service
        // stopped on a fault) leaves it running; a later step adopts it.
        if (err instanceof UntrustedPublisherError || err instanceof ManifestConflictError) await this.stopOrphan(slot.name)
        throw err
      }
      const instance = this.instance(release)
      await instance.start({ adoptOnly })
      slot.instance = instance
    } catch (err) {
      this.fail(slot, slot.running?.version, err)
    }
  }

  /**
   * Stop a component's recorded process without its manifest (the run record
   * names it). The argv is never run: `adoptOnly` adopts or does nothing.
   */
  private async stopOrphan (name: string): Promise<void> {
    const sup = new Supervisor({
      spec: { id: name, argv: ['(no manifest)'], cwd: this.components.dataDir, env: {} },
      stateDir: this.stateDir,
      logDir: this.logDir,
      tunables: this.init.tunables,
      clock: this.clock,
      ...(this.init.strategy !== undefined ? { strategy: this.init.strategy } : {}),
      logger: this.log
    })
    await sup.start({ adoptOnly: true })
    if (sup.status().state === 'running') {
      this.log.warn({ name, pid: sup.status().pid }, 'stopping a component whose release cannot be used any more')
      await sup.stop()
    }
  }

  private kick (slot: Slot): void {
    if (!this.started) return
    if (slot.busy) { slot.again = true; return }
    slot.busy = true
    const run = (async () => {
      try {
        do {
          slot.again = false
          await this.step(slot)
        } while (slot.again && this.started)
      } finally {
        slot.busy = false
      }
    })()
    this.working.add(run)
    void run.finally(() => this.working.delete(run))
  }

  /** One step toward the wanted state of one component. */
  private async step (slot: Slot): Promise<void> {
    // Never told what is wanted (replicated config was stopped at start): nothing is stopped or removed.
    if (!slot.wantKnown) return
    if (slot.corrupt) return
    if (slot.name === CORE_COMPONENT) {
      // Undeployed: the core build keeps running and its files stay (the running build may be one of them).
      if (slot.want === undefined) { if (this.slots.get(slot.name) === slot) this.slots.delete(slot.name); this.changed(); return }
      return await this.core.step(slot)
    }
    const want = slot.want
    const keeps = want?.keepOnly === true && slot.instance !== undefined && slot.running?.version === want.version
    if (want === undefined || (want.keepOnly === true && !keeps)) {
      try {
        await this.remove(slot)
      } catch (err) {
        if (this.started) this.fail(slot, slot.running?.version, err)
      }
      return
    }
    if (slot.instance !== undefined && slot.running?.version === want.version) {
      if (slot.phase !== 'idle') this.setPhase(slot, 'idle', undefined)
      return
    }
    if (this.clock.now() < slot.retryAt && slot.phaseVersion === want.version) return
    slot.cancelRetry()
    try {
      const release = await this.fetchAndUnpack(slot, want)
      if (slot.want !== want || !this.started) { slot.again = true; return }
      await this.switchTo(slot, release)
      slot.pendingArchive = undefined
      this.metrics.installs.inc({ result: 'ok' })
      this.settled()
    } catch (err) {
      if (!this.started || slot.abort.signal.aborted) return
      this.metrics.installs.inc({ result: (err as Error).name ?? 'Error' })
      this.fail(slot, want.version, err)
    }
  }

  /** The verified release of `want`, unpacked into its version directory (fetched first unless it is there already). */
  private async fetchAndUnpack (slot: Slot, want: DesiredRelease): Promise<HostRelease> {
    const release = await this.init.releases.release(want.name, want.version)
    const dir = versionDir(this.components.dataDir, want.name, want.version)
    slot.pendingArchive = release.archive.cid
    if (!await exists(dir)) {
      this.setPhase(slot, 'fetching', want.version)
      await this.init.archives.fetch(release.archive, slot.abort.signal)
      this.setPhase(slot, 'installing', want.version)
      await unpackArchive(this.init.archives.read(release.archive.cid), dir)
    }
    return release
  }

  /** Stop the version that runs, record the new one, start it, drop versions older than the previous. */
  private async switchTo (slot: Slot, release: HostRelease): Promise<void> {
    const from = slot.running
    // Built first: a manifest the host cannot run (a bad health check) fails here, with the old version untouched.
    const next = this.instance(release)
    const old = slot.instance
    if (old !== undefined) {
      await old.stop()
      slot.instance = undefined
    }
    const to: ReleaseRef = { version: release.version, archive: release.archive.cid }
    const previous = from !== undefined && from.version !== to.version ? from : slot.previous
    try {
      await writeCurrent(this.components.dataDir, slot.name, { current: to, ...(previous !== undefined ? { previous } : {}) })
    } catch (err) {
      // Disk full: the new version cannot be recorded, so the old one runs on.
      if (old !== undefined) { await old.start().catch(() => {}); slot.instance = old }
      throw err
    }
    slot.running = to
    slot.previous = previous
    slot.failures = 0
    slot.retryAt = 0
    this.setPhase(slot, 'idle', undefined)
    await next.start()
    slot.instance = next
    this.log.info({ name: slot.name, version: to.version, from: from?.version }, from === undefined ? 'component installed' : 'component switched')
    const keep = new Set([to.version, ...(previous !== undefined ? [previous.version] : [])])
    const pruned = await pruneVersions(this.components.dataDir, slot.name, keep)
    if (pruned.length > 0) this.log.info({ name: slot.name, removed: pruned }, 'old component versions removed')
  }

  private async remove (slot: Slot): Promise<void> {
    slot.cancelRetry()
    if (slot.instance !== undefined) {
      await slot.instance.stop()
      slot.instance = undefined
      this.log.info({ name: slot.name, version: slot.running?.version }, 'component stopped: no longer deployed here')
    }
    await removeComponent(this.components.dataDir, slot.name)
    slot.running = undefined
    slot.previous = undefined
    slot.pendingArchive = undefined
    if (slot.want === undefined && this.slots.get(slot.name) === slot) this.slots.delete(slot.name)
    this.changed()
    this.settled()
  }

  private settled (): void {
    try { this.init.onSettled?.() } catch (err) { this.log.warn({ err }, 'component host settle listener failed') }
  }

  private fail (slot: Slot, version: string | undefined, err: unknown): void {
    slot.failures++
    const delay = Math.min(this.init.tunables.installRetryMaxMs, this.init.tunables.installRetryMinMs * 2 ** Math.min(slot.failures - 1, 20))
    const keeps = slot.instance !== undefined && slot.running !== undefined && slot.running.version !== version ? ` (${slot.running.version} keeps running)` : ''
    // Waiting for the release or a provider is not this node's failure: still
    // `fetching` (the reason says what it waits for), so placement does not
    // move the instance to a node that would wait just the same.
    this.setPhase(slot, WAITING_ERRORS.has((err as Error).name) ? 'fetching' : 'failed', version, `${errText(err)}${keeps}`)
    if (err instanceof CorruptFileError) {
      // A damaged record of this component: stop here, loudly (/readyz 503 names the file and the recovery), and
      // never overwrite it by a retry. A full disk, by contrast, is retried and is not a fault.
      slot.corrupt = true
      this.components.faults?.report(`${HOST_COMPONENT}/${slot.name}`, err)
      this.log.error({ name: slot.name, err: errText(err) }, 'component record damaged: not touched until the operator fixes it')
      return
    }
    this.log.warn({ name: slot.name, version, err: errText(err), retryInMs: delay }, 'component install failed')
    slot.retryAt = this.clock.now() + delay
    slot.cancelRetry()
    slot.cancelRetry = setTimer(this.clock, delay, () => { slot.retryAt = 0; this.kick(slot) })
  }

  private setPhase (slot: Slot, phase: Phase, version: string | undefined, reason?: string): void {
    slot.phase = phase
    slot.phaseVersion = version
    slot.phaseSince = this.clock.now()
    slot.reason = reason
    this.changed()
  }

  private instance (release: HostRelease): Instance {
    const dir = versionDir(this.components.dataDir, release.name, release.version)
    return new Instance({
      manifest: release,
      dir,
      env: { ...(this.init.env ?? {}), MYCEL_COMPONENT_NAME: release.name, MYCEL_COMPONENT_VERSION: release.version, MYCEL_COMPONENT_DIR: dir },
      stateDir: this.stateDir,
      logDir: this.logDir,
      tunables: this.init.tunables,
      clock: this.clock,
      ...(this.init.strategy !== undefined ? { strategy: this.init.strategy } : {}),
      ...(this.user !== undefined ? { user: this.user } : {}),
      logger: this.log,
      metrics: this.metrics,
      onChange: () => { this.changed() }
    })
  }

  private changed (): void {
    try { this.init.onChange?.() } catch (err) { this.log.warn({ err }, 'component host change listener failed') }
  }
}

async function exists (path: string): Promise<boolean> {
  try { await access(path); return true } catch { return false }
}

/** The factory, as the agent builds components: `componentHost(init)(components)`. */
export function componentHost (init: ComponentHostInit): (components: ComponentHostComponents) => ComponentHost {
  return (components) => new ComponentHost(components, init)
}
