/**
 * Fetching an archive from peers: its index (from the first provider that
 * has one), then its chunks, in parallel from every provider (up to
 * `windowPerProvider` requests of `wantPerRequest` chunks each), every chunk
 * verified against its CID before it is stored. As soon as it holds the index
 * the node announces itself as a provider, and its server serves the chunks
 * it holds so far: fetchers that start together serve each other (a swarm),
 * not all from the publisher. So a provider's `missing` means "not yet": that
 * (peer, chunk) is skipped for `lackingRetryMs`, then asked again; each
 * fetcher asks for chunks in its own order (a hash of its peer id and the
 * chunk), so fetchers hold different chunks to trade; and providers are looked
 * up again (after `rediscoverMs`, doubling) to find new partial holders. A peer that sends a block it
 * was not asked for or whose bytes do not hash to its CID is counted
 * (`mycel_artifact_chunk_verification_failures_total`) and dropped; its
 * chunks go back in the queue for the others. Chunks already in the store
 * are not fetched again, so a fetch that was stopped continues where it was.
 * At the end the archive is reassembled from the store and its sha256
 * checked against the archive CID; an index that fails it is dropped and
 * fetched again from another peer. The fetch resolves once the announcement
 * made at the index is done.
 */
import type { Logger } from 'pino'
import { CID } from 'multiformats/cid'
import type { CommonComponents } from '../../lib/components.js'
import { requestMany, type RpcHost } from '../../wire/rpc.js'
import { MAX_RESPONSE_BYTES, type ArtifactConfig } from './constants.js'
import type { BlockStore, StoredIndex } from './block-store.js'
import { CBOR_CODEC, blockCid, decodeIndex, parseBlockCid, verifyBlock, type ArchiveIndex } from './chunks.js'
import { ArtifactUnavailableError, InvalidIndexError } from './errors.js'
import type { ArtifactMetrics } from './metrics.js'
import { ProviderPool, type Provider } from './providers.js'
import type { ProviderRouting } from './routing.js'
import { TokenBucket } from './token-bucket.js'
import { LackingChunks, spreadOrder } from './lacking.js'
import { ARTIFACT_PROTOCOL, decodeResponse, encodeRequest } from './transfer.js'
import { isArchiveCid } from './signed-manifest.js'

export type ArtifactFetcherComponents = Pick<CommonComponents, 'peerId' | 'logger' | 'signal'> & {
  host: Pick<RpcHost, 'dialProtocol'>
  routing: ProviderRouting
}

export interface ArtifactFetcherInit {
  config: Readonly<ArtifactConfig>
  store: BlockStore
  metrics: ArtifactMetrics
}

export interface FetchOptions {
  /** The archive CID the manifest names. */
  archive: string
  /** The archive size the manifest names, bytes: an index with another size is refused. */
  size?: number
  /** Peers to ask before (and besides) the DHT's providers, e.g. the publisher. */
  peers?: string[]
  signal?: AbortSignal
  /**
   * Resolve without waiting for the DHT announcement made at the index; it
   * goes on in the background (bounded by dhtTimeoutMs). The component host
   * sets it: an install must not wait up to dhtTimeoutMs on a DHT with few
   * peers. @default false
   */
  announceInBackground?: boolean
}

export interface FetchResult extends StoredIndex {
  /** Chunks that were in the store already. */
  reusedChunks: number
  fetchedChunks: number
  fetchedBytes: number
  /** Peers that sent a bad block or index, dropped. */
  liars: string[]
}

/** Index fetches per archive at most: each one that reassembles wrong drops its provider. */
const MAX_INDEX_ATTEMPTS = 3
/** Fetch-and-verify rounds per index: a round after the first fetches blocks found corrupt on disk. */
const MAX_VERIFY_ROUNDS = 3

/** A peer sent something no honest server sends: a block not asked for, bytes not their CID, a malformed frame. */
class PeerMisbehavedError extends Error {
  static name = 'PeerMisbehavedError'
  override name = 'PeerMisbehavedError'
}

export class ArtifactFetcher {
  private readonly bucket: TokenBucket
  private readonly log: Logger

  constructor (private readonly components: ArtifactFetcherComponents, private readonly init: ArtifactFetcherInit) {
    this.bucket = new TokenBucket(init.config.fetchBytesPerSecond, init.config.bucketBurstBytes)
    this.log = components.logger.child({ component: 'artifact-fetcher' })
  }

