/**
 * The artifact service of one node (issue 13): the block store under
 * `<dataDir>/artifacts`, the server that lets peers fetch its blocks, and
 * the durable store of the component manifests this node knows.
 *
 * `publish` is the way a release enters the network, on the node its
 * publisher talks to: it checks everything a node checks before it accepts
 * a manifest (signed-manifest.ts: trusted publisher, signature, archive
 * hash and size, an immutable version), stores the archive as blocks and
 * records the manifest durably before it answers (persist before
 * acknowledge), then announces the archive CID in the DHT so other nodes
 * find a provider. The announcement is best effort: a lone node has no DHT
 * peers to tell, and a peer that knows this node can fetch from it anyway.
 *
 * A refusal is a named status error (errors.ts), counted by reason in
 * `mycel_component_manifests_refused_total`, and leaves nothing stored.
 * Publishes run one at a time, so two of one version cannot both pass the
 * version check.
 *
 * With a release log (`releases`: the built-in replicated-config namespace
 * `mycel.releases`, release-entry.ts), every node learns every release:
 * publish writes the signed manifest's entry once the blocks and the
 * manifest are durable here and answers once that write is durable here
 * (replication continues in the background), and every node reads the
 * namespace (release-sync.ts) into its manifest store. `release(name,
 * version)` is how a user of a release (the component host) asks for it:
 * trust is checked then, and a version with two contents is refused on
 * every node alike (release-view.ts).
 */
import type { Logger } from 'pino'
import { CID } from 'multiformats/cid'
import type { CommonComponents } from '../../lib/components.js'
import { isFailStop } from '../../lib/errors.js'
import type { Startable } from '../../lib/lifecycle.js'
import type { RpcHost } from '../../wire/rpc.js'
import { BlockStore } from './block-store.js'
import { MAX_ARCHIVE_BYTES, type ArtifactConfig } from './constants.js'
import { ArchiveTooLargeError, ArtifactServiceStoppedError, ManifestConflictError, UnknownReleaseError, UntrustedPublisherError } from './errors.js'
import { ManifestStore, type StoredManifest } from './manifest-store.js'
import { artifactMetrics, type ArtifactMetrics } from './metrics.js'
import { releaseEntry, releaseEntryKey } from './release-entry.js'
import type { ReleaseLog } from './release-log.js'
import { REFUSAL_REASONS, ReleaseSync, type TrustedPublishers } from './release-sync.js'
import { releaseVerdict, ReleaseView } from './release-view.js'
import type { ProviderRouting } from './routing.js'
import { ArtifactServer } from './server.js'
import { addressArchive, checkArchive, checkVersionConflict, verifyManifest, type SignedManifest } from './signed-manifest.js'

export type { TrustedPublishers } from './release-sync.js'

/** The component name the agent runs this service under (faults, logs). */
export const ARTIFACTS_COMPONENT = 'artifacts'

export type ArtifactServiceComponents = Pick<CommonComponents, 'dataDir' | 'logger' | 'registry' | 'signal' | 'faults'> & {
  rpc: Pick<RpcHost, 'handle' | 'unhandle'>
  dht: ProviderRouting
}

export interface ArtifactServiceInit {
  config: Readonly<ArtifactConfig>
  publishers: TrustedPublishers
  /**
   * Where releases travel to every node (`configReleaseLog(config, self)`,
   * release-log.ts). Without it a release stays on the node it was
   * published on.
   */
  releases?: ReleaseLog
  /** Largest archive `publish` accepts, bytes. @default MAX_ARCHIVE_BYTES */
  maxArchiveBytes?: number
  /** Clock of `publishedAt`, ms. @default Date.now */
  now?: () => number
}

/** What publish answers. */
export interface PublishResult {
  name: string
  version: string
  publisher: string
  archive: { cid: string, size: number }
  publishedAt: number
  /** True when this exact release was known already (a retry): nothing new was stored. */
  known: boolean
}

/** A known release, as the admin API lists it. */
export interface ReleaseSummary {
  name: string
  version: string
  publisher: string
  archive: { cid: string, size: number }
  /** ISO time this node accepted it. */
  publishedAt: string
  /** Present when trusted publishers signed other content for this version: `release()` refuses it on every node. */
  conflict?: true
}

/** The one verified release of a name and version, as `release()` returns it. */
export interface Release {
  /** The signed body: manifest fields, archive `{cid, size}`, publisher. */
  manifest: SignedManifest
  /** Its signed bytes, as signed. */
  signed: Uint8Array
}

export class ArtifactService implements Startable {
  readonly blocks: BlockStore
  readonly manifests: ManifestStore
  readonly metrics: ArtifactMetrics
  /** Signature-checked manifests of replicated config, by release. */
  private readonly view = new ReleaseView()
  private readonly sync: ReleaseSync | undefined
  private readonly server: ArtifactServer
  private readonly log: Logger
  private readonly maxArchiveBytes: number
  private readonly now: () => number
  /** The publish in progress; the next one waits for it. */
  private queue: Promise<unknown> = Promise.resolve()
  private shutdown: AbortController | undefined
  private readonly announcing = new Set<Promise<void>>()

