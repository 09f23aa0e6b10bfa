/**
 * Lease sync: a starting node asks one member for every lease that member
 * knows, as health sync (protocols/health/sync.ts) and memberlist's
 * push-pull give a joiner the whole state at once. Renewals are 30 s apart
 * on `lan` (constants.ts), so without it a new node would not know who holds
 * a role for up to a renew interval: its API views, and the tokens it fences
 * actions with.
 *
 * Wire: one request frame, CBOR `{v: 1}` (fields a later release adds are
 * ignored); the answer is one frame per lease, each exactly the signed
 * record its holder stated, then close. The receiver checks every frame with
 * `decodeLease`, the code that checks gossip and DHT records (the holder's
 * signature, sizes, times), so a relayed lease can be neither forged nor
 * altered, and the lease order (lease.ts) keeps an old record from
 * replacing a newer one. A frame that fails the check ends the exchange.
 */
import { z } from 'zod'
import type { Logger } from 'pino'
import { peerIdOf } from '../../wire/peer-ids.js'
import { decodeCbor, encodeCbor } from '../../wire/codec.js'
import { handleRequests, requestMany, type RpcHost } from '../../wire/rpc.js'
import { MAX_LEASE_BYTES } from './constants.js'
import { MAX_BOOK_ENTRIES } from './book.js'

export const LEASE_SYNC_PROTOCOL = '/mycel/lease-sync/1.0.0'

/** Largest request frame, bytes (it is `{v: 1}` today). */
const MAX_REQUEST_BYTES = 256
/** Largest answer frame: one lease record (lease.ts decodes the record with this bound). */
const MAX_FRAME_BYTES = MAX_LEASE_BYTES + 256
/** Requests one node serves at once; more are refused at the stream level. */
const MAX_INBOUND = 4

const requestSchema = z.object({ v: z.literal(1) })

export interface LeaseSyncServerInit {
  rpc: Pick<RpcHost, 'handle'>
  /** The signed record of every lease this node knows, as its holder stated it. */
  held: () => Uint8Array[]
  timeoutMs: number
  logger: Logger
}

export async function serveLeaseSync (init: LeaseSyncServerInit): Promise<void> {
  await handleRequests(init.rpc, LEASE_SYNC_PROTOCOL, async (req, _conn, reply) => {
    decodeCbor(req, requestSchema, MAX_REQUEST_BYTES)
    for (const raw of init.held().slice(0, MAX_BOOK_ENTRIES)) await reply(raw)
  }, {
    timeoutMs: init.timeoutMs,
    maxBytes: MAX_REQUEST_BYTES,
    maxInboundStreams: MAX_INBOUND,
    onError: (err, conn) => { init.logger.debug({ err, peer: conn.remotePeer.toString() }, 'lease sync request failed') }
  })
}

/**
 * Ask `peer` for its leases; `accept` checks and takes each one (and throws
 * on a bad one, which ends the exchange). Resolves with how many frames
 * arrived.
 */
export async function pullLeases (rpc: Pick<RpcHost, 'dialProtocol'>, peer: string, opts: {
  timeoutMs: number
  signal?: AbortSignal
  accept: (raw: Uint8Array) => Promise<void>
}): Promise<number> {
  let n = 0
  await requestMany(rpc, peerIdOf(peer), LEASE_SYNC_PROTOCOL, encodeCbor({ v: 1 }), {
    timeoutMs: opts.timeoutMs,
    maxBytes: MAX_FRAME_BYTES,
    maxFrames: MAX_BOOK_ENTRIES,
    ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
    onFrame: async (frame) => { n++; await opts.accept(frame) }
  })
  return n
}