  /** Fetch and verify `archive` into the store; resolves with its index once every chunk is held and checked. */
  async fetch (opts: FetchOptions): Promise<FetchResult> {
    if (!isArchiveCid(opts.archive)) throw new InvalidIndexError(`not an archive CID: ${JSON.stringify(opts.archive.slice(0, 100))}`)
    const stopLookup = new AbortController()
    const signal = AbortSignal.any([this.components.signal, stopLookup.signal, ...(opts.signal === undefined ? [] : [opts.signal])])
    const end = this.init.metrics.fetchDuration.startTimer()
    const pool = new ProviderPool(this.components.peerId, this.log)
    for (const p of opts.peers ?? []) pool.add(p)
    pool.discover(this.components.routing, opts.archive, this.init.config.dhtTimeoutMs, signal)
    const run = new FetchRun({
      host: this.components.host,
      ...this.init,
      bucket: this.bucket,
      log: this.log,
      self: this.components.peerId,
      provide: async (archive, sig) => {
        if (opts.announceInBackground !== true) { await this.provide(archive, sig); return }
        // Not the fetch's signal: that one ends with the fetch, and the announcement outlives it.
        void this.provide(archive, AbortSignal.any([this.components.signal, ...(opts.signal === undefined ? [] : [opts.signal])]))
      },
      rediscover: () => {
        if (!pool.discovering) pool.discover(this.components.routing, opts.archive, this.init.config.dhtTimeoutMs, signal)
      }
    }, pool, opts, signal)
    try {
      const result = await run.run()
      end({ result: 'ok' })
      return result
    } catch (err) {
      end({ result: signal.aborted ? 'aborted' : err instanceof ArtifactUnavailableError ? 'unavailable' : 'error' })
      throw err
    } finally {
      stopLookup.abort()
    }
  }

  /** Announce this node as a provider of `archive` in the DHT (best effort: a failure is logged). */
  async provide (archive: string, signal?: AbortSignal): Promise<void> {
    const sig = AbortSignal.any([this.components.signal, AbortSignal.timeout(this.init.config.dhtTimeoutMs), ...(signal === undefined ? [] : [signal])])
    try {
      for await (const _ of this.components.routing.provide(CID.parse(archive), { signal: sig })) { /* drain */ }
    } catch (err) {
      this.log.warn({ err, archive }, 'could not announce the archive in the DHT; peers that know this node can still fetch it')
    }
  }
}

/** What one run uses of its fetcher. */
interface RunContext extends ArtifactFetcherInit {
  host: Pick<RpcHost, 'dialProtocol'>
  bucket: TokenBucket
  log: Logger
  /** This node's peer id: seeds the order it asks for chunks in. */
  self: string
  provide: (archive: string, signal: AbortSignal) => Promise<void>
  /** Start another provider lookup unless one runs. */
  rediscover: () => void
}

/** One fetch of one archive. */
class FetchRun {
  private readonly liars = new Set<string>()
  private indexFrom: Provider | undefined
  private fetchedChunks = 0
  private fetchedBytes = 0
  /** The announcement made once the index is held; awaited at the end. */
  private announced: Promise<void> | undefined

  constructor (private readonly ctx: RunContext, private readonly pool: ProviderPool,
    private readonly opts: FetchOptions, private readonly signal: AbortSignal) {}

  private get store (): BlockStore { return this.ctx.store }
  private get config (): Readonly<ArtifactConfig> { return this.ctx.config }
  private get metrics (): ArtifactMetrics { return this.ctx.metrics }

  async run (): Promise<FetchResult> {
    let reused: number | undefined
    for (let attempt = 0; attempt < MAX_INDEX_ATTEMPTS; attempt++) {
      const stored = await this.store.getIndex(this.opts.archive) ?? await this.fetchIndex()
      // Holding the index, this node serves what it holds: announce now, not at the end (see the file comment).
      this.announced ??= this.ctx.provide(this.opts.archive, this.signal)
      for (let round = 0; round < MAX_VERIFY_ROUNDS; round++) {
        const missing = await this.store.missing(stored.index)
        reused ??= uniqueCount(stored.index) - missing.length
        if (missing.length > 0) await this.fetchChunks(stored.index, missing)
        const verdict = await this.verify(stored.index)
        if (verdict === 'ok') {
          await this.announced
          return { ...stored, reusedChunks: reused, fetchedChunks: this.fetchedChunks, fetchedBytes: this.fetchedBytes, liars: [...this.liars] }
        }
        if (verdict === 'mismatch') {
          // Every chunk was the one the index named, yet the whole is not the archive: the index lied.
          this.metrics.indexRejections.inc()
          await this.store.deleteRoot(this.opts.archive)
          if (this.indexFrom !== undefined) this.blame(this.indexFrom, 'index reassembles to another archive')
          this.indexFrom = undefined
          break
        }
        // 'missing': a block was corrupt on disk and deleted; fetch it again.
      }
    }
    throw new ArtifactUnavailableError(`${this.opts.archive}: no index from the providers reassembles to the archive`)
  }

