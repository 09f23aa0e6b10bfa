/**
 * A configuration replica in memory: the per-writer envelope streams, one
 * Yjs document per namespace materialised from them, and the validated view
 * the API reads. Pure (no I/O, no timers): persistence and networking are
 * hooks, so the convergence tests can run hundreds of replicas in one
 * process.
 *
 * Invariants:
 * - an envelope is applied only after its signature, access, structure and
 *   size checks pass, and only when every earlier envelope of its stream has
 *   been applied (per-stream sequence numbers are contiguous);
 * - `onAccept` (the durable log) sees every envelope before it is applied,
 *   in apply order, so a crash never leaves the log behind the document;
 * - two different envelopes signed with the same (namespace, writer, seq)
 *   are equivocation: the second is rejected and counted, never applied;
 * - an envelope its writer signed whose update breaks the content rules
 *   (checkUpdate) stops its stream at that seq: nothing after it can ever
 *   apply (Yjs needs the writer's items in order), so later envelopes of
 *   the stream are refused at once (`stream_stopped`) instead of filling
 *   the hold-back buffer shared by every stream. Our own writer never
 *   signs such an envelope: it runs checkUpdate before signing.
 */
import * as Y from 'yjs'
import type { PrivateKey } from '@libp2p/interface'
import { equals as equalBytes } from 'uint8arrays/equals'
import { decodeCborTrusted } from '../wire/codec.js'
import { ROOT_MAP, type ConfigLimits } from './constants.js'
import { clientIdOf, decodeEnvelope, encodeEnvelope, signEnvelope, verifyEnvelope, type Envelope } from './envelope.js'
import { AccessDeniedError, LimitExceededError, StoreUnavailableError, configRejectReason } from './errors.js'
import { checkNamespace, type NamespaceRules } from './namespaces.js'
import { Stream } from './stream.js'
import { checkUpdate, type CausalNeeds } from './update-check.js'
import { canonicalEntry, setJsonEntry } from './entry.js'
import { vvGet, type VersionVector } from './version-vector.js'

export type IngestOrigin = 'gossip' | 'sync' | 'local'
export type IngestResult =
  | { result: 'applied' | 'duplicate' | 'held', envelope: Envelope }
  | { result: 'rejected', reason: string, error?: Error }

export interface ChangeEvent {
  ns: string
  key: string
  /** The new value; absent when the key was deleted. */
  value?: unknown
  deleted: boolean
  /** Peer id of the writer whose item now holds the key. */
  writer?: string
}

export interface ReplicaHooks {
  /** Persist before apply; throwing makes the envelope (or local write) fail. Synchronous on purpose. */
  onAccept?: (envelope: Envelope, bytes: Uint8Array) => void
  /**
   * A remote envelope passed every check and was taken for application (it
   * applies now, or waits in the hold-back buffer for what comes before it);
   * called before `onAccept`/`onApplied` of it. Duplicates and rejected
   * envelopes never get here.
   */
  onReceived?: (envelope: Envelope, origin: IngestOrigin) => void
  /** An envelope (ours or remote) was applied to its document. */
  onApplied?: (envelope: Envelope, origin: IngestOrigin | 'replay') => void
  /** A materialised value failed validation; the previous valid value was kept. */
  onInvalidValue?: (ns: string, key: string, err: Error) => void
  /** A writer signed two different envelopes with one sequence number. */
  onEquivocation?: (ns: string, writer: string, seq: number) => void
  /** A writer signed an envelope whose update we refuse: its stream stops at `seq` (see the class comment). */
  onStreamStopped?: (ns: string, writer: string, seq: number, err: Error) => void
}

export interface ReplicaInit {
  privateKey: PrivateKey
  /** Our peer id string (the writer name of our envelopes). */
  self: string
  rules: NamespaceRules
  limits: ConfigLimits
  hooks?: ReplicaHooks
  now?: () => number
}

interface NsDoc {
  doc: Y.Doc
  map: Y.Map<unknown>
  /** Last valid value per key: what readers see. */
  view: Map<string, { value: unknown, writer?: string }>
}

const LOCAL = Symbol('local-write')
const PARKED_CLIENT = 0

export class Replica {
  readonly self: string
  private readonly selfClient: number
  private readonly streams = new Map<string, Map<string, Stream>>()
  private readonly docs = new Map<string, NsDoc>()
  private readonly writerOfClient = new Map<number, string>()
  private readonly listeners = new Set<(e: ChangeEvent) => void>()
  private heldTotal = 0
  /** Per namespace: streams whose next envelope waits for items it deletes or builds on. */
  private readonly blocked = new Map<string, Set<Stream>>()
  private writeChain: Promise<unknown> = Promise.resolve()
  private failed: Error | undefined
  private readonly now: () => number

