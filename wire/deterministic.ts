/**
 * Is this CBOR the deterministic encoding `encodeCbor` gives of its value?
 * `decodeSigned` needs the answer for every signed body it accepts (a body
 * re-encoded by a relay must give back the bytes that were signed).
 * Re-encoding and comparing answers it too, but cborg's RFC 8949 map sorting
 * encodes every key again for each comparison: that costs 3 to 15 times the
 * decode itself. This is one pass over the bytes instead.
 *
 * What encodeCbor (cborg with RFC 8949 options) writes, and so what is checked here: definite lengths;
 * integers and lengths in their shortest form; map keys in RFC 8949 order
 * (bytewise on their encodings); valid UTF-8 text (a lossy decode would
 * re-encode differently); a float only where the number is not a safe
 * integer, in the width encodeCbor picks; false, true, null. Anything else
 * (tags, undefined, other simple values) is not deterministic here.
 * test/wire/evolution.test.ts checks it against re-encoding.
 */
import { decode, encode, rfc8949EncodeOptions } from 'cborg'

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** Thrown inside the walk; never leaves this file. */
class NotDeterministic extends Error {}

export function isDeterministic (data: Uint8Array): boolean {
  try {
    return item(data, 0) === data.byteLength
  } catch {
    return false
  }
}

/** Offset just past the data item at `pos`. */
function item (d: Uint8Array, pos: number): number {
  if (pos >= d.byteLength) throw new NotDeterministic('truncated')
  const major = d[pos] >> 5
  const info = d[pos] & 31
  if (major === 7) return simple(d, pos, info)
  const [n, start] = argument(d, pos, info)
  switch (major) {
    case 0: case 1: return start
    case 2: return within(d, start + n)
    case 3: {
      const end = within(d, start + n)
      utf8.decode(d.subarray(start, end))
      return end
    }
    case 4: {
      let p = start
      for (let i = 0; i < n; i++) p = item(d, p)
      return p
    }
    case 5: {
      let p = start
      let prevStart = -1
      let prevEnd = -1
      for (let i = 0; i < n; i++) {
        const keyEnd = item(d, p)
        if (prevStart >= 0 && compare(d, prevStart, prevEnd, d, p, keyEnd) >= 0) throw new NotDeterministic('map keys out of order')
        prevStart = p
        prevEnd = keyEnd
        p = item(d, keyEnd)
      }
      return p
    }
    default: throw new NotDeterministic(`major type ${major}`)
  }
}

/** The argument (value or length) of the head at `pos`, in its shortest form, and where the content starts. */
function argument (d: Uint8Array, pos: number, info: number): [number, number] {
  let n: number
  let next: number
  if (info < 24) return [info, pos + 1]
  if (info === 24) {
    n = d[within(d, pos + 2) - 1]
    next = pos + 2
    if (n < 24) throw new NotDeterministic('long head')
  } else if (info === 25) {
    within(d, pos + 3)
    n = (d[pos + 1] << 8) | d[pos + 2]
    next = pos + 3
    if (n <= 0xff) throw new NotDeterministic('long head')
  } else if (info === 26) {
    within(d, pos + 5)
    n = ((d[pos + 1] << 24) >>> 0) + ((d[pos + 2] << 16) | (d[pos + 3] << 8) | d[pos + 4])
    next = pos + 5
    if (n <= 0xffff) throw new NotDeterministic('long head')
  } else if (info === 27) {
    within(d, pos + 9)
    const hi = ((d[pos + 1] << 24) >>> 0) + ((d[pos + 2] << 16) | (d[pos + 3] << 8) | d[pos + 4])
    const lo = ((d[pos + 5] << 24) >>> 0) + ((d[pos + 6] << 16) | (d[pos + 7] << 8) | d[pos + 8])
    n = hi * 0x1_0000_0000 + lo
    next = pos + 9
    if (hi === 0 || n > Number.MAX_SAFE_INTEGER) throw new NotDeterministic('long head or unsafe integer')
  } else {
    throw new NotDeterministic('indefinite length or reserved head')
  }
  return [n, next]
}

function simple (d: Uint8Array, pos: number, info: number): number {
  if (info === 20 || info === 21 || info === 22) return pos + 1
  const width = info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0
  if (width === 0) throw new NotDeterministic(`simple value ${info}`)
  const end = within(d, pos + 1 + width)
  // Floats are rare in our messages: compare with what encodeCbor (these
  // options) writes for the number, an integer where it is one.
  const float = d.subarray(pos, end)
  const again = encode(decode(float), rfc8949EncodeOptions)
  if (compare(again, 0, again.byteLength, float, 0, float.byteLength) !== 0) throw new NotDeterministic('float not in its deterministic form')
  return end
}

function within (d: Uint8Array, end: number): number {
  if (end > d.byteLength) throw new NotDeterministic('truncated')
  return end
}

/** Bytewise order of a[a0, a1) and b[b0, b1): the RFC 8949 order of two encoded keys. */
function compare (a: Uint8Array, a0: number, a1: number, b: Uint8Array, b0: number, b1: number): number {
  const la = a1 - a0
  const lb = b1 - b0
  for (let i = 0; i < Math.min(la, lb); i++) {
    const x = a[a0 + i] - b[b0 + i]
    if (x !== 0) return x
  }
  return la - lb
}
