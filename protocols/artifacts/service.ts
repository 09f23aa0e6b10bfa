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
 */
import type { Logger } from 'pino'
import { CID } from 'multiformats/cid'
import type { CommonComponents } from '../../lib/components.js'
import { isFailStop } from '../../lib/errors.js'
import type { Startable } from '../../lib/lifecycle.js'
import type { RpcHost } from '../../wire/rpc.js'
import { BlockStore } from './block-store.js'
import { MAX_ARCHIVE_BYTES, type ArtifactConfig } from './constants.js'
import { ArchiveTooLargeError } from './errors.js'
import { ManifestStore, type StoredManifest } from './manifest-store.js'
import { artifactMetrics, type ArtifactMetrics } from './metrics.js'
import type { ProviderRouting } from './routing.js'
import { ArtifactServer } from './server.js'
import { addressArchive, checkArchive, checkVersionConflict, verifyManifest } from './signed-manifest.js'

/** The component name the agent runs this service under (faults, logs). */
export const ARTIFACTS_COMPONENT = 'artifacts'

export type ArtifactServiceComponents = Pick<CommonComponents, 'dataDir' | 'logger' | 'registry' | 'signal' | 'faults'> & {
  rpc: Pick<RpcHost, 'handle' | 'unhandle'>
  dht: ProviderRouting
}

/**
 * Whose manifests this node accepts: the slice of policy/publisher-trust.ts
 * `PublisherTrust` read here (policy sits above protocols, so the agent
 * passes its view in and this file names only what it calls). Read on every
 * publish: a change of the committed list applies to the next one.
 */
export interface TrustedPublishers {
  /** The trusted publisher ids. */
  list: () => string[]
}

export interface ArtifactServiceInit {
  config: Readonly<ArtifactConfig>
  publishers: TrustedPublishers
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
}

/** The metric label of a refusal, by error name. */
const REFUSAL_REASONS: Record<string, string> = {
  UntrustedPublisherError: 'untrusted',
  WrongPublisherError: 'wrong_publisher',
  ManifestSignatureError: 'signature',
  InvalidManifestError: 'invalid',
  ArchiveMismatchError: 'archive_mismatch',
  ManifestConflictError: 'conflict',
  ArchiveTooLargeError: 'too_large'
}

export class ArtifactService implements Startable {
  readonly blocks: BlockStore
  readonly manifests: ManifestStore
  readonly metrics: ArtifactMetrics
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
  }

  /** Reads every manifest back (CorruptFileError on a damaged one: fail-stop), then serves blocks. */
  async start (): Promise<void> {
    if (this.shutdown !== undefined) return
    await this.manifests.open()
    await this.server.start()
    this.shutdown = new AbortController()
    this.log.info({ manifests: this.manifests.list().length }, 'artifact store open')
  }

  async stop (): Promise<void> {
    if (this.shutdown === undefined) return
    this.shutdown.abort()
    this.shutdown = undefined
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
    const run = this.queue.then(async () => await this.publishNow(signed, archive))
    this.queue = run.catch(() => {})
    return await run
  }

  /** Every known release, by name and version. */
  list (): ReleaseSummary[] {
    return this.manifests.list().map(summary)
  }

  /** The known versions of one component. */
  versions (name: string): ReleaseSummary[] {
    return this.list().filter(r => r.name === name)
  }

  private async publishNow (signed: Uint8Array, archive: Uint8Array): Promise<PublishResult> {
    if (this.shutdown === undefined) throw new Error('artifact service is not running')
    let stored: StoredManifest
    let known: boolean
    try {
      const manifest = await verifyManifest(signed, { trusted: new Set(this.init.publishers.list()) })
      if (manifest.archive.size > this.maxArchiveBytes || archive.byteLength > this.maxArchiveBytes) {
        throw new ArchiveTooLargeError(`${manifest.name}@${manifest.version}: archive over ${this.maxArchiveBytes} bytes`)
      }
      checkArchive(manifest, await addressArchive(archive))
      known = checkVersionConflict(manifest, (n, v) => this.manifests.get(n, v)?.manifest) === 'known'
      stored = known ? this.manifests.get(manifest.name, manifest.version) as StoredManifest : { manifest, signed, publishedAt: this.now() }
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
