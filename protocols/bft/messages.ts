/**
 * Wire schemas of the BFT protocol (deterministic CBOR, see
 * wire/codec.ts). Objects are `.strict()`: an unknown field is a
 * malformed message, never silently dropped, because block hashes are
 * computed over the re-encoded object and must match what the sender signed.
 */
import { z } from 'zod'
import { bytes, decodeCbor, encodeCbor } from '../../wire/codec.js'
import { MAX_KEY_BYTES, MAX_MESSAGE_BYTES, MAX_VALIDATORS, SYNC_BATCH } from './constants.js'
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
  signature
}).strict()

export const blockSchema: z.ZodType<Block> = z.object({
  v: z.literal(1),
  chain: hash,
  height,
  prevHash: hash,
  validatorSetHash: hash,
  time: z.number().int().min(0).max(MAX_HEIGHT),
  entries: z.array(entrySchema).max(MAX_WIRE_ENTRIES)
}).strict()

const voteSchema = z.object({
  type: z.union([z.literal(1), z.literal(2)]),
  height,
  round,
  blockHash: hash.nullable(),
  validator: peer,
  signature
}).strict()

const proposalSchema = z.object({
  height,
  round,
  validRound: z.number().int().min(-1).max(MAX_ROUND),
  block: blockSchema,
  proposer: peer,
  signature
}).strict()

export const certificateSchema: z.ZodType<Certificate> = z.object({
  v: z.literal(1),
  block: blockSchema,
  round,
  precommits: z.array(z.object({ validator: peer, signature }).strict()).min(1).max(MAX_VALIDATORS)
}).strict()

export const messageSchema: z.ZodType<BftMessage> = z.discriminatedUnion('kind', [
  z.object({ v: z.literal(1), kind: z.literal('proposal'), proposal: proposalSchema }).strict(),
  z.object({ v: z.literal(1), kind: z.literal('vote'), vote: voteSchema }).strict(),
  z.object({ v: z.literal(1), kind: z.literal('commit'), certificate: certificateSchema }).strict(),
  z.object({ v: z.literal(1), kind: z.literal('submit'), entry: entrySchema }).strict(),
  z.object({ v: z.literal(1), kind: z.literal('sync'), from: height }).strict()
]) as unknown as z.ZodType<BftMessage>

/** Catch-up request: certificates from `from` onward, at most `limit`. */
export interface SyncRequest { v: 1, from: number, limit: number }
export const syncRequestSchema: z.ZodType<SyncRequest> = z.object({
  v: z.literal(1),
  from: height,
  limit: z.number().int().min(1).max(SYNC_BATCH)
}).strict()

export function encodeMessage (msg: BftMessage): Uint8Array { return encodeCbor(msg) }
export function decodeMessage (data: Uint8Array): BftMessage { return decodeCbor(data, messageSchema, MAX_MESSAGE_BYTES) }
export function encodeCertificate (c: Certificate): Uint8Array { return encodeCbor(c) }
export function decodeCertificate (data: Uint8Array): Certificate { return decodeCbor(data, certificateSchema, MAX_MESSAGE_BYTES) }
export function decodeSyncRequest (data: Uint8Array): SyncRequest { return decodeCbor(data, syncRequestSchema, 1024) }