  constructor (private readonly components: ArtifactServiceComponents, private readonly init: ArtifactServiceInit) {
    this.log = components.logger.child({ component: ARTIFACTS_COMPONENT })
    this.metrics = artifactMetrics(components.registry)
    this.blocks = new BlockStore({ dataDir: components.dataDir, metrics: this.metrics })
    this.manifests = new ManifestStore(components.dataDir)
    this.server = new ArtifactServer({ logger: components.logger, host: components.rpc }, { config: init.config, store: this.blocks, metrics: this.metrics })
    this.maxArchiveBytes = init.maxArchiveBytes ?? MAX_ARCHIVE_BYTES
    this.now = init.now ?? Date.now
    this.sync = init.releases === undefined
      ? undefined
      : new ReleaseSync({
        log: init.releases,
        view: this.view,
        manifests: this.manifests,
        publishers: init.publishers,
        maxArchiveBytes: this.maxArchiveBytes,
        metrics: this.metrics,
        logger: this.log,
        now: this.now,
        serial: async (task) => await this.serial(task),
        onFailStop: (err) => { this.components.faults?.report(ARTIFACTS_COMPONENT, err) }
      })
  }

  /**
   * Reads every manifest back (CorruptFileError on a damaged one: fail-stop),
   * serves blocks, then reads the releases of replicated config.
   */
  async start (): Promise<void> {
    if (this.shutdown !== undefined) return
    await this.manifests.open()
    await this.server.start()
    this.shutdown = new AbortController()
    await this.sync?.start()
    this.log.info({ manifests: this.manifests.list().length }, 'artifact store open')
  }

  async stop (): Promise<void> {
    if (this.shutdown === undefined) return
    this.shutdown.abort()
    this.shutdown = undefined
    this.sync?.stop()
    await this.server.stop()
    await Promise.allSettled([...this.announcing])
  }

  /**
   * Accept a release: `signed` the signed manifest's wire bytes, `archive`
   * the archive it names. Resolves once the blocks and the manifest are on
   * disk. Throws the named refusal (nothing stored) or, when the disk fails,
   * a fail-stop error (reported: the component stops).
   */
  async publish (signed: Uint8Array, archive: Uint8Array): Promise<PublishResult> {
    return await this.serial(async () => await this.publishNow(signed, archive))
  }

  /** Every known release, by name and version. */
  list (): ReleaseSummary[] {
    return this.manifests.list().map(s => {
      const r = summary(s)
      return this.verdict(r.name, r.version).kind === 'conflict' ? { ...r, conflict: true } : r
    })
  }

  /**
   * The one verified release of `name@version`, for whoever uses it (the
   * component host): from the manifests this node stored or learned, with
   * the publisher's trust checked now. Throws UnknownReleaseError (404)
   * when none is known here, UntrustedPublisherError (403) when no trusted
   * publisher signed it (trust may have been withdrawn since it was
   * accepted), ManifestConflictError (409) when trusted publishers signed
   * more than one content for it, ArtifactServiceStoppedError (503) while
   * the service is stopped. The archive it names may still have to be
   * fetched.
   */
  release (name: string, version: string): Release {
    if (this.shutdown === undefined) throw new ArtifactServiceStoppedError('the artifact service is not running (see /readyz)')
    const v = this.verdict(name, version)
    switch (v.kind) {
      case 'ok': return { manifest: v.release.manifest, signed: v.release.signed }
      case 'unknown': throw new UnknownReleaseError(`${name}@${version} is not known on this node`)
      case 'untrusted': throw new UntrustedPublisherError(`${name}@${version}: publisher ${v.publishers.join(', ')} is not trusted`)
      case 'conflict': throw new ManifestConflictError(`${name}@${version} was published with more than one content (archives ${v.archives.join(', ')}): publish a new version`)
    }
  }

  /** The known versions of one component. */
  versions (name: string): ReleaseSummary[] {
    return this.list().filter(r => r.name === name)
  }

  /** Resolves once every change of the releases received so far, and the publish in progress, has been dealt with. */
  async settled (): Promise<void> {
    await this.serial(async () => {})
  }

  /** The verdict on one version over the stored manifest and the replicated ones, with trust as it is now. */
  private verdict (name: string, version: string): ReturnType<typeof releaseVerdict> {
    const candidates = this.view.candidates(name, version)
    const stored = this.manifests.get(name, version)
    if (stored !== undefined) {
      const key = releaseEntryKey(stored.manifest, stored.signed)
      if (!this.view.has(key)) candidates.push({ key, manifest: stored.manifest, signed: stored.signed })
    }
    const trusted = new Set(this.init.publishers.list())
    return releaseVerdict(candidates, id => trusted.has(id))
  }

