/**
 * A small durable file holding one checksummed record (fencing tokens, the
 * incarnation reservation, the config snapshot, the BFT genesis mark):
 *
 *   magic (8 bytes) | u32be payload length | payload | u32be crc32(all before it)
 *
 * It is always replaced whole through writeFileDurable, so a crash never
 * tears it: any mismatch on read (header, length, checksum) is damage, and
 * the reader throws CorruptFileError naming the file and the recovery step.
 *
 * Owners whose file predates this layout pass `legacy`: it gets the bytes of
 * a file without our header and returns the equivalent payload, or
 * undefined when the bytes are not that old layout either. A header with a
 * few damaged bytes is never handed to `legacy`.
 */
import type { ZodType } from 'zod'
import { crc32 } from './checksum.js'
import { readFileIfExists, readFileIfExistsSync, writeFileDurable, writeFileDurableSync } from './durable-file.js'
import { CorruptFileError } from './errors.js'
import { MAGIC_BYTES, damagedMagic, hasMagic, magicOf, unknownHeader, type FileFormat } from './file-format.js'

const LENGTH_BYTES = 4
const CRC_BYTES = 4
/** Bytes around the payload. */
export const SEALED_OVERHEAD = MAGIC_BYTES + LENGTH_BYTES + CRC_BYTES

export interface SealedRead {
  payload: Uint8Array
  /** Read through `legacy`: the file is in an older layout (rewrite it to convert). */
  legacy: boolean
}

export type LegacyReader = (data: Uint8Array) => Uint8Array | undefined

export function seal (format: FileFormat, payload: Uint8Array): Uint8Array {
  const out = Buffer.alloc(SEALED_OVERHEAD + payload.byteLength)
  magicOf(format).copy(out, 0)
  out.writeUInt32BE(payload.byteLength, MAGIC_BYTES)
  out.set(payload, MAGIC_BYTES + LENGTH_BYTES)
  const end = out.length - CRC_BYTES
  out.writeUInt32BE(crc32(out.subarray(0, end)), end)
  return out
}

/** The payload of a sealed file's bytes; throws CorruptFileError on any mismatch. */
export function unseal (format: FileFormat, path: string, data: Uint8Array, legacy?: LegacyReader): SealedRead {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  if (!hasMagic(buf, format)) {
    if (legacy !== undefined && !damagedMagic(buf, format)) {
      const payload = legacy(buf)
      if (payload !== undefined) return { payload, legacy: true }
    }
    throw unknownHeader(path, buf, format)
  }
  if (buf.length < SEALED_OVERHEAD) throw new CorruptFileError(path, `${format.name} is cut short (${buf.length} bytes)`, format.recovery)
  const len = buf.readUInt32BE(MAGIC_BYTES)
  if (len !== buf.length - SEALED_OVERHEAD) {
    throw new CorruptFileError(path, `${format.name} says ${len} bytes of data but holds ${buf.length - SEALED_OVERHEAD}`, format.recovery)
  }
  const end = buf.length - CRC_BYTES
  if (crc32(buf.subarray(0, end)) !== buf.readUInt32BE(end)) {
    throw new CorruptFileError(path, `${format.name} fails its checksum`, format.recovery)
  }
  // A view, not a copy: the bytes were just read for this caller alone, and copying a large payload (the agent's
  // 4 MB code cache) costs more than reading it.
  return { payload: buf.subarray(MAGIC_BYTES + LENGTH_BYTES, end), legacy: false }
}

/** Read and check `path`; undefined when it does not exist. */
export async function readSealed (format: FileFormat, path: string, legacy?: LegacyReader): Promise<SealedRead | undefined> {
  const data = await readFileIfExists(path)
  return data === undefined ? undefined : unseal(format, path, data, legacy)
}

export function readSealedSync (format: FileFormat, path: string, legacy?: LegacyReader): SealedRead | undefined {
  const data = readFileIfExistsSync(path)
  return data === undefined ? undefined : unseal(format, path, data, legacy)
}

export async function writeSealed (format: FileFormat, path: string, payload: Uint8Array, mode = 0o600): Promise<void> {
  await writeFileDurable(path, seal(format, payload), mode)
}

export function writeSealedSync (format: FileFormat, path: string, payload: Uint8Array, mode = 0o600): void {
  writeFileDurableSync(path, seal(format, payload), mode)
}

/**
 * A sealed file holding one JSON value: read, checked against `schema`;
 * undefined when the file does not exist. A payload that passes the
 * checksum but is not JSON or not the schema's (written by a buggy or
 * future release) is `CorruptFileError` too, naming `what`: the owner stops
 * rather than guess.
 */
export async function readSealedJson<T> (format: FileFormat, path: string, schema: ZodType<T>, what: string): Promise<T | undefined> {
  const read = await readSealed(format, path)
  if (read === undefined) return undefined
  let json: unknown
  try { json = JSON.parse(Buffer.from(read.payload).toString('utf8')) } catch { json = undefined }
  const parsed = schema.safeParse(json)
  if (!parsed.success) throw new CorruptFileError(path, `${what} is not a valid record`, format.recovery)
  return parsed.data
}

/** Write `value` as JSON in a sealed file, durably (`readSealedJson` reads it back). */
export async function writeSealedJson (format: FileFormat, path: string, value: unknown, mode = 0o600): Promise<void> {
  await writeSealed(format, path, Buffer.from(JSON.stringify(value)), mode)
}
