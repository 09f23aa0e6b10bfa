/**
 * docs/wire.md rule 1 at the codec: a newer node's signed body (today's
 * fields plus unknown ones and the reserved trace context `tc`) is accepted,
 * verifies over the bytes received, and re-encodes to exactly those bytes;
 * an unsigned frame ignores what it does not know and carries `tc`.
 */
import { expect } from 'chai'
import fc from 'fast-check'
import { z } from 'zod'
import { encode } from 'cborg'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { bytes, decodeCbor, decodeSigned, encodeCbor } from '../../wire/codec.js'
import { signPayload, verifyPayload } from '../../wire/signing.js'
import { isDeterministic } from '../../wire/deterministic.js'
import { MAX_TRACE_CONTEXT_CHARS, traced } from '../../wire/trace-context.js'
import { prng, randomBytes, mutate } from '../helpers/prng.js'
import { cborValue, extraFields, PROPERTY_RUNS, sameBytes, traceparent, withFields } from '../helpers/wire-evolution.js'

const WIRE_ERRORS = ['MalformedMessageError', 'OversizedMessageError', 'UnsupportedVersionError']
const body = z.object({ v: z.literal(1), name: z.string().max(10), data: bytes(8), n: z.number().int(), ...traced })
const KNOWN = ['v', 'name', 'data', 'n']
const today = { v: 1 as const, name: 'abc', data: new Uint8Array([1, 2, 3]), n: 7 }

const errorName = (f: () => unknown): string => {
  try { f() } catch (err) { return (err as Error).name }
  return 'none'
}

