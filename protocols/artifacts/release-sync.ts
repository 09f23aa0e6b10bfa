/**
 * Every node learns every release: the artifact service's reader of
 * `mycel.releases` (release-entry.ts). At start it reads every entry, then
 * each change as it arrives, and for each one:
 *
 * - decodes it and checks the signature (the namespace's rule did already,
 *   unless the entry came from a node without it), and the archive's size
 *   against this node's limit, and keeps it in the view (release-view.ts);
 * - checks the publisher's trust now, and the version against the other
 *   trusted manifests of it and the one in the local store;
 * - stores an accepted manifest in the manifest store (durable, before it is
 *   listed: a restart keeps it), or counts the refusal by reason in
 *   `mycel_component_manifests_refused_total` and logs it, once per entry
 *   and reason.
 *
 * Refusals that depend on the moment (an untrusted publisher, a conflict)
 * are looked at again when the trust set changes; the others are
 * properties of the bytes.
 * After the first read, manifests in the local store that have no entry (a
 * publish whose entry write failed, or published before releases were
 * replicated) are written, so every node ends with the same set.
 *
 * Stored manifests learned this way have no archive here: the component
 * host fetches it when it installs the release.
 */
import type { Logger } from 'pino'
import { isFailStop } from '../../lib/errors.js'
import type { ManifestStore, StoredManifest } from './manifest-store.js'
import type { ArtifactMetrics } from './metrics.js'
import { decodeReleaseEntry, releaseEntry, type ReleaseEntry } from './release-entry.js'
import type { ReleaseLog } from './release-log.js'
import type { ReleaseView } from './release-view.js'
import { manifestContent } from './signed-manifest.js'

/**
 * Whose manifests this node accepts: the slice of policy/publisher-trust.ts
 * `PublisherTrust` read here (policy sits above protocols, so the agent
 * passes its view in and this folder names only what it calls). Read on
 * every check: a change of the committed list applies to the next one.
 */
export interface TrustedPublishers {
  /** The trusted publisher ids. */
  list: () => string[]
  /** Called when the list changes; returns the unsubscribe function. Without it, a change applies at the next entry or use. */
  onChange?: (listener: () => void) => () => void
}

/** The metric label of a refusal, by error name. */
export const REFUSAL_REASONS: Readonly<Record<string, string>> = {
  UntrustedPublisherError: 'untrusted',
  WrongPublisherError: 'wrong_publisher',
  ManifestSignatureError: 'signature',
  InvalidManifestError: 'invalid',
  ArchiveMismatchError: 'archive_mismatch',
  ManifestConflictError: 'conflict',
  ArchiveTooLargeError: 'too_large',
  // A manifest larger than the namespace's value limit cannot be replicated.
  LimitExceededError: 'too_large'
}

/** Outcomes of an entry that may change with trust or with the other entries of its version. */
const MOMENTARY = new Set(['untrusted', 'conflict'])

export interface ReleaseSyncInit {
  log: ReleaseLog
  view: ReleaseView
  manifests: ManifestStore
  publishers: TrustedPublishers
  /** Largest archive this node accepts, bytes. */
  maxArchiveBytes: number
  metrics: ArtifactMetrics
  logger: Logger
  now: () => number
  /** Runs `task` after the publish or ingest in progress: one at a time, so a version check and its store write never interleave with another's. */
  serial: <T>(task: () => Promise<T>) => Promise<T>
  /** A fail-stop error of the manifest store: report it (the component stops). */
  onFailStop: (err: Error) => void
}

export class ReleaseSync {
  /** Per entry key: its `signed` text when last looked at, and the outcome then. */
  private readonly seen = new Map<string, { signed: unknown, outcome: string }>()
  private readonly pending = new Map<string, unknown>()
  private draining = false
  private running = false
  private unsubscribe: Array<() => void> = []

  constructor (private readonly init: ReleaseSyncInit) {}

  /** Read every entry, then follow changes; then write the entries of stored manifests that have none. */
  async start (): Promise<void> {
    if (this.running) return
    this.running = true
    // A restart reads everything again: nothing seen before a stop is assumed to still hold.
    this.init.view.clear()
    this.seen.clear()
    this.unsubscribe.push(this.init.log.onChange((key, value) => { this.schedule(key, value) }))
    const trust = this.init.publishers.onChange?.(() => { void this.init.serial(async () => { await this.scanAll() }).catch(() => {}) })
    if (trust !== undefined) this.unsubscribe.push(trust)
    await this.init.serial(async () => { await this.scanAll() })
    await this.repair()
  }

  stop (): void {
    this.running = false
    for (const u of this.unsubscribe.splice(0)) u()
    this.pending.clear()
  }

