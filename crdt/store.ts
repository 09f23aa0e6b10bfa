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
 *   peer never believes we hold what a crash could take away; anti-entropy
 *   serves envelopes only up to that vector (and our own only up to the
 *   own-sequence watermark), so no peer ever holds an envelope of ours that
 *   a crash could take from our log;
 * - after the fsync that makes a local write durable, the own-sequence
 *   watermark (own-seq.ts) is raised, then the write is acknowledged. A log
 *   that later misses acknowledged envelopes of ours (truncated or damaged
 *   by something other than a crash) is detected at open: local writes to
 *   those namespaces are refused until peers have returned them, so we never
 *   sign a second envelope with a sequence number peers may already hold.
 *
 * Damage of the log or the watermark file is a CorruptFileError from the
 * constructor, and a failed write or fsync a StorageFailedError from
 * `write`/`sync`: the config component stops on both (fail-stop).
 */
import { join } from 'node:path'
import type { Logger } from 'pino'
import * as Y from 'yjs'
import type { RecordLog } from '../lib/record-log.js'
import { openConfigLog } from './log-file.js'
import { OWN_SEQ_FILE, OwnSeqWatermark, type Heads } from './own-seq.js'
import { Replica, type IngestOrigin, type IngestResult, type ReplicaInit } from './replica.js'
import { readSnapshot, writeSnapshot, type Snapshot } from './snapshot.js'
import { vvClone, type VersionVector } from './version-vector.js'
import { StoreUnavailableError } from './errors.js'
import type { Envelope } from './envelope.js'

export const LOG_FILE = 'envelopes.log'
export const SNAPSHOT_FILE = 'snapshot.bin'
export { OWN_SEQ_FILE }

/** Own envelopes of a namespace that were acknowledged but are missing from the log. */
export interface LostOwnWrites {
  /** Our highest sequence number the log holds. */
  have: number
  /** Our highest sequence number that was acknowledged (the watermark). */
  acknowledged: number
}

export interface StoreInit extends ReplicaInit {
  /** Directory of the log and snapshot (e.g. `<dataDir>/config`). */
  dir: string
  /** Received envelopes are fsynced at most this long after arrival, ms. */
  syncDelayMs: number
  logger?: Logger
  /** The store failed (a write or fsync of its files): it refuses everything from now on; the owner should stop. */
  onFail?: (err: unknown) => void
}

export interface OpenStats {
  envelopes: number
  replayed: number
  fromSnapshot: boolean
  /** Bytes of an incomplete last record cut at open (a crash mid-write, or a truncation). */
  truncatedBytes: number
  /** Per namespace: acknowledged writes of ours the log no longer held at open. */
  lostOwnWrites: Record<string, LostOwnWrites>
  /** The log was in an older layout and was rewritten. */
  convertedFrom?: string
  ms: number
}

export class ConfigStore {
  readonly replica: Replica
  private readonly log: RecordLog
  private readonly ownSeq: OwnSeqWatermark
  private durable: VersionVector = {}
  /** Namespaces whose acknowledged own envelopes are missing; local writes wait for peers to return them. */
  private readonly lost = new Map<string, LostOwnWrites>()
  private timer: NodeJS.Timeout | undefined
  private failed: Error | undefined
  private closed = false
  readonly openStats: OpenStats
  private readonly durableListeners = new Set<() => void>()
  /** Envelopes appended since the last snapshot (or open). */
  appendsSinceSnapshot = 0