  constructor (private readonly init: ReplicaInit) {
    this.self = init.self
    this.selfClient = clientIdOf(init.self)
    this.writerOfClient.set(this.selfClient, init.self)
    this.now = init.now ?? Date.now
  }

  // ---- reads ------------------------------------------------------------

  namespaces (): string[] { return [...this.docs.keys()].sort() }

  get (ns: string, key: string): { value: unknown, writer?: string } | undefined {
    return this.docs.get(ns)?.view.get(key)
  }

  entries (ns: string): Array<[string, { value: unknown, writer?: string }]> {
    const d = this.docs.get(ns)
    return d === undefined ? [] : [...d.view.entries()].sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)
  }

  /** The Yjs document of a namespace (tests and snapshots; never mutate it). */
  doc (ns: string): Y.Doc | undefined { return this.docs.get(ns)?.doc }

  versionVector (): VersionVector {
    const vv: VersionVector = {}
    for (const [ns, writers] of this.streams) {
      const w: Record<string, number> = {}
      for (const [writer, s] of writers) if (s.head > 0) w[writer] = s.head
      if (Object.keys(w).length > 0) vv[ns] = w
    }
    return vv
  }

  /** Canonical bytes of an accepted envelope. */
  bytesOf (ns: string, writer: string, seq: number): Uint8Array | undefined { return this.streams.get(ns)?.get(writer)?.at(seq) }

  head (ns: string, writer: string): number { return this.streams.get(ns)?.get(writer)?.head ?? 0 }

  /** Envelopes held ahead of a gap, all streams. */
  heldCount (): number { return this.heldTotal }

  onChange (listener: (e: ChangeEvent) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  /**
   * Envelopes we hold that `remote` lacks, stream by stream in order, up to
   * the budget. `more` says the budget cut the answer short. With `upTo`,
   * nothing beyond it is served (the store passes what is durable).
   */
  missing (remote: VersionVector, maxCount: number, maxBytes: number, upTo?: VersionVector): { envelopes: Uint8Array[], more: boolean } {
    const out: Uint8Array[] = []
    let bytes = 0
    for (const [ns, writers] of this.streams) {
      for (const [writer, s] of writers) {
        const last = upTo === undefined ? s.head : Math.min(s.head, vvGet(upTo, ns, writer))
        for (let seq = vvGet(remote, ns, writer) + 1; seq <= last; seq++) {
          const e = s.at(seq) as Uint8Array
          if (out.length >= maxCount || (out.length > 0 && bytes + e.byteLength > maxBytes)) return { envelopes: out, more: true }
          out.push(e)
          bytes += e.byteLength
        }
      }
    }
    return { envelopes: out, more: false }
  }

  // ---- local writes -----------------------------------------------------

  /**
   * Write (or, with `deleted`, delete) a key. Resolves once `onAccept` has
   * taken the envelope. `tc`, a W3C traceparent, goes into the envelope and
   * so under its signature (docs/wire.md, "Fields reserved now").
   */
  async write (ns: string, key: string, value: unknown, opts: { deleted?: boolean, tc?: string } = {}): Promise<{ envelope: Envelope, bytes: Uint8Array } | undefined> {
    const run = this.writeChain.then(async () => await this.writeNow(ns, key, value, opts.deleted === true, opts.tc))
    this.writeChain = run.catch(() => {})
    return await run
  }

  /** Run `fn` with no local write in flight (snapshots, shutdown). */
  async exclusive<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.writeChain.then(fn)
    this.writeChain = run.catch(() => {})
    return await run
  }

  private async writeNow (ns: string, key: string, value: unknown, deleted: boolean, tc: string | undefined): Promise<{ envelope: Envelope, bytes: Uint8Array } | undefined> {
    if (this.failed !== undefined) throw new StoreUnavailableError(`config store failed earlier: ${this.failed.message}`)
    checkNamespace(ns)
    if (!this.init.rules.access.canWrite(ns, this.self)) throw new AccessDeniedError(`this node may not write namespace ${ns}`)
    const d = this.nsDoc(ns)
    let stored: unknown
    if (deleted) {
      if (!d.map.has(key)) return undefined
    } else {
      // Refused before the document is touched: a write cannot be taken
      // back once applied. What is stored is the value as receivers decode
      // it, so this replica, every receiver and a restart hold the same.
      stored = canonicalEntry(this.selfClient, key, value, this.init.limits).value
      this.init.rules.checkValue(ns, key, stored)
      if (!d.map.has(key) && d.map.size >= this.init.rules.maxKeys(ns)) throw new LimitExceededError(`namespace ${ns} already holds ${d.map.size} keys`)
    }
    const pending = d.doc.store.pendingStructs
    if (pending !== null && pending.missing.has(this.selfClient)) {
      // Cannot happen with a healthy log (see onAccept); writing now would reuse Yjs ids.
      throw new StoreUnavailableError(`namespace ${ns} misses some of our own earlier writes`)
    }
    let update: Uint8Array | undefined
    const capture = (u: Uint8Array, origin: unknown): void => { if (origin === LOCAL) update = u }
    d.doc.on('update', capture)
    d.doc.clientID = this.selfClient
    try {
      d.doc.transact(tr => { if (deleted) d.map.delete(key); else setJsonEntry(tr, d.map, key, stored) }, LOCAL)
    } finally {
      d.doc.off('update', capture)
      // Park the doc on a client id no writer has (clientIdOf never yields
      // 0 in practice), so applying our own envelopes later as remote
      // updates does not make Yjs think another client took our id.
      d.doc.clientID = PARKED_CLIENT
    }
    if (update === undefined) return undefined
    const stream = this.stream(ns, this.self)
    try {
      // The receivers' check, on what we are about to sign: canonicalEntry
      // makes it pass, so a failure here is a bug, and must not reach a peer.
      checkUpdate(update, this.selfClient, this.init.limits)
      const envelope = await signEnvelope(this.init.privateKey, { v: 1, writer: this.self, seq: stream.head + 1, ns, update, time: this.now(), ...(tc !== undefined ? { tc } : {}) })
      const bytes = encodeEnvelope(envelope)
      if (bytes.byteLength > this.init.limits.maxEnvelopeBytes) {
        throw new LimitExceededError(`envelope of ${bytes.byteLength} bytes exceeds ${this.init.limits.maxEnvelopeBytes}`)
      }
      this.init.hooks?.onAccept?.(envelope, bytes)
      stream.entries.push(bytes)
      this.init.hooks?.onApplied?.(envelope, 'local')
      return { envelope, bytes }
    } catch (err) {
      // The document already holds a change no log entry backs. Fail stop:
      // refuse further writes; a restart rebuilds the document from the log.
      this.failed = err as Error
      throw err
    }
  }

  // ---- remote envelopes ---------------------------------------------------

  /** Check and apply an envelope from the network. Never throws. */
  async ingest (data: Uint8Array, origin: IngestOrigin): Promise<IngestResult> {
    let envelope: Envelope
    let bytes: Uint8Array
    let needs: CausalNeeds
    try {
      envelope = decodeEnvelope(data, this.init.limits.maxEnvelopeBytes)
      bytes = encodeEnvelope(envelope)
      const known = this.streams.get(envelope.ns)?.get(envelope.writer)?.at(envelope.seq)
      // Byte-equal to what we hold: a duplicate, no signature check needed.
      if (known !== undefined && equalBytes(known, bytes)) return { result: 'duplicate', envelope }
      const held = this.streams.get(envelope.ns)?.get(envelope.writer)?.held.get(envelope.seq)
      if (held !== undefined && equalBytes(held.bytes, bytes)) return { result: 'duplicate', envelope }
      if (!this.init.rules.access.canWrite(envelope.ns, envelope.writer, envelope.seq)) {
        throw new AccessDeniedError(`${envelope.writer} may not write namespace ${envelope.ns}`)
      }
      if (this.stoppedBelow(envelope)) return { result: 'rejected', reason: 'stream_stopped' }
      try {
        needs = checkUpdate(envelope.update, clientIdOf(envelope.writer), this.init.limits).causalNeeds
      } catch (err) {
        // Only an envelope its writer really signed may stop its stream:
        // anyone can forge a bad one under another writer's name.
        await verifyEnvelope(envelope)
        this.stopStream(envelope, err as Error)
        throw err
      }
      await verifyEnvelope(envelope)
    } catch (err) {
      return { result: 'rejected', reason: configRejectReason(err), error: err as Error }
    }
    return this.accept(envelope, bytes, needs, origin)
  }

  /** Sequencing and apply, synchronous so that concurrent ingests cannot interleave. */
  private accept (envelope: Envelope, bytes: Uint8Array, needs: CausalNeeds, origin: IngestOrigin): IngestResult {
    const stream = this.stream(envelope.ns, envelope.writer)
    const { seq } = envelope
    if (seq <= stream.head || stream.held.has(seq)) {
      const prior = seq <= stream.head ? stream.at(seq) as Uint8Array : (stream.held.get(seq) as { bytes: Uint8Array }).bytes
      if (equalBytes(prior, bytes)) return { result: 'duplicate', envelope }
      this.init.hooks?.onEquivocation?.(envelope.ns, envelope.writer, seq)
      return { result: 'rejected', reason: 'equivocation' }
    }
    if (this.stoppedBelow(envelope)) return { result: 'rejected', reason: 'stream_stopped' }
    // The next envelope of a stream is always held if it must wait (for
    // items it deletes or builds on): it is the one that unblocks the others, so the
    // buffer bound never keeps it out.
    const full = stream.held.size >= this.init.limits.maxHeldPerStream || this.heldTotal >= this.init.limits.maxHeldTotal
    if (seq > stream.head + 1 && full) return { result: 'rejected', reason: 'gap_buffer_full' }
    stream.held.set(seq, { envelope, bytes, needs })
    this.heldTotal++
    this.init.hooks?.onReceived?.(envelope, origin)
    try {
      if (this.pump(stream, origin) > 0) this.pumpBlocked(envelope.ns, origin)
    } catch (err) {
      return { result: 'rejected', reason: 'store_error', error: err as Error }
    }
    if (stream.head >= seq) return { result: 'applied', envelope }
    if (seq === stream.head + 1) this.blockedStreams(envelope.ns).add(stream)
    return { result: 'held', envelope }
  }

  /** Apply the stream's held envelopes while the next one is there and its deletes can apply. */
  private pump (stream: Stream, origin: IngestOrigin): number {
    let applied = 0
    for (let next = stream.held.get(stream.head + 1); next !== undefined; next = stream.held.get(stream.head + 1)) {
      if (!this.dependenciesPresent(stream.ns, next.needs)) {
        this.blockedStreams(stream.ns).add(stream)
        break
      }
      stream.held.delete(next.envelope.seq)
      this.heldTotal--
      this.applyInOrder(stream, next.envelope, next.bytes, origin)
      applied++
    }
    if (!stream.held.has(stream.head + 1)) this.blocked.get(stream.ns)?.delete(stream)
    // The writer also signed a valid envelope for the seq that stopped the
    // stream (equivocation) and it applied here: the stream moves on.
    if (stream.stopped !== undefined && stream.head >= stream.stopped.seq) stream.stopped = undefined
    return applied
  }

  /** True when the envelope's stream stopped below it (see stopStream). */
  private stoppedBelow (envelope: Envelope): boolean {
    const stopped = this.streams.get(envelope.ns)?.get(envelope.writer)?.stopped
    return stopped !== undefined && envelope.seq > stopped.seq
  }

  /**
   * The writer signed an envelope we refuse for its content. Everything it
   * wrote later in this namespace builds on that envelope's Yjs items, so
   * none of it can apply here: stop the stream at that seq, free the
   * hold-back buffer of what waits above it, and refuse the rest at once.
   * Counted and reported (onStreamStopped); kept in memory only, so a
   * restart (perhaps with other limits, or a newer version that accepts
   * it) tries again: peers still offer the envelope, our version vector
   * never moved past it.
   */
  private stopStream (envelope: Envelope, err: Error): void {
    const stream = this.stream(envelope.ns, envelope.writer)
    const { seq } = envelope
    if (seq <= stream.head || (stream.stopped !== undefined && stream.stopped.seq <= seq)) return
    stream.stopped = { seq, reason: configRejectReason(err) }
    for (const s of [...stream.held.keys()]) {
      if (s > seq) { stream.held.delete(s); this.heldTotal-- }
    }
    if (!stream.held.has(stream.head + 1)) this.blocked.get(stream.ns)?.delete(stream)
    this.init.hooks?.onStreamStopped?.(envelope.ns, envelope.writer, seq, err)
  }

  /** New items arrived in `ns`: retry streams waiting for items to delete, until nothing moves. */
  private pumpBlocked (ns: string, origin: IngestOrigin): void {
    const blocked = this.blocked.get(ns)
    for (let progress = true; progress && blocked !== undefined && blocked.size > 0;) {
      progress = false
      for (const s of [...blocked]) if (this.pump(s, origin) > 0) progress = true
    }
  }

  /**
   * A Yjs delete set may name items we have not received yet (the writer
   * saw them first); Yjs would keep such deletes pending and apply them to
   * whatever later arrives with those ids. An honest writer only deletes
   * items that existed, but a hostile one could "pre-delete" another
   * writer's future items, so that writer's acknowledged writes would
   * vanish everywhere but at the writer. So an envelope applies only once
   * every item it deletes, and every item its new items are placed against
   * (origins), is in our document; until then it waits like an envelope
   * behind a gap (forever, blocking only its own stream, if it names what
   * never comes). As a result Yjs never holds pending structs or deletes.
   */
  private dependenciesPresent (ns: string, needs: CausalNeeds): boolean {
    if (needs.length === 0) return true
    const store = this.nsDoc(ns).doc.store
    for (const [client, end] of needs) if (Y.getState(store, client) < end) return false
    return true
  }

  private blockedStreams (ns: string): Set<Stream> {
    let b = this.blocked.get(ns)
    if (b === undefined) { b = new Set(); this.blocked.set(ns, b) }
    return b
  }

  private applyInOrder (stream: Stream, envelope: Envelope, bytes: Uint8Array, origin: IngestOrigin | 'replay'): void {
    if (origin !== 'replay') this.init.hooks?.onAccept?.(envelope, bytes)
    stream.entries.push(bytes)
    this.applyUpdate(envelope)
    this.init.hooks?.onApplied?.(envelope, origin)
  }

  private applyUpdate (envelope: Envelope): void {
    try {
      Y.applyUpdate(this.nsDoc(envelope.ns).doc, envelope.update, envelope.writer)
    } catch {
      // checkUpdate decoded it already; Yjs failing to integrate a
      // well-formed update is a Yjs bug. The envelope stays in the stream
      // (it is valid and signed) so that peers still converge on it.
    }
  }

  // ---- restore from our own disk -----------------------------------------

  /**
   * Re-add an envelope from our own log (CRC-checked, written by us after
   * full checks): no signature or access check. With `apply: false` the
   * document already holds it (a snapshot covered it).
   */
  restore (bytes: Uint8Array, apply: boolean): void {
    // Our own log holds canonical bytes we wrote after full checks and it is
    // CRC-checked: a plain CBOR decode is enough (start-up time is dominated
    // by this loop).
    const envelope = decodeCborTrusted(bytes) as Envelope
    const stream = this.stream(envelope.ns, envelope.writer)
    if (envelope.seq !== stream.head + 1) return // a duplicate line in the log: harmless
    stream.entries.push(bytes)
    if (apply) this.applyUpdate(envelope)
    this.init.hooks?.onApplied?.(envelope, 'replay')
  }

  /** Load a namespace document from a snapshot (Y.encodeStateAsUpdate). */
  restoreDoc (ns: string, state: Uint8Array): void {
    Y.applyUpdate(this.nsDoc(ns).doc, state, 'snapshot')
  }

  // ---- internals --------------------------------------------------------

  private stream (ns: string, writer: string): Stream {
    let writers = this.streams.get(ns)
    if (writers === undefined) { writers = new Map(); this.streams.set(ns, writers) }
    let s = writers.get(writer)
    if (s === undefined) {
      s = new Stream(ns, writer)
      writers.set(writer, s)
      this.writerOfClient.set(clientIdOf(writer), writer)
    }
    return s
  }

  private nsDoc (ns: string): NsDoc {
    let d = this.docs.get(ns)
    if (d !== undefined) return d
    const doc = new Y.Doc({ gc: true })
    doc.clientID = PARKED_CLIENT
    const map = doc.getMap<unknown>(ROOT_MAP)
    const entry: NsDoc = { doc, map, view: new Map() }
    map.observe(event => { for (const key of event.keysChanged) this.materialize(ns, entry, key) })
    this.docs.set(ns, entry)
    return entry
  }

  private materialize (ns: string, d: NsDoc, key: string): void {
    if (!d.map.has(key)) {
      if (!d.view.has(key)) return
      d.view.delete(key)
      this.emit({ ns, key, deleted: true })
      return
    }
    const value = d.map.get(key)
    try {
      this.init.rules.checkValue(ns, key, value)
    } catch (err) {
      this.init.hooks?.onInvalidValue?.(ns, key, err as Error)
      return
    }
    const item = d.map._map.get(key)
    const writer = item === undefined ? undefined : this.writerOfClient.get(item.id.client)
    d.view.set(key, { value, writer })
    this.emit({ ns, key, value, deleted: false, writer })
  }

  private emit (e: ChangeEvent): void {
    for (const l of this.listeners) {
      try { l(e) } catch { /* a listener's bug must not break replication */ }
    }
  }
}
