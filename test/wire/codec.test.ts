import { expect } from 'chai'
import { z } from 'zod'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { bytes, decodeCbor, encodeCbor } from '../../wire/codec.js'
import fc from 'fast-check'
import { signPayload, verifyPayload, verifyPayloadSync } from '../../wire/signing.js'
import { prng, randomBytes, mutate } from '../helpers/prng.js'
import { PROPERTY_RUNS } from '../helpers/wire-evolution.js'

const WIRE_ERRORS = ['MalformedMessageError', 'OversizedMessageError', 'UnsupportedVersionError']
const schema = z.object({ v: z.literal(1), name: z.string().max(10), data: bytes(8), n: z.number().int() }).strict()

describe('wire codec', () => {
  it('round-trips a message and encodes deterministically', () => {
    const msg = { v: 1 as const, name: 'a', data: new Uint8Array([1, 2]), n: 3 }
    const a = encodeCbor(msg)
    const b = encodeCbor({ n: 3, data: new Uint8Array([1, 2]), name: 'a', v: 1 })
    expect(Buffer.from(a).equals(Buffer.from(b))).to.equal(true)
    const back = decodeCbor(a, schema)
    expect(back.name).to.equal('a')
    expect(Array.from(back.data)).to.deep.equal([1, 2])
  })

  it('rejects another version with UnsupportedVersionError', () => {
    const data = encodeCbor({ v: 2, name: 'a', data: new Uint8Array(), n: 1 })
    expect(() => decodeCbor(data, schema)).to.throw().with.property('name', 'UnsupportedVersionError')
  })

  it('rejects oversized input before decoding', () => {
    expect(() => decodeCbor(new Uint8Array(100), schema, 10)).to.throw().with.property('name', 'OversizedMessageError')
  })

  it('rejects unknown fields and wrong types', () => {
    expect(() => decodeCbor(encodeCbor({ v: 1, name: 'a', data: new Uint8Array(), n: 1, extra: 1 }), schema)).to.throw().with.property('name', 'MalformedMessageError')
    expect(() => decodeCbor(encodeCbor({ v: 1, name: 5, data: new Uint8Array(), n: 1 }), schema)).to.throw().with.property('name', 'MalformedMessageError')
    expect(() => decodeCbor(encodeCbor({ v: 1, name: 'a', data: new Uint8Array(9), n: 1 }), schema)).to.throw().with.property('name', 'MalformedMessageError')
  })

  it('throws only named wire errors on 20,000 random and mutated inputs', () => {
    const rand = prng(42)
    const valid = encodeCbor({ v: 1, name: 'abc', data: new Uint8Array([1, 2, 3]), n: 7 })
    let rejected = 0
    for (let i = 0; i < 20_000; i++) {
      const input = i % 2 === 0 ? randomBytes(rand, 64) : mutate(rand, valid)
      try {
        decodeCbor(input, schema, 1024)
      } catch (err) {
        expect(WIRE_ERRORS).to.include((err as Error).name)
        rejected++
      }
    }
    expect(rejected).to.be.greaterThan(10_000)
  })
})

describe('wire signing', () => {
  it('verifies a good signature and rejects tampering, other domains and other signers', async () => {
    const key = await generateKeyPair('Ed25519')
    const other = await generateKeyPair('Ed25519')
    const id = peerIdFromPrivateKey(key).toString()
    const payload = new Uint8Array([1, 2, 3])
    const sig = await signPayload(key, 'test', payload)
    await verifyPayload(id, 'test', payload, sig)
    const bad = async (p: Promise<void>): Promise<void> => {
      let name = ''
      try { await p } catch (err) { name = (err as Error).name }
      expect(name).to.equal('InvalidSignatureError')
    }
    await bad(verifyPayload(id, 'other-domain', payload, sig))
    await bad(verifyPayload(id, 'test', new Uint8Array([1, 2, 4]), sig))
    await bad(verifyPayload(peerIdFromPrivateKey(other).toString(), 'test', payload, sig))
    await bad(verifyPayload('not-a-peer-id', 'test', payload, sig))
    await bad(verifyPayload(id, 'test', payload, new Uint8Array(3)))
  })
})

describe('wire signing, synchronous', () => {
  it('verifyPayloadSync agrees with verifyPayload on good signatures and on any mutated byte of payload or signature (fast-check)', async () => {
    const key = await generateKeyPair('Ed25519')
    const other = await generateKeyPair('Ed25519')
    const id = peerIdFromPrivateKey(key).toString()
    const outcome = (f: () => void): string => { try { f(); return 'ok' } catch (err) { return (err as Error).name } }
    const outcomeAsync = async (p: Promise<void>): Promise<string> => { try { await p; return 'ok' } catch (err) { return (err as Error).name } }
    await fc.assert(fc.asyncProperty(
      fc.uint8Array({ maxLength: 200 }), fc.boolean(), fc.nat(), fc.integer({ min: 1, max: 255 }), fc.constantFrom('payload', 'sig', 'none', 'signer'),
      async (payload, signOther, at, flip, what) => {
        const sig = await signPayload(signOther ? other : key, 'test', payload)
        const p = Uint8Array.from(payload)
        const s = Uint8Array.from(sig)
        if (what === 'payload' && p.byteLength > 0) p[at % p.byteLength] ^= flip
        if (what === 'sig') s[at % s.byteLength] ^= flip
        const signer = what === 'signer' ? 'not-a-peer-id' : id
        const sync = outcome(() => { verifyPayloadSync(signer, 'test', p, s) })
        expect(sync).to.equal(await outcomeAsync(verifyPayload(signer, 'test', p, s)))
        const untouched = !signOther && (what === 'none' || (what === 'payload' && p.byteLength === 0))
        expect(sync).to.equal(untouched ? 'ok' : 'InvalidSignatureError')
      }), { numRuns: PROPERTY_RUNS })
    expect(() => { verifyPayloadSync(id, 'test', new Uint8Array(1), new Uint8Array(3)) }).to.throw().with.property('name', 'InvalidSignatureError')
  })
})
