/**
 * Generators for the wire evolution property tests (docs/wire.md, rule 1): a
 * newer node's message is today's message plus fields today's release does
 * not know, and maybe the reserved trace context `tc`. Today's decoders must
 * accept it, verify it and pass it on byte for byte.
 *
 * MYCEL_PROPERTY_RUNS=n runs n cases per property (default 200); a failure
 * prints the seed and path to replay it with fast-check.
 */
import fc from 'fast-check'

export const PROPERTY_RUNS = Number(process.env.MYCEL_PROPERTY_RUNS ?? 200)

const hex = (n: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n })

/** A W3C traceparent, version 00. */
export const traceparent: fc.Arbitrary<string> = fc.tuple(hex(32), hex(16), hex(2)).map(([t, s, f]) => `00-${t}-${s}-${f}`)

/** Keys JavaScript treats specially among ordinary ones. */
const key = fc.oneof(
  fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', '', 'x-new', '日本'),
  fc.string({ maxLength: 12 })
)

/** Any value a newer node may put in a field that today's CBOR decoder reads (no big integers, NaN or infinities). */
export const cborValue: fc.Arbitrary<unknown> = fc.letrec(tie => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.maxSafeInteger(),
    // cborg writes -0 as the integer 0: a sender's -0 is a 0 on the wire, so no receiver could see it.
    fc.double({ noNaN: true, noDefaultInfinity: true }).map(x => Object.is(x, -0) ? 0 : x),
    fc.string({ maxLength: 16 }),
    fc.uint8Array({ maxLength: 16 }),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.uniqueArray(fc.tuple(key, tie('value')), { maxLength: 3, selector: ([k]) => k }).map(objectOf)
  )
})).value

/** Fields a newer release might add: names none of `known`, with any values, and `tc` half of the time. */
export function extraFields (known: readonly string[]): fc.Arbitrary<Array<[string, unknown]>> {
  const taken = new Set(known)
  const unknown = fc.uniqueArray(fc.tuple(key.filter(k => !taken.has(k) && k !== 'tc'), cborValue), { maxLength: 3, selector: ([k]) => k })
  return fc.tuple(unknown, fc.option(traceparent, { nil: undefined })).map(([fields, tc]) => tc === undefined ? fields : [...fields, ['tc', tc]])
}

/** `base` with `fields` added as own properties (`__proto__` included, as the CBOR decoder does). */
export function withFields<T extends object> (base: T, fields: Array<[string, unknown]>): T {
  const out: Record<string, unknown> = { ...base as Record<string, unknown> }
  for (const [k, v] of fields) Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true })
  return out as T
}

function objectOf (entries: Array<[string, unknown]>): Record<string, unknown> {
  return withFields({}, entries)
}

export function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
}
