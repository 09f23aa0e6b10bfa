/**
 * CRC-32 (IEEE 802.3, the zlib/PNG polynomial) over bytes: the checksum of
 * every durable record. zlib's native implementation is used (Node.js ≥
 * 20.15); it detects every burst error up to 32 bits, so any single damaged
 * byte, and misses a random corruption with probability 2^-32. That is what
 * a checksum on a local file is for (disk, file system or operator damage),
 * not an adversary: nothing here is a signature.
 */
import * as zlib from 'node:zlib'

type Crc32 = (data: Uint8Array | string, value?: number) => number

const native = (zlib as unknown as { crc32?: Crc32 }).crc32
if (typeof native !== 'function') {
  throw new Error(`mycel needs Node.js 20.15 or later (zlib.crc32); this is ${process.version}`)
}
const impl: Crc32 = native

/** CRC-32 of `data`, continuing from `value` (0 to start). */
export function crc32 (data: Uint8Array, value = 0): number {
  return impl(data, value)
}
