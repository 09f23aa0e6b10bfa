/**
 * The envelope: one local write, signed by its writer.
 *
 * `{v: 1, writer, seq, ns, update, time, sig}` where `update` is the Yjs
 * update bytes the write produced, `seq` numbers the writer's envelopes in
 * that namespace from 1 without gaps, and `time` is the writer's wall clock
 * (ms) at the write, used only for the propagation-lag metric. The signature
 * covers the deterministic CBOR of every field but `sig`, so an envelope can
 * travel through any number of peers (gossip, anti-entropy, snapshots of the
 * log) and its authorship stays checkable.
 *
 * Every field means every field the envelope arrived with (docs/wire.md
 * rule 1): a newer writer's field that this release does not know stays on
 * the decoded envelope (`decodeSigned`), is covered by the signature check,
 * and is stored and passed on with it. `tc` is reserved for trace context.
 */
import { createHash } from 'node:crypto'
import type { PrivateKey } from '@libp2p/interface'
import { z } from 'zod'
import { bytes, decodeSigned, encodeCbor } from '../wire/codec.js'
import { signPayload, verifyPayload } from '../wire/signing.js'
import { traced, type Traced } from '../wire/trace-context.js'
import { ENVELOPE_DOMAIN, NAMESPACE_PATTERN, WRITER_PATTERN } from './constants.js'

/** An Ed25519 signature. */
const SIGNATURE_BYTES = 64

export interface EnvelopeFields extends Traced {
  v: 1
  writer: string
  seq: number
  ns: string
  update: Uint8Array
  time: number
}

export interface Envelope extends EnvelopeFields {
  sig: Uint8Array
}

const fieldsShape = {
  v: z.literal(1),
  writer: z.string().regex(WRITER_PATTERN),
  seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  ns: z.string().regex(NAMESPACE_PATTERN),
  update: bytes(),
  time: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  ...traced
}

export const envelopeSchema: z.ZodType<Envelope> = z.object({
  ...fieldsShape,
  sig: bytes(SIGNATURE_BYTES)
}) as unknown as z.ZodType<Envelope>

/** Bytes the signature covers: every field but `sig`, known or not. */
export function signedPayload (e: EnvelopeFields): Uint8Array {
  const { sig: _sig, ...fields } = e as Partial<Envelope>
  return encodeCbor(fields)
}

export async function signEnvelope (key: PrivateKey, fields: EnvelopeFields): Promise<Envelope> {
  const sig = await signPayload(key, ENVELOPE_DOMAIN, signedPayload(fields))
  return { ...fields, sig }
}

/** Throws InvalidSignatureError unless the envelope is signed by its `writer`. */
export async function verifyEnvelope (e: Envelope): Promise<void> {
  await verifyPayload(e.writer, ENVELOPE_DOMAIN, signedPayload(e), e.sig)
}

/** Canonical wire form: equal envelopes give equal bytes whoever encoded them. */
export function encodeEnvelope (e: Envelope): Uint8Array {
  return encodeCbor(e)
}

/**
 * Decodes untrusted bytes, keeping fields this release does not know (so
 * encodeEnvelope gives back exactly `data`); throws only the wire errors
 * (malformed, oversized, version).
 */
export function decodeEnvelope (data: Uint8Array, maxBytes: number): Envelope {
  return decodeSigned(data, envelopeSchema, maxBytes)
}

/**
 * The Yjs client id of a writer: 53 bits of SHA-256 of its peer id. Tying
 * the client id to the signing key is what lets a receiver check that an
 * update only creates items in its writer's own id space; otherwise a writer
 * could pre-empt another writer's (client, clock) ids and make replicas
 * diverge. 53 bits (the most a JS number holds exactly; Yjs encodes client
 * ids as var-uints) make an accidental collision negligible and a forced one
 * a 2^53 key search.
 */
export function clientIdOf (writer: string): number {
  const h = createHash('sha256').update(writer).digest()
  // 21 high bits + 32 low bits = 53 bits.
  return (h.readUInt32BE(0) & 0x1fffff) * 0x1_0000_0000 + h.readUInt32BE(4)
}