  /** The index from the first provider that has a valid one; stored with its root. */
  private async fetchIndex (): Promise<StoredIndex> {
    const tried = new Set<string>()
    for (;;) {
      this.signal.throwIfAborted()
      const p = this.pool.active().find(q => !tried.has(q.key))
      if (p === undefined) {
        if (!this.pool.discovering) throw new ArtifactUnavailableError(`${this.opts.archive}: no provider reachable has its index`)
        await this.pool.changed(this.signal)
        continue
      }
      tried.add(p.key)
      try {
        const frames = await requestMany(this.ctx.host, p.id, ARTIFACT_PROTOCOL,
          encodeRequest({ want: [], index: this.opts.archive }),
          { timeoutMs: this.config.requestTimeoutMs, maxBytes: MAX_RESPONSE_BYTES, maxFrames: 2, signal: this.signal })
        const found = frames.map(f => decodeResponse(f)).find(m => m.t === 'index')
        if (found?.t !== 'index') continue
        const index = decodeIndex(found.data)
        if (index.archive !== this.opts.archive) throw new InvalidIndexError(`index of ${index.archive}, asked for ${this.opts.archive}`)
        if (this.opts.size !== undefined && index.size !== this.opts.size) throw new InvalidIndexError(`index says ${index.size} bytes, the manifest ${this.opts.size}`)
        const root = blockCid(found.data, CBOR_CODEC)
        await this.store.put(root, found.data)
        await this.store.putRoot(this.opts.archive, root)
        this.indexFrom = p
        return { root, index }
      } catch (err) {
        if (this.signal.aborted) throw err
        if (err instanceof InvalidIndexError || isWireError(err)) {
          this.metrics.indexRejections.inc()
          this.blame(p, (err as Error).message)
        } else {
          this.ctx.log.debug({ err, peer: p.key }, 'index request failed')
        }
      }
    }
  }

  /**
   * Fetch `missing` chunks from every provider in parallel until all are stored. When every provider left lacks
   * every chunk left, wait for the first lack to expire (or a new provider, or the next lookup), never spin; fail
   * when none is left, or when none has sent a chunk for `stallTimeoutMs`.
   */
  private async fetchChunks (index: ArchiveIndex, missing: CID[]): Promise<void> {
    const pending = spreadOrder(missing, this.ctx.self)
    const lacking = new LackingChunks(this.config.lackingRetryMs)
    let remaining = missing.length
    let inflight = 0
    const { wantPerRequest, windowPerProvider, rediscoverMaxMs, stallTimeoutMs } = this.config
    let lastProgress = Date.now()
    let lookupEvery = this.config.rediscoverMs
    let nextLookup = lastProgress + lookupEvery
    while (remaining > 0) {
      this.signal.throwIfAborted()
      const now = Date.now()
      if (now >= nextLookup) {
        this.ctx.rediscover()
        lookupEvery = Math.min(2 * lookupEvery, rediscoverMaxMs)
        nextLookup = now + lookupEvery
      }
      for (const p of this.pool.active()) {
        while (p.inflight < windowPerProvider && !p.dropped) {
          const batch = takeBatch(pending, p.key, wantPerRequest, lacking, now)
          if (batch.length === 0) break
          p.inflight++
          inflight++
          void this.requestChunks(p, batch, lacking, pending).then(got => {
            remaining -= got
            if (got > 0) lastProgress = Date.now()
          }, () => {}).finally(() => {
            p.inflight--
            inflight--
            this.pool.notify()
          })
        }
      }
      if (remaining === 0) break
      if (inflight === 0) {
        if (this.pool.active().length === 0 && !this.pool.discovering) {
          throw new ArtifactUnavailableError(`${this.opts.archive}: ${remaining} of ${index.chunks.length} chunks not held by any provider reachable`)
        }
        if (now - lastProgress >= stallTimeoutMs) {
          throw new ArtifactUnavailableError(`${this.opts.archive}: ${remaining} of ${index.chunks.length} chunks lacking at every provider for ${stallTimeoutMs} ms`)
        }
      }
      // A request settling, a new provider, or the first lack to expire (or the next lookup): never a spin.
      const wait = Math.min(lacking.nextExpiry(now), nextLookup, lastProgress + stallTimeoutMs) - now
      await this.pool.changed(this.signal, Math.max(wait, 1))
    }
  }

