/**
 * Wire format of `/mycel/config-sync/1.0.0` (deterministic CBOR, see
 * wire/codec.ts). Envelopes travel as their own signed bytes, so a
 * relay cannot alter them.
 *
 * pull: request `{v, op:'pull', vv}` (the requester's durable version
 *       vector) → frames `{v, op:'vv', vv}` (the responder's), then zero or
 *       more `{v, op:'batch', envelopes}`, then `{v, op:'end', more}`.
 * push: request `{v, op:'push', envelopes}` → one frame `{v, op:'vv', vv}`
 *       sent after the responder fsynced what it accepted: an acknowledgement.
 *
 * Frames are unsigned: they ignore fields they do not know and reserve the
 * trace context `tc` (docs/wire.md). The envelopes inside keep theirs
 * (crdt/envelope.ts).
 */
import { z } from 'zod'
import { bytes, decodeCbor, encodeCbor } from '../../wire/codec.js'
import { versionVectorSchema, type VersionVector } from '../../crdt/version-vector.js'
import { traced, type Traced } from '../../wire/trace-context.js'

export type SyncRequest = Traced & (
  | { v: 1, op: 'pull', vv: VersionVector }
  | { v: 1, op: 'push', envelopes: Uint8Array[] })

export type SyncFrame = Traced & (
  | { v: 1, op: 'vv', vv: VersionVector }
  | { v: 1, op: 'batch', envelopes: Uint8Array[] }
  | { v: 1, op: 'end', more: boolean })

/** Envelopes one push or batch frame may carry (a frame is also size-capped). */
const MAX_BATCH = 4_096

const envelopes = z.array(bytes()).max(MAX_BATCH)

const requestSchema: z.ZodType<SyncRequest> = z.discriminatedUnion('op', [
  z.object({ v: z.literal(1), op: z.literal('pull'), vv: versionVectorSchema, ...traced }),
  z.object({ v: z.literal(1), op: z.literal('push'), envelopes, ...traced })
]) as unknown as z.ZodType<SyncRequest>

const frameSchema: z.ZodType<SyncFrame> = z.discriminatedUnion('op', [
  z.object({ v: z.literal(1), op: z.literal('vv'), vv: versionVectorSchema, ...traced }),
  z.object({ v: z.literal(1), op: z.literal('batch'), envelopes, ...traced }),
  z.object({ v: z.literal(1), op: z.literal('end'), more: z.boolean(), ...traced })
]) as unknown as z.ZodType<SyncFrame>

export const encodeSyncRequest = (m: SyncRequest): Uint8Array => encodeCbor(m)
export const encodeSyncFrame = (m: SyncFrame): Uint8Array => encodeCbor(m)

export function decodeSyncRequest (data: Uint8Array, maxBytes: number): SyncRequest {
  return decodeCbor(data, requestSchema, maxBytes)
}

export function decodeSyncFrame (data: Uint8Array, maxBytes: number): SyncFrame {
  return decodeCbor(data, frameSchema, maxBytes)
}
