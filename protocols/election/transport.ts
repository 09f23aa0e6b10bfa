/**
 * How leases travel: a gossip topic (fast path, every region's leases reach
 * every node within a heartbeat or two) and the DHT (the authoritative
 * record, readable from any region). Candidates are not announced here:
 * every member's signed alive record carries the roles it may hold, so the
 * membership view lists them (docs/roles.md, "Candidates come from
 * membership, not DHT provider records"). The election engine only sees
 * this interface, so unit tests drive it with an in-memory network and fake
 * timers.
 */
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import type { QueryEvent } from '@libp2p/kad-dht'
import { VerifiedTopic, type PubSubHost } from '../../wire/topic.js'
import { LEASE_TOPIC } from './constants.js'
import { decodeLease, leaseKey, parseLeaseKey, type SignedLease } from './lease.js'
import type { ElectionMetrics } from './metrics.js'
import { rejectReason } from '../../wire/errors.js'
import type { RpcHost } from '../../wire/rpc.js'
import { LEASE_SYNC_PROTOCOL, pullLeases, serveLeaseSync } from './lease-sync.js'

/** `sync`: relayed by a member at our start (lease-sync.ts), as a DHT record is relayed by its store. */
export type LeaseSource = 'gossip' | 'dht' | 'sync' | 'self'

/** A lease record read from the DHT, with the peer whose store held it. */
export interface FoundLease extends SignedLease {
  /** Peer id of the store; this node's own id for its local store. */
  from: string
}

export interface LeaseTransport {
  start: (onLease: (sl: SignedLease, source: LeaseSource) => void) => void
  stop: () => void
  /** Publish on the lease topic; resolves with the number of peers it was sent to. */
  gossip: (sl: SignedLease) => Promise<number>
  /**
   * Store the record in the DHT; resolves with the number of remote peers
   * that stored it. kad-dht first writes it to this node's own store, which
   * answers every reader: with `provisional` (a statement that counts only if
   * a peer takes it), a record no remote peer stored is taken out of that
   * store again, so it is never served as if it had been stated.
   */
  put: (sl: SignedLease, signal: AbortSignal, opts?: PutOptions) => Promise<number>
  /**
   * Every valid record found for the key (not only the DHT's pick), each
   * with the store it came from: kad-dht also answers from this node's own
   * store, which holds every record this node put, even one that reached
   * no other peer.
   */
  get: (region: string, role: string, signal: AbortSignal) => Promise<FoundLease[]>
  /** Serve `held` (every lease this node knows) to members that sync at their start (lease-sync.ts); absent: no sync. */
  serve?: (held: () => Uint8Array[]) => Promise<void>
  /** Every lease `peer` knows, each checked as gossip is; a bad record ends the exchange with an error. */
  pull?: (peer: string, signal: AbortSignal) => Promise<SignedLease[]>
}

export interface PutOptions {
  /** The statement counts only if a remote peer stores it: if none does, undo the write to the own store. */
  provisional?: boolean
}

/**
 * This node's own store of DHT records. kad-dht writes every put there
 * before it looks for peers and answers other nodes' reads from it, but has
 * no call to undo such a write; the daemon provides one (daemon/dht-local-records.ts).
 */
export interface DhtLocalRecords {
  /** What the own store holds under `key` now (opaque bytes, for `restore`). */
  snapshot: (key: Uint8Array) => Promise<Uint8Array | undefined>
  /**
   * Undo a put of `value` under `key`: the store gets `previous` back (none:
   * the entry goes), unless it no longer holds `value` (a peer stored
   * another record meanwhile).
   */
  restore: (key: Uint8Array, value: Uint8Array, previous: Uint8Array | undefined) => Promise<void>
}

/**
 * The slice of kad-dht the lease transport uses: records under
 * `/mycel/lease/<region>/<role>`. The libp2p node's `services.dht` is one.
 */
export interface DhtHost {
  put: (key: Uint8Array, value: Uint8Array, options?: { signal?: AbortSignal }) => AsyncIterable<QueryEvent>
  get: (key: Uint8Array, options?: { signal?: AbortSignal }) => AsyncIterable<QueryEvent>
}

export interface Libp2pTransportInit {
  /** The lease topic. */
  pubsub: PubSubHost
  dht: DhtHost
  /** Undoes provisional puts nobody took; without it such a record stays in the own store (kad-dht alone). */
  local?: DhtLocalRecords
  logger: Logger
  registry?: Registry
  metrics: ElectionMetrics
  /** Streams for lease sync (lease-sync.ts); without it the node neither serves nor pulls. */
  rpc?: Pick<RpcHost, 'handle' | 'unhandle' | 'dialProtocol'>
  /** Deadline of one whole sync exchange, ms. */
  syncTimeoutMs?: number
}

/** A sync answer is at most MAX_BOOK_ENTRIES small frames: a few seconds on a loaded host. */
const SYNC_TIMEOUT_MS = 10_000

export class Libp2pLeaseTransport implements LeaseTransport {
  private topic: VerifiedTopic<SignedLease> | undefined
  private serving = false

