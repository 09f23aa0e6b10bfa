/**
 * Health sync: a starting node asks one member of its region for every
 * report that member holds, as memberlist's push-pull gives a joiner the
 * whole member list at once. Reports are refreshed minutes apart in a large
 * region (cadence.ts), so without it a new node would know few of them for
 * minutes (its API views, and the role duties it may be elected to).
 *
 * Wire: one request frame, CBOR `{v: 1}` (fields a later release adds are
 * ignored); the answer is one frame per report, each exactly the signed
 * bytes its subject gossiped, then close. Every frame is checked by the
 * receiver with the code that checks gossip (`Health.accept`): signature by
 * the report's subject, size, clock skew, newer than what is held; a
 * relayed report can be neither forged nor altered. A member of another
 * region, an unknown peer, or anything oversized gets nothing stored.
 */
import { z } from 'zod'
import type { Logger } from 'pino'
import { peerIdOf } from '../../wire/peer-ids.js'
import { decodeCbor, encodeCbor } from '../../wire/codec.js'
import { handleRequests, requestMany, type RpcHost } from '../../wire/rpc.js'

export const HEALTH_SYNC_PROTOCOL = '/mycel/health-sync/1.0.0'

/** Largest request frame, bytes (it is `{v: 1}` today). */
const MAX_REQUEST_BYTES = 256
/** Reports one answer carries at most: a region's members, with room. */
export const MAX_SYNC_REPORTS = 10_000
/** Requests one node serves at once; more are refused at the stream level. */
const MAX_INBOUND = 4

const requestSchema = z.object({ v: z.literal(1) })

export interface SyncServerInit {
  rpc: Pick<RpcHost, 'handle' | 'unhandle'>
  /** The signed bytes of every report held (own included), as gossiped. */
  held: () => Uint8Array[]
  timeoutMs: number
  maxReportBytes: number
  logger: Logger
}

export async function serveHealthSync (init: SyncServerInit): Promise<void> {
  await handleRequests(init.rpc, HEALTH_SYNC_PROTOCOL, async (req, _conn, reply) => {
    decodeCbor(req, requestSchema, MAX_REQUEST_BYTES)
    for (const raw of init.held().slice(0, MAX_SYNC_REPORTS)) await reply(raw)
  }, {
    timeoutMs: init.timeoutMs,
    maxBytes: MAX_REQUEST_BYTES,
    maxInboundStreams: MAX_INBOUND,
    onError: (err, conn) => { init.logger.debug({ err, peer: conn.remotePeer.toString() }, 'health sync request failed') }
  })
}

/**
 * Ask `peer` for its reports; `accept` checks and stores each one (and
 * throws on a bad one, which ends the exchange). Resolves with how many
 * frames arrived.
 */
export async function pullHealth (rpc: Pick<RpcHost, 'dialProtocol'>, peer: string, opts: {
  timeoutMs: number
  maxReportBytes: number
  signal?: AbortSignal
  accept: (raw: Uint8Array) => Promise<void>
}): Promise<number> {
  let n = 0
  await requestMany(rpc, peerIdOf(peer), HEALTH_SYNC_PROTOCOL, encodeCbor({ v: 1 }), {
    timeoutMs: opts.timeoutMs,
    maxBytes: opts.maxReportBytes,
    maxFrames: MAX_SYNC_REPORTS,
    ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
    onFrame: async (frame) => { n++; await opts.accept(frame) }
  })
  return n
}
