/**
 * What the component host (host/component-host.ts) is given by the agent:
 * small views over the artifact service, the fetcher and replicated config.
 * The host sits beside the managers (layering), so it cannot read
 * deployments itself; the agent hands it these closures.
 */
import { BlockMissingError } from '../protocols/artifacts/errors.js'
import type { ArtifactFetcher } from '../protocols/artifacts/fetcher.js'
import type { ArtifactService } from '../protocols/artifacts/service.js'
import type { ArchiveSource, HostRelease, ReleaseSource } from '../host/component-host.js'
import { parseDeployment } from '../managers/deployment.js'
import semver from 'semver'
import type { Logger } from 'pino'
import type { RolloutEntries } from '../managers/desired.js'
import { indexRollouts, OPEN_STATES, revertVersion, rolloutState } from '../managers/rollout/state.js'

/**
 * Newest releases of each component kept whatever deployments say: the
 * publisher's node may be their only holder until something runs them.
 */
export const KEEP_NEWEST = 3

/**
 * Releases as the host uses them: the artifact service's one verified
 * release of a version (stored here or learned through mycel.releases), its
 * publisher's trust checked now, a conflicted version refused.
 */
export function releaseSource (artifacts: Pick<ArtifactService, 'release'>): ReleaseSource {
  return { release: async (name, version): Promise<HostRelease> => artifacts.release(name, version).manifest }
}

/**
 * Archives: fetched peer to peer into the block store, read back verified.
 * `hints` names peers likely to hold an archive, tried beside the DHT's
 * providers: a provider record can be missing for a while (the publisher's
 * announcement still under way, a lookup timing out on a small or busy
 * network), and an install must not wait on it when the network says who
 * runs the version.
 */
export function archiveSource (fetcher: Pick<ArtifactFetcher, 'fetch'>, artifacts: Pick<ArtifactService, 'blocks'>, hints: (cid: string) => string[] = () => []): ArchiveSource {
  return {
    fetch: async (archive, signal) => { await fetcher.fetch({ archive: archive.cid, size: archive.size, signal, announceInBackground: true, peers: hints(archive.cid) }) },
    read: (cid) => (async function * () {
      const stored = await artifacts.blocks.getIndex(cid)
      if (stored === undefined) throw new BlockMissingError(`archive ${cid} is not held`)
      yield * artifacts.blocks.read(stored.index)
    })()
  }
}

/** Most hinted peers per fetch: enough to spread the load, few enough that a stale hint costs little. */
export const MAX_ARCHIVE_HINTS = 8

/**
 * Peers likely to hold an archive: the nodes whose health reports show its
 * release running (they unpacked it, and keep its blocks while it is in
 * use), in random order so that the load spreads, then the node that
 * published it (the writer of its mycel.releases entry). At most
 * MAX_ARCHIVE_HINTS, never this node.
 */
export function archiveHints (d: {
  self: string
  releases: () => Array<{ name: string, version: string, archive: { cid: string } }>
  /** Entries of mycel.releases (key `name@version#digest`) with their writers; undefined while config does not run. */
  releaseEntries: () => Array<[string, { writer?: string }]> | undefined
  reports: () => Array<{ report: { peerId: string, components?: Array<{ name: string, version: string, state: string }> } }>
}): (cid: string) => string[] {
  return (cid) => {
    const r = d.releases().find(x => x.archive.cid === cid)
    if (r === undefined) return []
    const running = d.reports()
      .filter(x => x.report.peerId !== d.self && (x.report.components ?? []).some(c => c.name === r.name && c.version === r.version && c.state === 'running'))
      .map(x => ({ id: x.report.peerId, k: Math.random() })).sort((a, b) => a.k - b.k).map(x => x.id)
    const prefix = `${r.name}@${r.version}#`
    const publishers = (d.releaseEntries() ?? []).filter(([key, e]) => key.startsWith(prefix) && e.writer !== undefined && e.writer !== d.self).map(([, e]) => e.writer as string)
    return [...new Set([...running.slice(0, MAX_ARCHIVE_HINTS - 1), ...publishers, ...running.slice(MAX_ARCHIVE_HINTS - 1)])].slice(0, MAX_ARCHIVE_HINTS)
  }
}

/**
 * Garbage collection of the block store (issue 13: "cached in the data dir
 * with garbage collection of versions no deployment uses, keep the previous
 * one for rollback"). Kept: every version a deployment names (this node may
 * serve it to others), every version a rollout still open names (its `to`,
 * `from` and last stable version: a node told to switch, or to return, must
 * find them), this node's current and previous version of each component
 * and installs in progress (`inUse`), and each component's KEEP_NEWEST
 * newest known releases (published, perhaps not deployed yet: the
 * publisher's node may be their only holder, and an operator publishes a
 * version or two before rolling one out). Everything else is deleted. Runs one at a time;
 * a call while one runs runs once more after it.
 */
export function archiveCollector (d: {
  artifacts: Pick<ArtifactService, 'blocks' | 'list'>
  deployments: () => Array<[string, { value: unknown }]> | undefined
  /** The rollout namespaces' entries (mycel.rollouts, mycel.rollout-progress); absent: no rollout. */
  rollouts?: () => RolloutEntries | undefined
  /** Undefined until the host runs: then nothing is collected. */
  inUse: () => string[] | undefined
  logger: Logger
}): () => Promise<void> {
  let running: Promise<void> | undefined
  let again = false
  const once = async (): Promise<void> => {
    const entries = d.deployments()
    const inUse = d.inUse()
    // Deployments or the host's needs unknown: keep everything.
    if (entries === undefined || inUse === undefined) return
    const releases = d.artifacts.list()
    const keep = new Set(inUse)
    const deployed = new Set<string>()
    for (const [, { value }] of entries) {
      try { const dep = parseDeployment(value); deployed.add(`${dep.name}@${dep.version}`) } catch {}
    }
    const rollouts = d.rollouts?.()
    const index = indexRollouts(rollouts?.rollouts ?? [], rollouts?.progress ?? [])
    for (const list of index.byComponent.values()) {
      for (const { rollout: r, progress } of list) {
        if (!OPEN_STATES.includes(rolloutState(r, progress))) continue
        for (const v of [r.from, r.to, revertVersion(r)]) deployed.add(`${r.component}@${v}`)
      }
    }
    const byName = new Map<string, Array<{ version: string, cid: string }>>()
    for (const r of releases) {
      if (deployed.has(`${r.name}@${r.version}`)) keep.add(r.archive.cid)
      byName.set(r.name, [...(byName.get(r.name) ?? []), { version: r.version, cid: r.archive.cid }])
    }
    for (const list of byName.values()) {
      for (const n of list.sort((a, b) => semver.rcompare(a.version, b.version)).slice(0, KEEP_NEWEST)) keep.add(n.cid)
    }
    const result = await d.artifacts.blocks.gc(keep)
    if (result.deletedBlocks > 0 || result.deletedRoots > 0) d.logger.info({ ...result, kept: keep.size }, 'artifact blocks collected')
  }
  return async () => {
    if (running !== undefined) { again = true; return await running }
    running = (async () => {
      try {
        do { again = false; await once() } while (again)
      } catch (err) {
        d.logger.warn({ err }, 'artifact garbage collection failed')
      } finally {
        running = undefined
      }
    })()
    return await running
  }
}
