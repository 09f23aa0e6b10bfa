/**
 * Watch streams: server-sent events of one namespace (`GET
 * /v1/config/:ns?watch=1`): `snapshot`, then `set` / `delete` per change,
 * and a final `dropped` when the agent ends the stream.
 *
 * Memory is bounded whatever the clients do (a watcher that never reads
 * used to make the agent buffer every later change for it):
 * - at most `maxWatchers` streams at once; more are refused (503);
 * - each change is serialised (and measured) once and queued per watcher,
 *   as a reference to that one string; a watcher with
 *   more than `watchBacklogBytes` waiting is dropped, as etcd drops slow
 *   watchers: its queue is freed, it gets a `dropped` event after what it
 *   already has, and it must watch again (a fresh snapshot);
 * - the snapshot is written entry by entry as the client takes it, never
 *   built as one string;
 * - a dropped watcher that still does not read is cut after
 *   `watchDropGraceMs`.
 * One keep-alive timer serves every stream; it runs only while one is open.
 * Beyond the queue, Node buffers at most its high-water mark plus one
 * event per stream.
 */
import type { ServerResponse } from 'node:http'
import type { ChangeEvent } from '../../crdt/replica.js'
import type { ConfigSyncConfig } from './constants.js'
import { TooManyWatchersError } from './errors.js'

export type WatchConfig = Pick<ConfigSyncConfig, 'maxWatchers' | 'watchBacklogBytes' | 'watchDropGraceMs' | 'watchKeepaliveMs'>

export interface WatchSource {
  onChange: (listener: (e: ChangeEvent) => void) => () => void
  entries: (ns: string) => Array<[string, { value: unknown, writer?: string }]>
}

export interface WatchMetrics {
  /** A watcher was dropped, by reason (slow, stopping). */
  dropped: (reason: DropReason) => void
  /** A watch was refused: too many open. */
  refused: () => void
}

/** Why the agent ended a watch stream; the `reason` of the `dropped` event. */
export type DropReason = 'slow' | 'stopping'

const DROP_MESSAGES: Record<DropReason, string> = {
  slow: 'this watcher fell too far behind the changes (it did not read them fast enough); events since were discarded: watch again for a fresh snapshot',
  stopping: 'the agent is stopping'
}

export const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' }

