/**
 * The one wire encoding mycel uses: deterministic CBOR (RFC 8949 core
 * deterministic encoding, via cborg) checked against a zod schema on decode.
 * Every top-level message carries a version field `v`; schemas pin it, so a
 * peer speaking a newer format is rejected with UnsupportedVersionError
 * rather than misread. Binary fields (keys, signatures, Yjs updates) travel as
 * CBOR byte strings, not base64.
 *
 * Two decoders, one per rule of docs/wire.md ("What may change without a new
 * version"): `decodeCbor` for unsigned frames, whose schemas ignore fields
 * they do not name; `decodeSigned` for a signed body (or a message carrying
 * signed bodies), which keeps those fields so the signature still verifies
 * and a relay forwards them intact.
 */
import { encode, decode, rfc8949EncodeOptions } from 'cborg'
import { z } from 'zod'
import { MalformedMessageError, OversizedMessageError, UnsupportedVersionError } from './errors.js'
import { isDeterministic } from './deterministic.js'
import { firstIssue } from '../lib/zod-issue.js'

const DECODE_OPTIONS = {
  strict: true,
  rejectDuplicateMapKeys: true,
  useMaps: false,
  allowUndefined: false,
  allowIndefinite: false,
  allowBigInt: false,
  allowInfinity: false,
  allowNaN: false
} as const

/** zod schema for a CBOR byte string. */
export const bytes = (max?: number): z.ZodType<Uint8Array> => {
  const base = z.instanceof(Uint8Array)
  return max === undefined ? base : base.refine(b => b.byteLength <= max, { message: `longer than ${max} bytes` })
}

/** Deterministic encoding: equal values give equal bytes, so it is safe to sign. */
export function encodeCbor (value: unknown): Uint8Array {
  return encode(value, rfc8949EncodeOptions)
}

/**
 * Decode untrusted bytes into what the schema names (an unsigned frame: a
 * non-strict schema drops fields it does not know). Throws
 * MalformedMessageError (bad CBOR or schema), OversizedMessageError or
 * UnsupportedVersionError; never anything else.
 */
export function decodeCbor<T> (data: Uint8Array, schema: z.ZodType<T>, maxBytes?: number): T {
  return check(decodeRaw(data, schema, maxBytes), schema)
}

/**
 * Decode a signed body, or a message that carries signed bodies, from
 * untrusted bytes (docs/wire.md, rule 1). The schema checks the fields this
 * release knows; every other field is kept, at every depth, on the returned
 * objects. The node's own logic reads only the fields it knows, and
 * re-encoding the value gives back exactly the bytes received, so a
 * signature or hash over them verifies and a relay forwards a newer node's
 * fields intact. For that the input must be the deterministic encoding of
 * its value; any other encoding is rejected as malformed.
 *
 * The schema's objects must not be strict where fields are to be kept (a
 * strict one rejects them, as with decodeCbor; only local records use that),
 * and it must not transform values (defaults, transforms): the value
 * returned is the decoded CBOR the schema accepted, not the schema's output.
 * The byte limit bounds the unknown fields with the known ones. Throws the
 * same named errors as decodeCbor, never anything else.
 */
export function decodeSigned<T> (data: Uint8Array, schema: z.ZodType<T>, maxBytes?: number): T {
  const raw = decodeRaw(data, schema, maxBytes)
  check(raw, schema)
  if (!isDeterministic(data)) {
    throw new MalformedMessageError('not the deterministic encoding: a signed body must arrive as its signer encoded it')
  }
  return raw as T
}

/** Size limit, CBOR, and the version of a versioned schema. */
function decodeRaw (data: Uint8Array, schema: z.ZodType, maxBytes: number | undefined): unknown {
  if (maxBytes !== undefined && data.byteLength > maxBytes) {
    throw new OversizedMessageError(`message of ${data.byteLength} bytes exceeds ${maxBytes}`)
  }
  let raw: unknown
  try {
    raw = decode(data, DECODE_OPTIONS)
  } catch (err) {
    throw new MalformedMessageError(`invalid CBOR: ${(err as Error).message}`)
  }
  if (raw !== null && typeof raw === 'object' && 'v' in raw && typeof (raw as { v: unknown }).v === 'number') {
    const v = (raw as { v: number }).v
    const parsedV = probeVersion(schema)
    if (parsedV !== undefined && v !== parsedV) {
      throw new UnsupportedVersionError(`unsupported message version ${v}, expected ${parsedV}`)
    }
  }
  return raw
}

function check<T> (raw: unknown, schema: z.ZodType<T>): T {
  const parsed = schema.safeParse(raw)
  if (!parsed.success) {
    throw new MalformedMessageError(`invalid message: ${firstIssue(parsed.error)}`)
  }
  return parsed.data
}

/**
 * Decode bytes we wrote ourselves and have checked since (a CRC-checked
 * record of our own log): no schema, no size limit, cborg's defaults. Never
 * for anything that came from the network.
 */
export function decodeCborTrusted (data: Uint8Array): unknown {
  return decode(data)
}

/** If the schema is an object with a literal `v`, return that literal. */
function probeVersion (schema: z.ZodType): number | undefined {
  const shape = (schema as unknown as { shape?: Record<string, z.ZodType> }).shape
  const v = shape?.v as unknown as { value?: unknown } | undefined
  return typeof v?.value === 'number' ? v.value : undefined
}