describe('wire evolution: signed bodies (decodeSigned)', () => {
  it('accepts, verifies and re-encodes byte-identically a body with unknown fields and tc (property)', async () => {
    const key = await generateKeyPair('Ed25519')
    const signer = peerIdFromPrivateKey(key).toString()
    await fc.assert(fc.asyncProperty(extraFields(KNOWN), async (extra) => {
      const received = encodeCbor(withFields(today, extra))
      const sig = await signPayload(key, 'test', received)
      const decoded = decodeSigned(received, body, 4096)
      // Known fields read as today; unknown ones kept on the value.
      expect(decoded.name).to.equal('abc')
      expect(decoded.n).to.equal(7)
      for (const [k] of extra) expect(Object.hasOwn(decoded, k), k).to.equal(true)
      expect(decoded.tc).to.equal(extra.find(([k]) => k === 'tc')?.[1])
      // What a relay sends on is what the signer signed.
      const relayed = encodeCbor(decoded)
      expect(sameBytes(relayed, received)).to.equal(true)
      await verifyPayload(signer, 'test', relayed, sig)
    }), { numRuns: PROPERTY_RUNS })
  })

  it('dropping what it does not know would break the signature (the test can fail)', async () => {
    const key = await generateKeyPair('Ed25519')
    const received = encodeCbor({ ...today, future: [1, 'x'] })
    const sig = await signPayload(key, 'test', received)
    const stripped = encodeCbor(decodeCbor(received, body))
    expect(sameBytes(stripped, received)).to.equal(false)
    expect(await verifyPayload(peerIdFromPrivateKey(key).toString(), 'test', stripped, sig).then(() => 'ok', (err: Error) => err.name)).to.equal('InvalidSignatureError')
  })

  it('rejects any encoding but the deterministic one', () => {
    // Map keys out of the RFC 8949 order.
    const unsorted = encode({ name: 'abc', data: new Uint8Array([1]), v: 1, n: 7 }, { mapSorter: () => 0 })
    expect(errorName(() => decodeSigned(unsorted, body))).to.equal('MalformedMessageError')
    expect(errorName(() => decodeCbor(unsorted, body))).to.equal('none')
    // A float wider than it needs to be.
    const wide = encode({ ...today, future: 1.5 }, { float64: true })
    expect(errorName(() => decodeSigned(wide, body))).to.equal('MalformedMessageError')
    expect(errorName(() => decodeSigned(encodeCbor({ ...today, future: 1.5 }), body))).to.equal('none')
  })

  it('still checks the known fields, the version and the byte limit', () => {
    expect(errorName(() => decodeSigned(encodeCbor({ ...today, n: 'x', future: 1 }), body))).to.equal('MalformedMessageError')
    expect(errorName(() => decodeSigned(encodeCbor({ ...today, v: 2, future: 1 }), body))).to.equal('UnsupportedVersionError')
    expect(errorName(() => decodeSigned(encodeCbor({ ...today, future: new Uint8Array(100) }), body, 64))).to.equal('OversizedMessageError')
    expect(errorName(() => decodeSigned(encodeCbor({ ...today, tc: 7 }), body))).to.equal('MalformedMessageError')
    expect(errorName(() => decodeSigned(encodeCbor({ ...today, tc: 'x'.repeat(MAX_TRACE_CONTEXT_CHARS + 1) }), body))).to.equal('MalformedMessageError')
  })

  it('keeps __proto__ as a plain field, never as a prototype', () => {
    const received = encodeCbor(withFields(today, [['__proto__', { polluted: true }]]))
    const decoded = decodeSigned(received, body) as unknown as Record<string, unknown>
    expect(Object.getPrototypeOf(decoded)).to.equal(Object.prototype)
    expect(({} as Record<string, unknown>).polluted).to.equal(undefined)
    expect(sameBytes(encodeCbor(decoded), received)).to.equal(true)
  })

  it('throws only named wire errors on 20,000 random and mutated inputs', () => {
    const rand = prng(43)
    const valid = encodeCbor({ ...today, tc: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', future: { a: [1, 2] } })
    expect(errorName(() => decodeSigned(valid, body, 1024))).to.equal('none')
    let rejected = 0
    for (let i = 0; i < 20_000; i++) {
      const input = i % 2 === 0 ? randomBytes(rand, 64) : mutate(rand, valid)
      try {
        decodeSigned(input, body, 1024)
      } catch (err) {
        expect(WIRE_ERRORS).to.include((err as Error).name)
        rejected++
      }
    }
    expect(rejected).to.be.greaterThan(10_000)
  })
})

describe('wire evolution: the deterministic-encoding check', () => {
  /** The check's answer must be the one re-encoding gives, on everything the CBOR decoder accepts. */
  const agrees = (data: Uint8Array): boolean => {
    let raw: unknown
    try { raw = decodeCbor(data, z.unknown()) } catch { return true }
    return isDeterministic(data) === sameBytes(encodeCbor(raw), data)
  }

  it('agrees with re-encoding on generated values, encoded deterministically or not (property)', () => {
    fc.assert(fc.property(cborValue, fc.boolean(), fc.boolean(), (value, wide, unsorted) => {
      const data = encode(value, { ...(wide ? { float64: true } : {}), ...(unsorted ? { mapSorter: () => 0 } : {}) })
      expect(agrees(data)).to.equal(true)
      expect(isDeterministic(encodeCbor(value))).to.equal(true)
    }), { numRuns: PROPERTY_RUNS * 5 })
  })

  it('agrees with re-encoding on 30,000 random and mutated inputs', () => {
    const rand = prng(44)
    const valid = [
      encodeCbor({ ...today, tc: 'x', future: { a: [1, -2, 1.5, -0, null, true, 'é'], b: new Uint8Array(30), '': 2 ** 40 } }),
      encodeCbor([0.1, 65536, -65537, 'x'.repeat(300), new Uint8Array(70000).subarray(0, 300)])
    ]
    let decodable = 0
    for (let i = 0; i < 30_000; i++) {
      const input = i % 3 === 0 ? randomBytes(rand, 48) : mutate(rand, valid[i % 2])
      expect(agrees(input), Buffer.from(input).toString('hex')).to.equal(true)
      try { decodeCbor(input, z.unknown()); decodable++ } catch {}
    }
    expect(decodable).to.be.greaterThan(1000)
  })
})

describe('wire evolution: unsigned frames (decodeCbor)', () => {
  it('ignores unknown fields and carries tc (property)', () => {
    fc.assert(fc.property(extraFields(KNOWN), fc.option(traceparent, { nil: undefined }), (extra, tc) => {
      const fields = extra.filter(([k]) => k !== 'tc')
      const frame = decodeCbor(encodeCbor(withFields(tc === undefined ? today : { ...today, tc }, fields)), body, 4096)
      expect(Object.keys(frame).sort()).to.deep.equal([...KNOWN, ...(tc === undefined ? [] : ['tc'])].sort())
      expect(frame.tc).to.equal(tc)
    }), { numRuns: PROPERTY_RUNS })
  })
})
