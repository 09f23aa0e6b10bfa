/**
 * What every durable file of mycel starts with: 8 ASCII bytes naming the
 * kind of file and the version of its layout (`MYCEL` + two letters for
 * the kind + one digit for the version, e.g. `MYCELBW1` for the BFT WAL).
 * A reader that finds another header refuses the file with a message that
 * says what it expected, instead of misreading it.
 */
import { CorruptFileError } from './errors.js'

/** Length of the header, bytes. */
export const MAGIC_BYTES = 8

/**
 * A header with at most this many wrong bytes is a damaged header of this
 * format (refused as corrupt), not a file of an older format (read by the
 * owner's legacy reader). Old layouts start with binary lengths or JSON,
 * far more than two bytes away from any `MYCEL…` header.
 */
const DAMAGED_HEADER_MAX_DIFF = 2

export interface FileFormat {
  /** 8 ASCII bytes: `MYCEL` + kind (2 letters) + version digit. */
  magic: string
  /** What the file is, for messages: "config log", "BFT WAL". */
  name: string
  /** What an operator does when this file is corrupt; shown in logs and /readyz. */
  recovery: string
}

export function magicOf (format: FileFormat): Buffer {
  const m = Buffer.from(format.magic, 'latin1')
  if (m.length !== MAGIC_BYTES || !/^MYCEL[A-Z]{2}[0-9]$/.test(format.magic)) throw new Error(`bad file magic ${JSON.stringify(format.magic)}`)
  return m
}

export function hasMagic (data: Uint8Array, format: FileFormat): boolean {
  return data.byteLength >= MAGIC_BYTES && Buffer.from(data.buffer, data.byteOffset, MAGIC_BYTES).equals(magicOf(format))
}

/** The first bytes are this format's header with a few bytes changed: damage, not another format. */
export function damagedMagic (data: Uint8Array, format: FileFormat): boolean {
  if (data.byteLength < MAGIC_BYTES) return false
  const m = magicOf(format)
  let diff = 0
  for (let i = 0; i < MAGIC_BYTES; i++) if (data[i] !== m[i]) diff++
  return diff <= DAMAGED_HEADER_MAX_DIFF
}

/** The error for a file whose header is neither this format nor an older one its owner reads. */
export function unknownHeader (path: string, data: Uint8Array, format: FileFormat): CorruptFileError {
  const head = Buffer.from(data.subarray(0, MAGIC_BYTES))
  const shown = /^[\x20-\x7e]*$/.test(head.toString('latin1')) ? JSON.stringify(head.toString('latin1')) : `0x${head.toString('hex')}`
  return new CorruptFileError(path, `not a ${format.name} (header ${shown}, expected "${format.magic}")`, format.recovery)
}