  private trusts (publisher: string): boolean {
    return this.init.publishers.list().includes(publisher)
  }

  private schedule (key: string, value: unknown): void {
    if (!this.running) return
    this.pending.set(key, value)
    if (this.draining) return
    this.draining = true
    void this.init.serial(async () => {
      this.draining = false
      const batch = [...this.pending]
      this.pending.clear()
      for (const [k, v] of batch) await this.ingest(k, v)
    }).catch(() => {})
  }

  private async scanAll (): Promise<void> {
    if (!this.running) return
    let entries: Array<[string, unknown]>
    try {
      entries = this.init.log.entries()
    } catch (err) {
      this.init.logger.warn({ err }, 'cannot read the releases in replicated config; releases published elsewhere stay unknown here')
      return
    }
    for (const [key, value] of entries) await this.ingest(key, value)
  }

  private async ingest (key: string, value: unknown): Promise<void> {
    if (!this.running) return
    const { view, manifests } = this.init
    if (value === undefined) {
      // Deleted: no longer a candidate anywhere. A manifest already stored stays (a version is immutable; see docs).
      view.remove(key)
      this.seen.delete(key)
      return
    }
    const signed = (value as { signed?: unknown } | null)?.signed
    const prev = this.seen.get(key)
    if (prev !== undefined && prev.signed === signed && !MOMENTARY.has(prev.outcome)) return
    let entry: ReleaseEntry
    try {
      entry = decodeReleaseEntry(key, value)
      if (entry.manifest.archive.size > this.init.maxArchiveBytes) {
        this.refuse(key, signed, 'too_large', `archive of ${entry.manifest.archive.size} bytes is over this node's limit of ${this.init.maxArchiveBytes}`, entry)
        return
      }
    } catch (err) {
      this.refuse(key, signed, REFUSAL_REASONS[(err as Error).name] ?? 'invalid', (err as Error).message)
      return
    }
    view.add(entry)
    const m = entry.manifest
    if (!this.trusts(m.publisher)) {
      this.refuse(key, signed, 'untrusted', `publisher ${m.publisher} is not trusted`, entry)
      return
    }
    const stored = manifests.get(m.name, m.version)
    const content = manifestContent(m)
    const others = view.candidates(m.name, m.version).filter(c => c.key !== key && this.trusts(c.manifest.publisher)).map(c => c.manifest)
    const clash = [...others, ...(stored !== undefined ? [stored.manifest] : [])].find(o => manifestContent(o) !== content)
    if (clash !== undefined) {
      this.refuse(key, signed, 'conflict', `${m.name}@${m.version} is known with other content (archive ${clash.archive.cid}): the version is conflicted on every node`, entry)
      return
    }
    this.seen.set(key, { signed, outcome: 'accepted' })
    if (stored !== undefined) return
    const record: StoredManifest = { manifest: m, signed: entry.signed, publishedAt: this.init.now() }
    try {
      await manifests.put(record)
    } catch (err) {
      this.seen.delete(key)
      if (isFailStop(err)) this.init.onFailStop(err as Error)
      else this.init.logger.warn({ err, key }, 'could not store a release learned from replicated config')
      return
    }
    this.init.metrics.manifestsLearned.inc()
    this.init.logger.info({ name: m.name, version: m.version, publisher: m.publisher, archive: m.archive.cid }, 'component release learned from replicated config')
  }

  /** Count and log a refusal once per entry and reason. */
  private refuse (key: string, signed: unknown, reason: string, message: string, entry?: ReleaseEntry): void {
    const prev = this.seen.get(key)
    this.seen.set(key, { signed, outcome: reason })
    if (prev !== undefined && prev.signed === signed && prev.outcome === reason) return
    this.init.metrics.manifestsRefused.inc({ reason })
    this.init.logger.warn({ key: key.slice(0, 256), reason, publisher: entry?.manifest.publisher, error: message }, 'component release in replicated config refused')
  }

  /** Write the entries of trusted stored manifests that have none; best effort, stops at the first refusal. */
  private async repair (): Promise<void> {
    for (const s of this.init.manifests.list()) {
      if (!this.running) return
      if (!this.trusts(s.manifest.publisher)) continue
      const { key, value } = releaseEntry(s.manifest, s.signed)
      if (this.init.log.get(key) !== undefined) continue
      try {
        this.init.log.check(key, value)
        await this.init.log.write(key, value)
        this.init.logger.info({ key }, 'wrote the missing replicated entry of a stored release')
      } catch (err) {
        this.init.logger.warn({ err, key }, 'stored releases could not be written to replicated config: other nodes do not learn them from this one')
        return
      }
    }
  }
}
