/**
 * The durable configuration store of one node: a Replica whose every
 * accepted envelope goes to the append-only log first.
 *
 * Durability rules:
 * - a local write resolves only after the log holding its envelope is
 *   fdatasync'ed (and with it every envelope applied before it, which is
 *   everything the write could depend on);
 * - received envelopes are appended at once and fsynced in batches (group
 *   commit after `syncDelayMs`); the version vector we advertise to peers
 *   (`durableVersionVector`) only counts envelopes already fsynced, so a
 *   peer never believes we hold what a crash could take away.
 */
import { join } from 'node:path'
import type { Logger } from 'pino'
import * as Y from 'yjs'
import { LogFile } from './log-file.js'
import { Replica, type IngestOrigin, type IngestResult, type ReplicaInit } from './replica.js'
import { readSnapshot, writeSnapshot } from './snapshot.js'
import { vvClone, type VersionVector } from './version-vector.js'
import { StoreUnavailableError } from './errors.js'
import type { Envelope } from './envelope.js'
import { existsSync } from 'node:fs'

export const LOG_FILE = 'envelopes.log'
export const SNAPSHOT_FILE = 'snapshot.bin'

export interface StoreInit extends ReplicaInit {
  /** Directory of the log and snapshot (e.g. `<dataDir>/config`). */
  dir: string
  /** Received envelopes are fsynced at most this long after arrival, ms. */
  syncDelayMs: number
  logger?: Logger
}

export interface OpenStats {
  envelopes: number
  replayed: number
  fromSnapshot: boolean
  truncatedBytes: number
  ms: number
}

export class ConfigStore {
  readonly replica: Replica
  private readonly log: LogFile
  private durable: VersionVector = {}
  private timer: NodeJS.Timeout | undefined
  private failed: Error | undefined
  private closed = false
  readonly openStats: OpenStats
  private readonly durableListeners = new Set<() => void>()
  /** Envelopes appended since the last snapshot (or open). */
  appendsSinceSnapshot = 0

  constructor (private readonly init: StoreInit) {
    const started = Date.now()
    const { log, recovery } = LogFile.open(join(init.dir, LOG_FILE))
    this.log = log
    const hooks = init.hooks ?? {}
    this.replica = new Replica({
      ...init,
      hooks: {
        ...hooks,
        onAccept: (env, bytes) => {
          if (this.failed !== undefined) throw new StoreUnavailableError(`config log failed: ${this.failed.message}`)
          this.log.append(bytes)
          this.appendsSinceSnapshot++
          hooks.onAccept?.(env, bytes)
        }
      }
    })
    const snapPath = join(init.dir, SNAPSHOT_FILE)
    const snap = readSnapshot(snapPath)
    if (snap === undefined && existsSync(snapPath)) init.logger?.warn({ path: snapPath }, 'config snapshot unreadable; replaying the whole log')
    // A snapshot describing more log than survived (it cannot, since it is
    // taken after the fsync of what it covers, but a copied data dir can)
    // is not used.
    const usable = snap !== undefined && snap.logOffset <= log.offset && recovery.frames.some(f => f.end === snap.logOffset)
    if (usable) for (const [ns, state] of Object.entries(snap.docs)) this.replica.restoreDoc(ns, state)
    let replayed = 0
    for (const f of recovery.frames) {
      const apply = !usable || f.end > snap.logOffset
      this.replica.restore(f.payload, apply)
      if (apply) replayed++
    }
    this.durable = this.replica.versionVector()
    this.openStats = { envelopes: recovery.frames.length, replayed, fromSnapshot: usable, truncatedBytes: recovery.truncatedBytes, ms: Date.now() - started }
    if (recovery.truncatedBytes > 0) init.logger?.warn({ bytes: recovery.truncatedBytes }, 'config log: cut a torn tail (writes never acknowledged)')
  }

  /** Version vector of what is fsynced: the only one we tell peers. */
  durableVersionVector (): VersionVector { return this.durable }

  /** Called whenever the durable version vector advanced. */
  onDurable (listener: () => void): () => void {
    this.durableListeners.add(listener)
    return () => { this.durableListeners.delete(listener) }
  }

  get logBytes (): number { return this.log.offset }

  /** A local write (or delete); resolves once it is durable. */
  async write (ns: string, key: string, value: unknown, opts: { deleted?: boolean } = {}): Promise<Envelope | undefined> {
    this.assertOpen()
    const w = await this.replica.write(ns, key, value, opts)
    if (w === undefined) return undefined
    await this.sync()
    return w.envelope
  }

  /** Check, log and apply an envelope from the network; fsync follows within syncDelayMs. */
  async ingest (data: Uint8Array, origin: IngestOrigin): Promise<IngestResult> {
    if (this.closed) return { result: 'rejected', reason: 'closed' }
    const r = await this.replica.ingest(data, origin)
    if (r.result === 'applied') this.scheduleSync()
    return r
  }

  /** fsync now: everything appended so far becomes durable and advertised. */
  async sync (): Promise<void> {
    if (this.failed !== undefined) throw new StoreUnavailableError(`config log failed: ${this.failed.message}`)
    // After close() the final fsync has run; a late caller (an inbound sync
    // stream finishing during shutdown) has nothing left to make durable.
    if (this.log.closed) throw new StoreUnavailableError('config store is closed')
    let covered: VersionVector | undefined
    try {
      await this.log.sync(() => { covered = vvClone(this.replica.versionVector()) })
    } catch (err) {
      // After a failed fsync the kernel may have dropped dirty pages:
      // nothing written since the last good sync can be trusted. Fail stop.
      this.failed = err as Error
      this.init.logger?.error({ err }, 'config log fsync failed; refusing further writes')
      throw new StoreUnavailableError(`config log fsync failed: ${(err as Error).message}`)
    }
    if (covered !== undefined) {
      this.durable = covered
      for (const l of this.durableListeners) l()
    }
  }

  /**
   * Write a snapshot of every document. Runs between local writes (a write
   * in flight has changed its document before its envelope is logged) and
   * after an fsync, so the snapshot never holds what the log may lose.
   */
  async snapshot (): Promise<number> {
    this.assertOpen()
    return await this.replica.exclusive(async () => {
      await this.sync()
      this.appendsSinceSnapshot = 0
      const docs: Record<string, Uint8Array> = {}
      for (const ns of this.replica.namespaces()) docs[ns] = Y.encodeStateAsUpdate(this.replica.doc(ns) as Y.Doc)
      return writeSnapshot(join(this.init.dir, SNAPSHOT_FILE), { v: 1, logOffset: this.log.offset, vv: this.replica.versionVector(), docs, takenAt: Date.now() })
    })
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearTimeout(this.timer)
    await this.replica.exclusive(async () => {
      try { await this.sync() } catch {}
    })
    this.log.close()
  }

  private scheduleSync (): void {
    if (this.timer !== undefined) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.sync().catch(() => {})
    }, this.init.syncDelayMs)
  }

  private assertOpen (): void {
    if (this.closed) throw new StoreUnavailableError('config store is closed')
  }
}