  constructor (private readonly init: StoreInit) {
    const started = Date.now()
    const logPath = join(init.dir, LOG_FILE)
    const recovery = openConfigLog(logPath)
    const log = recovery.log
    this.log = log
    let ownSeq: { mark: OwnSeqWatermark, heads: Heads }
    try {
      ownSeq = OwnSeqWatermark.open(join(init.dir, OWN_SEQ_FILE))
    } catch (err) {
      log.close()
      throw err
    }
    this.ownSeq = ownSeq.mark
    const hooks = init.hooks ?? {}
    this.replica = new Replica({
      ...init,
      hooks: {
        ...hooks,
        onAccept: (env, bytes) => {
          if (this.failed !== undefined) throw new StoreUnavailableError(`config log failed: ${this.failed.message}`)
          try {
            this.log.append(bytes)
          } catch (err) {
            this.fail(err)
            throw new StoreUnavailableError(`config log write failed: ${(err as Error).message}`)
          }
          this.appendsSinceSnapshot++
          hooks.onAccept?.(env, bytes)
        },
        onApplied: (env, origin) => {
          if (env.writer === this.replica.self) this.checkRecovered(env.ns)
          hooks.onApplied?.(env, origin)
        }
      }
    })
    const snapPath = join(init.dir, SNAPSHOT_FILE)
    let snap: Snapshot | undefined
    try {
      snap = readSnapshot(snapPath)
    } catch (err) {
      // A cache of what the log holds: replaying the log loses nothing.
      init.logger?.warn({ err, path: snapPath }, 'config snapshot damaged; replaying the whole log')
    }
    // A snapshot describing more log than survived (it cannot, since it is
    // taken after the fsync of what it covers, but a copied data dir can)
    // is not used.
    const base = snap !== undefined && snap.logOffset <= log.offset && recovery.records.some(f => f.end === snap?.logOffset) ? snap : undefined
    const usable = base !== undefined
    if (base !== undefined) for (const [ns, state] of Object.entries(base.docs)) this.replica.restoreDoc(ns, state)
    let replayed = 0
    for (const f of recovery.records) {
      const apply = base === undefined || f.end > base.logOffset
      this.replica.restore(f.payload, apply)
      if (apply) replayed++
    }
    this.durable = this.replica.versionVector()
    // Our own envelopes the log holds, against what was acknowledged.
    const self = this.replica.self
    const heads: Heads = {}
    for (const [ns, writers] of Object.entries(this.durable)) if ((writers[self] ?? 0) > 0) heads[ns] = writers[self]
    for (const [ns, acknowledged] of Object.entries(ownSeq.heads)) {
      const have = heads[ns] ?? 0
      if (have < acknowledged) this.lost.set(ns, { have, acknowledged })
    }
    // Envelopes in the log beyond the watermark were durable but never
    // acknowledged (a crash between the two fsyncs, or a log from before
    // the watermark existed): they are ours now, and may be served.
    this.ownSeq.raiseNow(heads)
    const lostOwnWrites = Object.fromEntries(this.lost)
    this.openStats = {
      envelopes: recovery.records.length,
      replayed,
      fromSnapshot: usable,
      truncatedBytes: recovery.cutBytes,
      lostOwnWrites,
      ...(recovery.convertedFrom !== undefined ? { convertedFrom: recovery.convertedFrom } : {}),
      ms: Date.now() - started
    }
    if (recovery.convertedFrom !== undefined) init.logger?.info({ path: logPath, from: recovery.convertedFrom }, 'config log converted to the current layout')
    if (recovery.cutBytes > 0) {
      // A crash mid-write leaves this, and so does a truncation of the file:
      // the bytes cannot tell which. The watermark can, for our own writes.
      init.logger?.warn({ path: logPath, offset: recovery.cutAt, bytes: recovery.cutBytes },
        this.lost.size === 0
          ? 'config log: cut an incomplete last record (a crash during a write, or the file was truncated); every acknowledged write of ours is intact, envelopes of other writers that were cut come back from peers'
          : 'config log: cut an incomplete last record; the log was truncated, not just torn by a crash (acknowledged writes of ours are missing, see below)')
    }
    for (const [ns, l] of this.lost) {
      init.logger?.error({ path: logPath, namespace: ns, have: l.have, acknowledged: l.acknowledged },
        `config log lost acknowledged writes of ours (${ns} seq ${l.have + 1}..${l.acknowledged}): the log was truncated or damaged after they were written. ` +
        `Local writes to ${ns} are refused until peers return them (anti-entropy)`)
    }
  }

  /** Namespaces whose acknowledged own writes are still missing (local writes to them are refused). */
  lostOwnWrites (): Record<string, LostOwnWrites> { return Object.fromEntries(this.lost) }

  /**
   * What anti-entropy may serve: the durable version vector, with our own
   * streams capped at the watermark, so no peer gets an envelope of ours
   * that a crash could still take from the log.
   */
  servableVersionVector (): VersionVector {
    const self = this.replica.self
    const out: VersionVector = {}
    for (const [ns, writers] of Object.entries(this.durable)) {
      out[ns] = { ...writers }
      if (writers[self] !== undefined) out[ns][self] = Math.min(writers[self], this.ownSeq.get(ns))
    }
    return out
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
  async write (ns: string, key: string, value: unknown, opts: { deleted?: boolean, tc?: string } = {}): Promise<Envelope | undefined> {
    this.assertOpen()
    const lost = this.lost.get(ns)
    if (lost !== undefined) {
      throw new StoreUnavailableError(`namespace ${ns}: our acknowledged writes seq ${lost.have + 1}..${lost.acknowledged} are missing from the config log ` +
        '(it was truncated or damaged); writing now would reuse their sequence numbers. Waiting for peers to return them. ' +
        `If no peer holds them any more, stop the agent and move ${join(this.init.dir, OWN_SEQ_FILE)} aside to accept the loss`)
    }
    const w = await this.replica.write(ns, key, value, opts)
    if (w === undefined) return undefined
    await this.sync()
    await this.markOwn()
    return w.envelope
  }

  /** Raise the own-sequence watermark to our durable heads; a failure fail-stops like a failed log fsync. */
  private async markOwn (): Promise<void> {
    const self = this.replica.self
    const heads: Heads = {}
    for (const [ns, writers] of Object.entries(this.durable)) if (writers[self] !== undefined) heads[ns] = writers[self]
    try {
      await this.ownSeq.raise(heads)
    } catch (err) {
      this.fail(err)
      throw new StoreUnavailableError(`own-sequence watermark write failed: ${(err as Error).message}`)
    }
  }

  /** Fail-stop: refuse everything from now on and tell the owner (which stops the component). */
  private fail (err: unknown): void {
    if (this.failed !== undefined) return
    this.failed = err as Error
    this.init.logger?.error({ err }, 'config store failed; refusing further writes')
    this.init.onFail?.(err)
  }

  private checkRecovered (ns: string): void {
    const l = this.lost.get(ns)
    if (l === undefined || this.replica.head(ns, this.replica.self) < l.acknowledged) return
    this.lost.delete(ns)
    this.init.logger?.info({ namespace: ns, acknowledged: l.acknowledged }, 'config: peers returned our lost acknowledged writes; local writes accepted again')
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
      this.fail(err)
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
    this.ownSeq.close()
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
