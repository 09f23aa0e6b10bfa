/**
 * Wire schemas of the BFT protocol (deterministic CBOR, see
 * wire/codec.ts). Messages and certificates carry signed and hashed bodies
 * (entries, blocks, votes, proposals), so they are decoded with
 * `decodeSigned` (docs/wire.md rule 1): a field this release does not know is
 * kept where it arrived, never dropped, because block hashes and entry
 * signatures are computed over the re-encoded object and must match what
 * the sender signed, and because votes, proposals, entries and certificates
 * are passed on and stored. The catch-up request is an unsigned frame and
 * ignores unknown fields. `tc` is reserved for trace context.
 */
import { z } from 'zod'
import { bytes, decodeCbor, decodeSigned, encodeCbor } from '../../wire/codec.js'
import { traced, type Traced } from '../../wire/trace-context.js'
import { MAX_GRANT_BYTES, MAX_KEY_BYTES, MAX_MESSAGE_BYTES, MAX_VALIDATORS, SYNC_BATCH } from './constants.js'
import type { BftMessage, Block, Certificate, Entry } from './types.js'

/** Hard wire ceiling on entries per block; genesis `params` may set a lower limit. */
const MAX_WIRE_ENTRIES = 1024
const MAX_WIRE_VALUE_CHARS = 1024 * 1024
const MAX_ROUND = 1_000_000
const MAX_HEIGHT = Number.MAX_SAFE_INTEGER

const exact = (n: number): z.ZodType<Uint8Array> => bytes(n).refine(b => b.byteLength === n, { message: `must be ${n} bytes` })
const hash = exact(32)
const signature = bytes(128)
const peer = z.string().min(1).max(128)
const height = z.number().int().min(1).max(MAX_HEIGHT)
const round = z.number().int().min(0).max(MAX_ROUND)

export const entrySchema: z.ZodType<Entry> = z.object({
  key: z.string().min(1).max(MAX_KEY_BYTES),
  value: z.string().max(MAX_WIRE_VALUE_CHARS).nullable(),
  admin: peer,
  nonce: exact(16),
  expiresAt: z.number().int().min(0).max(MAX_HEIGHT),
  grant: bytes(MAX_GRANT_BYTES).optional(),
  signature,
  ...traced
})

export const blockSchema: z.ZodType<Block> = z.object({
  v: z.literal(1),
  chain: hash,
  height,
  prevHash: hash,
  validatorSetHash: hash,
  time: z.number().int().min(0).max(MAX_HEIGHT),
  entries: z.array(entrySchema).max(MAX_WIRE_ENTRIES),
  ...traced
})

const voteSchema = z.object({
  type: z.union([z.literal(1), z.literal(2)]),
  height,
  round,
  blockHash: hash.nullable(),
  validator: peer,
  signature,
  ...traced
})

const proposalSchema = z.object({
  height,
  round,
  validRound: z.number().int().min(-1).max(MAX_ROUND),
  block: blockSchema,
  proposer: peer,
  signature,
  ...traced
})

export const certificateSchema: z.ZodType<Certificate> = z.object({
  v: z.literal(1),
  block: blockSchema,
  round,
  precommits: z.array(z.object({ validator: peer, signature })).min(1).max(MAX_VALIDATORS),
  ...traced
})

export const messageSchema: z.ZodType<BftMessage> = z.discriminatedUnion('kind', [
  z.object({ v: z.literal(1), kind: z.literal('proposal'), proposal: proposalSchema, ...traced }),
  z.object({ v: z.literal(1), kind: z.literal('vote'), vote: voteSchema, ...traced }),
  z.object({ v: z.literal(1), kind: z.literal('commit'), certificate: certificateSchema, ...traced }),
  z.object({ v: z.literal(1), kind: z.literal('submit'), entry: entrySchema, ...traced }),
  z.object({ v: z.literal(1), kind: z.literal('sync'), from: height, ...traced })
]) as unknown as z.ZodType<BftMessage>

/** Catch-up request: certificates from `from` onward, at most `limit`. */
export interface SyncRequest extends Traced { v: 1, from: number, limit: number }
export const syncRequestSchema: z.ZodType<SyncRequest> = z.object({
  v: z.literal(1),
  from: height,
  limit: z.number().int().min(1).max(SYNC_BATCH),
  ...traced
})

export function encodeMessage (msg: BftMessage): Uint8Array { return encodeCbor(msg) }
export function decodeMessage (data: Uint8Array): BftMessage { return decodeSigned(data, messageSchema, MAX_MESSAGE_BYTES) }
export function encodeCertificate (c: Certificate): Uint8Array { return encodeCbor(c) }
export function decodeCertificate (data: Uint8Array): Certificate { return decodeSigned(data, certificateSchema, MAX_MESSAGE_BYTES) }
export function decodeSyncRequest (data: Uint8Array): SyncRequest { return decodeCbor(data, syncRequestSchema, 1024) }
/** A single signed entry (a join-token redemption carried in the admission hello). */
export function encodeEntry (e: Entry): Uint8Array { return encodeCbor(e) }
export function decodeEntry (data: Uint8Array, maxBytes: number): Entry { return decodeSigned(data, entrySchema, maxBytes) }