  /** Run `task` after the publish or ingest in progress. */
  private async serial<T> (task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task)
    this.queue = run.catch(() => {})
    return await run
  }

  private async publishNow (signed: Uint8Array, archive: Uint8Array): Promise<PublishResult> {
    if (this.shutdown === undefined) throw new Error('artifact service is not running')
    let stored: StoredManifest
    let known: boolean
    let entry: ReturnType<typeof releaseEntry> | undefined
    const releases = this.init.releases
    try {
      const trusted = new Set(this.init.publishers.list())
      const manifest = await verifyManifest(signed, { trusted })
      if (manifest.archive.size > this.maxArchiveBytes || archive.byteLength > this.maxArchiveBytes) {
        throw new ArchiveTooLargeError(`${manifest.name}@${manifest.version}: archive over ${this.maxArchiveBytes} bytes`)
      }
      checkArchive(manifest, await addressArchive(archive))
      const local = this.manifests.get(manifest.name, manifest.version)
      known = checkVersionConflict(manifest, () => local?.manifest) === 'known'
      // Other content a trusted publisher released for this version on another node is a conflict too.
      for (const c of this.view.candidates(manifest.name, manifest.version)) {
        if (trusted.has(c.manifest.publisher)) checkVersionConflict(manifest, () => c.manifest)
      }
      stored = known ? local as StoredManifest : { manifest, signed, publishedAt: this.now() }
      if (releases !== undefined) {
        entry = releaseEntry(manifest, signed)
        // Refuse before storing anything what could not reach the other nodes (config stopped, not a writer, too large).
        if (releases.get(entry.key) === undefined) releases.check(entry.key, entry.value)
        else entry = undefined
      }
    } catch (err) {
      const reason = REFUSAL_REASONS[(err as Error).name]
      if (reason !== undefined) {
        this.metrics.manifestsRefused.inc({ reason })
        this.log.info({ reason, error: (err as Error).message }, 'component manifest refused')
      }
      throw err
    }
    try {
      // Blocks first, then the manifest: a manifest on disk always has its archive.
      // A known release is imported again all the same: it repairs blocks lost since.
      await this.blocks.importArchive(archive, this.init.config.chunkBytes)
      if (!known) await this.manifests.put(stored)
    } catch (err) {
      if (isFailStop(err)) this.components.faults?.report(ARTIFACTS_COMPONENT, err)
      throw err
    }
    if (releases !== undefined && entry !== undefined) {
      try {
        // Durable here when it resolves; gossip and anti-entropy carry it on.
        await releases.write(entry.key, entry.value)
      } catch (err) {
        // Stored here, not replicated: a retry of the publish writes it, and so does the next start.
        this.log.warn({ err, key: entry.key }, 'component stored here but its release entry could not be written to replicated config')
        throw err
      }
    }
    const m = stored.manifest
    if (!known) {
      this.metrics.manifestsPublished.inc()
      this.log.info({ name: m.name, version: m.version, publisher: m.publisher, archive: m.archive.cid, size: m.archive.size }, 'component published')
    }
    this.announce(m.archive.cid)
    return { name: m.name, version: m.version, publisher: m.publisher, archive: { ...m.archive }, publishedAt: stored.publishedAt, known }
  }

  /** Provide the archive CID in the DHT in the background; a failure is logged, never the publisher's. */
  private announce (cid: string): void {
    const shutdown = this.shutdown
    if (shutdown === undefined) return
    const signal = AbortSignal.any([shutdown.signal, this.components.signal, AbortSignal.timeout(this.init.config.dhtTimeoutMs)])
    const run = (async () => {
      try {
        for await (const _ of this.components.dht.provide(CID.parse(cid), { signal })) { /* drain */ }
        this.log.debug({ archive: cid }, 'archive announced in the DHT')
      } catch (err) {
        // Stopping cancels it: not news. A timeout or a DHT failure is worth a warning.
        if (shutdown.signal.aborted || this.components.signal.aborted) this.log.debug({ archive: cid }, 'archive announcement cancelled: stopping')
        else this.log.warn({ err, archive: cid }, 'could not announce the archive in the DHT; peers that know this node can still fetch it')
      }
    })()
    this.announcing.add(run)
    void run.finally(() => this.announcing.delete(run))
  }
}

function summary (s: StoredManifest): ReleaseSummary {
  const m = s.manifest
  return { name: m.name, version: m.version, publisher: m.publisher, archive: { ...m.archive }, publishedAt: new Date(s.publishedAt).toISOString() }
}

/** The factory, as the agent builds components: `artifactService(init)(components)`. */
export function artifactService (init: ArtifactServiceInit): (components: ArtifactServiceComponents) => ArtifactService {
  return (components) => new ArtifactService(components, init)
}