  /** One request to one provider; returns how many chunks it stored. Chunks not received go back to `pending`. */
  private async requestChunks (p: Provider, batch: CID[], lacking: LackingChunks, pending: CID[]): Promise<number> {
    const wanted = new Map(batch.map(c => [c.toString(), c]))
    const got = new Set<string>()
    let ok = false
    try {
      await requestMany(this.ctx.host, p.id, ARTIFACT_PROTOCOL, encodeRequest({ want: batch.map(c => c.bytes) }), {
        timeoutMs: this.config.requestTimeoutMs,
        maxBytes: MAX_RESPONSE_BYTES,
        maxFrames: batch.length + 1,
        signal: this.signal,
        onFrame: async (frame) => {
          const msg = decodeResponse(frame)
          if (msg.t === 'block') {
            const cid = parseBlockCid(msg.cid)
            const key = cid?.toString()
            if (cid === undefined || key === undefined || !wanted.has(key) || got.has(key)) throw new PeerMisbehavedError('sent a block it was not asked for')
            if (!verifyBlock(cid, msg.data)) {
              this.metrics.verificationFailures.inc()
              throw new PeerMisbehavedError(`sent bytes that are not ${key}`)
            }
            await this.store.put(cid, msg.data)
            got.add(key)
            this.fetchedChunks++
            this.fetchedBytes += msg.data.byteLength
            this.metrics.bytesFetched.inc(msg.data.byteLength)
            await this.ctx.bucket.take(msg.data.byteLength, this.signal)
          } else if (msg.t === 'missing') {
            for (const b of msg.cids) {
              const key = parseBlockCid(b)?.toString()
              if (key !== undefined) lacking.mark(key, p.key, Date.now())
            }
          } else if (msg.t === 'error') {
            throw new PeerMisbehavedError(`refused the request: ${msg.message}`)
          }
        }
      })
      ok = true
      p.errors = 0
    } catch (err) {
      if (!this.signal.aborted) {
        if (err instanceof PeerMisbehavedError || isWireError(err)) {
          this.blame(p, (err as Error).message)
        } else if (++p.errors >= this.config.maxProviderErrors) {
          this.pool.drop(p, `${p.errors} failed requests in a row: ${(err as Error).message}`)
        }
      }
    }
    for (const [key, cid] of wanted) {
      if (got.has(key)) continue
      // A provider that answered in full but did not send a chunk does not have it (yet).
      if (ok) lacking.mark(key, p.key, Date.now())
      pending.push(cid)
    }
    return got.size
  }

  /** Reassemble from the store: 'ok', 'missing' (a block was corrupt and is gone) or 'mismatch' (the index lied). */
  private async verify (index: ArchiveIndex): Promise<'ok' | 'missing' | 'mismatch'> {
    try {
      for await (const _ of this.store.read(index)) { this.signal.throwIfAborted() }
      return 'ok'
    } catch (err) {
      const name = (err as Error).name
      if (name === 'BlockMissingError') return 'missing'
      if (name === 'ArchiveMismatchError') return 'mismatch'
      throw err
    }
  }

  private blame (p: Provider, reason: string): void {
    this.liars.add(p.key)
    this.ctx.log.warn({ peer: p.key, archive: this.opts.archive, reason }, 'artifact provider sent bad data')
    this.pool.drop(p, reason)
  }
}

/** Up to `k` chunks from the front of `pending` that `peer` does not lack at `now`; removed from `pending`. */
function takeBatch (pending: CID[], peer: string, k: number, lacking: LackingChunks, now: number): CID[] {
  const batch: CID[] = []
  for (let i = 0; i < pending.length && batch.length < k;) {
    if (lacking.has(pending[i].toString(), peer, now)) { i++; continue }
    batch.push(pending[i])
    pending.splice(i, 1)
  }
  return batch
}

function uniqueCount (index: ArchiveIndex): number {
  return new Set(index.chunks.map(c => c.toString())).size
}

/** A frame that does not decode: the peer does not speak the protocol as it must. */
function isWireError (err: unknown): boolean {
  const name = (err as Error)?.name
  return name === 'MalformedMessageError' || name === 'OversizedMessageError' || name === 'UnsupportedVersionError'
}