function sse (event: string, data: unknown): string { return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n` }

/** An SSE comment: keeps proxies and idle timeouts from closing a quiet stream. */
const KEEPALIVE = ': keepalive\n\n'

export class ConfigWatchers {
  /** Open streams plus slots taken by a route handler whose stream has not started yet. */
  private taken = 0
  private readonly byNs = new Map<string, Set<Watcher>>()
  /** Change listener and keep-alive timer: present while any stream is open. */
  private unsubscribe: (() => void) | undefined
  private keepalive: NodeJS.Timeout | undefined

  constructor (private readonly source: WatchSource, private readonly cfg: WatchConfig, private readonly metrics: WatchMetrics) {}

  /** Streams open or about to open. */
  get count (): number { return this.taken }

  /**
   * Take a slot for one watch of `ns` (throws TooManyWatchersError when
   * all are taken) and return the function that serves it.
   */
  open (ns: string): (res: ServerResponse, signal: AbortSignal) => Promise<void> {
    if (this.taken >= this.cfg.maxWatchers) {
      this.metrics.refused()
      throw new TooManyWatchersError(`this agent already serves ${this.taken} config watch streams (maxWatchers); close one and try again`)
    }
    this.taken++
    return async (res, signal) => {
      try {
        await this.serve(ns, res, signal)
      } finally {
        this.taken--
      }
    }
  }

  /** End every stream with a final `dropped` event (the service is stopping). */
  closeAll (): void {
    // Copies: dropping a watcher removes it from these collections.
    for (const set of [...this.byNs.values()]) for (const w of [...set]) w.drop('stopping')
  }

  private async serve (ns: string, res: ServerResponse, signal: AbortSignal): Promise<void> {
    res.writeHead(200, SSE_HEADERS)
    const w = new Watcher(res, this.cfg, reason => {
      this.remove(ns, w)
      this.metrics.dropped(reason)
    })
    // Subscribe and capture the snapshot in one synchronous step: no change falls between.
    this.add(ns, w)
    const entries = this.source.entries(ns)
    try {
      await w.writeSnapshot(ns, entries, signal)
      if (!signal.aborted) await new Promise<void>(resolve => { signal.addEventListener('abort', () => { resolve() }, { once: true }) })
    } finally {
      this.remove(ns, w)
      w.close()
    }
  }

  private add (ns: string, w: Watcher): void {
    let set = this.byNs.get(ns)
    if (set === undefined) { set = new Set(); this.byNs.set(ns, set) }
    set.add(w)
    this.unsubscribe ??= this.source.onChange(e => { this.fanOut(e) })
    this.keepalive ??= setInterval(() => { this.keepAlive() }, this.cfg.watchKeepaliveMs)
  }

  private remove (ns: string, w: Watcher): void {
    const set = this.byNs.get(ns)
    if (set === undefined || !set.delete(w)) return
    if (set.size === 0) this.byNs.delete(ns)
    if (this.byNs.size === 0) {
      this.unsubscribe?.()
      this.unsubscribe = undefined
      clearInterval(this.keepalive)
      this.keepalive = undefined
    }
  }

  /** Serialise a change once for every watcher of its namespace. */
  private fanOut (e: ChangeEvent): void {
    const set = this.byNs.get(e.ns)
    if (set === undefined) return
    const chunk = e.deleted ? sse('delete', { key: e.key }) : sse('set', { key: e.key, value: e.value, writer: e.writer ?? null })
    const bytes = Buffer.byteLength(chunk)
    for (const w of [...set]) w.push(chunk, bytes)
  }

  private keepAlive (): void {
    const bytes = Buffer.byteLength(KEEPALIVE)
    for (const set of [...this.byNs.values()]) for (const w of [...set]) w.push(KEEPALIVE, bytes)
  }
}

/** One stream: a bounded queue of serialised events in front of the response. */
class Watcher {
  private readonly queue: Array<{ chunk: string, bytes: number }> = []
  private queuedBytes = 0
  private snapshotting = true
  private dropReason: DropReason | undefined
  private ended = false
  private grace: NodeJS.Timeout | undefined
  private readonly onDrain = (): void => { this.pump() }

  constructor (private readonly res: ServerResponse, private readonly cfg: WatchConfig, private readonly onDropped: (reason: DropReason) => void) {
    res.on('drain', this.onDrain)
  }

  /** Queue `chunk` (`bytes` long in UTF-8) behind what the client has not taken yet. */
  push (chunk: string, bytes: number): void {
    if (this.dropReason !== undefined || this.ended) return
    if (this.queuedBytes + bytes > this.cfg.watchBacklogBytes) { this.drop('slow'); return }
    this.queue.push({ chunk, bytes })
    this.queuedBytes += bytes
    this.pump()
  }

  /**
   * Write the snapshot event piece by piece, waiting for the client to take
   * each before the next, so a large namespace costs no more memory per
   * watcher than one entry. Changes meanwhile wait in the queue.
   */
  async writeSnapshot (ns: string, entries: Array<[string, { value: unknown, writer?: string }]>, signal: AbortSignal): Promise<void> {
    const pieces = function * (): Generator<string> {
      yield `event: snapshot\ndata: {"namespace":${JSON.stringify(ns)},"entries":{`
      for (let i = 0; i < entries.length; i++) yield `${i > 0 ? ',' : ''}${JSON.stringify(entries[i][0])}:${JSON.stringify(entries[i][1].value)}`
      yield '},"writers":{'
      for (let i = 0; i < entries.length; i++) yield `${i > 0 ? ',' : ''}${JSON.stringify(entries[i][0])}:${JSON.stringify(entries[i][1].writer ?? null)}`
      yield '}}\n\n'
    }
    for (const piece of pieces()) {
      if (signal.aborted || this.res.destroyed) return
      if (!this.res.write(piece)) await this.drained(signal)
    }
    this.snapshotting = false
    this.pump()
  }

  /** Give up on this watcher: free its queue, tell it why after what it already has, end the stream. */
  drop (reason: DropReason): void {
    if (this.dropReason !== undefined || this.ended) return
    this.dropReason = reason
    this.queue.length = 0
    this.queuedBytes = 0
    this.onDropped(reason)
    this.grace = setTimeout(() => { this.res.destroy() }, this.cfg.watchDropGraceMs)
    this.grace.unref()
    this.pump()
  }

  /** The stream is over (client gone, or shutdown): end it if still open. */
  close (): void {
    clearTimeout(this.grace)
    this.res.off('drain', this.onDrain)
    this.queue.length = 0
    this.queuedBytes = 0
    if (!this.ended && !this.res.destroyed) { this.ended = true; this.res.end() }
  }

  private pump (): void {
    if (this.snapshotting || this.ended || this.res.destroyed) return
    while (this.queue.length > 0 && !this.res.writableNeedDrain) {
      const next = this.queue.shift() as { chunk: string, bytes: number }
      this.queuedBytes -= next.bytes
      this.res.write(next.chunk)
    }
    if (this.dropReason !== undefined && this.queue.length === 0) {
      this.ended = true
      this.res.end(sse('dropped', { reason: this.dropReason, message: DROP_MESSAGES[this.dropReason] }))
    }
  }

  private async drained (signal: AbortSignal): Promise<void> {
    await new Promise<void>(resolve => {
      const done = (): void => {
        this.res.off('drain', done)
        this.res.off('close', done)
        signal.removeEventListener('abort', done)
        resolve()
      }
      this.res.once('drain', done)
      this.res.once('close', done)
      signal.addEventListener('abort', done, { once: true })
    })
  }
}