  constructor (private readonly init: Libp2pTransportInit) {}

  start (onLease: (sl: SignedLease, source: LeaseSource) => void): void {
    if (this.topic !== undefined) return
    this.topic = new VerifiedTopic<SignedLease>({
      pubsub: this.init.pubsub,
      topic: LEASE_TOPIC,
      metricTopic: 'leases',
      // Leases are self-certifying, so anyone may relay one (e.g. a record
      // read from the DHT); the holder's signature is what counts.
      decode: async (data) => await decodeLease(data),
      onMessage: (sl) => { onLease(sl, 'gossip') },
      registry: this.init.registry,
      logger: this.init.logger
    })
    this.topic.start()
  }

  stop (): void {
    this.topic?.stop()
    this.topic = undefined
    if (this.serving) {
      this.serving = false
      void this.init.rpc?.unhandle(LEASE_SYNC_PROTOCOL).catch(() => {})
    }
  }

  /** Nothing without `rpc` (unit tests of the transport alone). */
  async serve (held: () => Uint8Array[]): Promise<void> {
    if (this.serving || this.init.rpc === undefined) return
    this.serving = true
    await serveLeaseSync({ rpc: this.init.rpc, held, timeoutMs: this.init.syncTimeoutMs ?? SYNC_TIMEOUT_MS, logger: this.init.logger })
  }

  /** Without `rpc`, nobody to ask: no leases. */
  async pull (peer: string, signal: AbortSignal): Promise<SignedLease[]> {
    const out: SignedLease[] = []
    if (this.init.rpc === undefined) return out
    await pullLeases(this.init.rpc, peer, {
      timeoutMs: this.init.syncTimeoutMs ?? SYNC_TIMEOUT_MS,
      signal,
      accept: async (raw) => {
        try {
          out.push(await decodeLease(raw))
        } catch (err) {
          this.init.metrics.leasesRejected.inc({ source: 'sync', reason: rejectReason(err) })
          throw err
        }
      }
    })
    return out
  }

  async gossip (sl: SignedLease): Promise<number> {
    const res = await this.init.pubsub.publish(LEASE_TOPIC, sl.record)
    return res.recipients.length
  }

  async put (sl: SignedLease, signal: AbortSignal, opts: PutOptions = {}): Promise<number> {
    const { metrics } = this.init
    const key = leaseKey(sl.lease.region, sl.lease.role)
    const local = opts.provisional === true ? this.init.local : undefined
    const before = await local?.snapshot(key)
    let acks = 0
    try {
      for await (const ev of this.init.dht.put(key, sl.record, { signal })) {
        if (ev.name === 'PEER_RESPONSE' && ev.messageName === 'PUT_VALUE') acks++
      }
      metrics.dhtOps.inc({ op: 'put', result: acks > 0 ? 'ok' : 'no_peers' })
    } catch (err) {
      metrics.dhtOps.inc({ op: 'put', result: acks > 0 ? 'ok' : rejectReason(err) })
      if (acks === 0) throw err
    } finally {
      // A claim nobody took, left in our store, is served to every reader:
      // a node that has just started (no gossip mesh, no DHT routing yet)
      // would make a token nobody saw and nobody acts on win every later
      // read, and read repair would push the real holder out with it.
      if (acks === 0 && local !== undefined) {
        await local.restore(key, sl.record, before)
          .catch((err) => { this.init.logger.warn({ err, region: sl.lease.region, role: sl.lease.role }, 'could not take an unacknowledged lease record out of the own DHT store') })
      }
    }
    return acks
  }

  async get (region: string, role: string, signal: AbortSignal): Promise<FoundLease[]> {
    const { metrics } = this.init
    const key = leaseKey(region, role)
    const raw: Array<{ record: Uint8Array, from: string }> = []
    try {
      // Collect every record from the responses rather than the single value
      // `get` yields at the end: that value comes only after kad-dht's
      // correction round, which throws when a stale peer cannot be corrected.
      for await (const ev of this.init.dht.get(key, { signal })) {
        if (ev.name === 'PEER_RESPONSE' && ev.record != null) raw.push({ record: ev.record.value, from: ev.from.toString() })
        else if (ev.name === 'VALUE') raw.push({ record: ev.value, from: ev.from.toString() })
      }
      metrics.dhtOps.inc({ op: 'get', result: raw.length > 0 ? 'ok' : 'not_found' })
    } catch (err) {
      metrics.dhtOps.inc({ op: 'get', result: raw.length > 0 ? 'ok' : rejectReason(err) })
      if (raw.length === 0 && (err as Error).name !== 'NotFoundError') throw err
    }
    const out: FoundLease[] = []
    for (const { record, from } of raw) {
      try {
        const sl = await decodeLease(record)
        const k = parseLeaseKey(key)
        if (k?.region === sl.lease.region && k.role === sl.lease.role) out.push({ ...sl, from })
      } catch (err) {
        metrics.leasesRejected.inc({ source: 'dht', reason: rejectReason(err) })
      }
    }
    return out
  }
}
