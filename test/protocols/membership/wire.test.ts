/**
 * Membership wire format: signatures bind updates to their originators, a
 * newer node's update is verified and passed on intact, and every decoder
 * survives garbage (random bytes, random CBOR, bit-flipped valid messages)
 * throwing only the named wire errors.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import fc from 'fast-check'
import { encode as cborEncode } from 'cborg'
import { encodeCbor } from '../../../wire/codec.js'
import { decoders, signUpdate, verifyUpdate, type AliveBody, type SuspectBody, type LeftBody, type Update, type UpdateBody } from '../../../protocols/membership/messages.js'
import { membershipConfig } from '../../../protocols/membership/constants.js'
import { prng } from '../../helpers/prng.js'
import { extraFields, PROPERTY_RUNS, sameBytes, withFields } from '../../helpers/wire-evolution.js'

const WIRE_ERRORS = new Set(['MalformedMessageError', 'OversizedMessageError', 'UnsupportedVersionError'])
const codec = decoders(membershipConfig('test'))

function randomValue (rnd: () => number, depth = 0): unknown {
  const pick = Math.floor(rnd() * (depth > 3 ? 5 : 8))
  switch (pick) {
    case 0: return Math.floor(rnd() * 2 ** 40) * (rnd() < 0.2 ? -1 : 1)
    case 1: return ['v', 't', 'ping', 'ack', 'alive', 'full', 'digest', 'x'.repeat(Math.floor(rnd() * 300))][Math.floor(rnd() * 8)]
    case 2: return rnd() < 0.5
    case 3: return null
    case 4: return new Uint8Array(Math.floor(rnd() * 80))
    case 5: return Array.from({ length: Math.floor(rnd() * 5) }, () => randomValue(rnd, depth + 1))
    default: {
      const keys = ['v', 't', 'seq', 'u', 'b', 's', 'id', 'inc', 'd', 'join', 'target', 'timeoutMs', 'ok', 'refused', 'same']
      const o: Record<string, unknown> = {}
      for (let i = 0; i < Math.floor(rnd() * 6); i++) o[keys[Math.floor(rnd() * keys.length)]] = randomValue(rnd, depth + 1)
      if (rnd() < 0.6) o.v = 1
      return o
    }
  }
}

const ALL = Object.entries(codec) as Array<[string, (d: any) => unknown]>

function feed (name: string, fn: (d: any) => unknown, input: Uint8Array): void {
  try {
    fn(name === 'body' ? { b: input, s: new Uint8Array(64) } : input)
  } catch (err) {
    if (!WIRE_ERRORS.has((err as Error).name)) {
      throw new Error(`decoder ${name} threw ${(err as Error).name}: ${(err as Error).message} on ${Buffer.from(input).toString('hex').slice(0, 200)}`)
    }
  }
}

describe('membership wire format', () => {
  let keyA: PrivateKey, keyB: PrivateKey, idA: string, idB: string
  before(async () => {
    keyA = await generateKeyPair('Ed25519')
    keyB = await generateKeyPair('Ed25519')
    idA = peerIdFromPrivateKey(keyA).toString()
    idB = peerIdFromPrivateKey(keyB).toString()
  })

  const aliveOf = (id: string, inc = 1): AliveBody => ({ v: 1, t: 'alive', id, inc, region: 'r', roles: ['network'], addrs: ['/ip4/127.0.0.1/tcp/4001'], ver: '0.1.0', ts: 1 })

  describe('signatures', () => {
    it('accepts an alive record signed by its subject and round-trips it', async () => {
      const u = await signUpdate(keyA, aliveOf(idA))
      const body = codec.body(u.raw)
      assert.deepEqual(body, u.body)
      await verifyUpdate(body, u.raw)
    })

    it('rejects an alive or left record about A signed by B', async () => {
      for (const body of [aliveOf(idA), { v: 1, t: 'left', id: idA, inc: 1, ts: 1 } satisfies LeftBody]) {
        const forged = await signUpdate(keyB, body)
        await assert.rejects(verifyUpdate(forged.body, forged.raw), { name: 'InvalidSignatureError' })
      }
    })

    it('binds a suspicion to its accuser', async () => {
      const body: SuspectBody = { v: 1, t: 'suspect', id: idA, inc: 1, from: idB, ts: 1, refused: false }
      await verifyUpdate(body, (await signUpdate(keyB, body)).raw)
      const forged = await signUpdate(keyA, body)
      await assert.rejects(verifyUpdate(forged.body, forged.raw), { name: 'InvalidSignatureError' })
    })

    it('rejects a tampered body and a non-peer-id signer', async () => {
      const u = await signUpdate(keyA, aliveOf(idA, 3))
      const tampered: Update = { body: { ...u.body, inc: 4 }, raw: { b: encodeCbor({ ...u.body, inc: 4 }), s: u.raw.s } }
      await assert.rejects(verifyUpdate(tampered.body, tampered.raw), { name: 'InvalidSignatureError' })
      const bogus = aliveOf('not-a-peer-id')
      await assert.rejects(verifyUpdate(bogus, { b: encodeCbor(bogus), s: new Uint8Array(64) }), { name: 'InvalidSignatureError' })
    })

    it('rejects a wrong version', () => {
      assert.throws(() => codec.body({ b: encodeCbor({ ...aliveOf('x'), v: 2 }), s: new Uint8Array(64) }), { name: 'MalformedMessageError' })
      assert.throws(() => codec.ping(encodeCbor({ v: 2, t: 'ping', seq: 1, u: [] })), { name: 'UnsupportedVersionError' })
    })

    it('rejects oversized frames before parsing', () => {
      assert.throws(() => codec.ping(new Uint8Array(membershipConfig('test').maxProbeBytes + 1)), { name: 'OversizedMessageError' })
    })
  })

  describe('evolution (docs/wire.md rule 1)', () => {
    const bodies = (): UpdateBody[] => [
      aliveOf(idA),
      { v: 1, t: 'left', id: idA, inc: 2, ts: 1 },
      { v: 1, t: 'suspect', id: idB, inc: 1, from: idA, ts: 1, refused: false },
      { v: 1, t: 'dead', id: idB, inc: 1, from: idA, ts: 1 }
    ]

    it('a newer node\'s update (unknown fields, tc) verifies and is relayed byte-identical, piggybacked and gossiped (property)', async () => {
      await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: 3 }), extraFields(['v', 't', 'id', 'inc', 'region', 'roles', 'addrs', 'ver', 'ts', 'from', 'refused']), async (kind, extra) => {
        const newer = await signUpdate(keyA, withFields(bodies()[kind], extra))
        // Received piggybacked on a ping from the newer node.
        const ping = codec.ping(encodeCbor({ v: 1, t: 'ping', seq: 1, u: [newer.raw], tc: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' }))
        const body = codec.body(ping.u[0])
        await verifyUpdate(body, ping.u[0])
        assert.equal(body.t, bodies()[kind].t)
        for (const [k, v] of extra) assert.deepEqual((body as unknown as Record<string, unknown>)[k], v)
        // Passed on in our own ack, and on gossip: the signed bytes are untouched.
        const ack = codec.ack(encodeCbor({ v: 1, t: 'ack', seq: 1, u: ping.u }))
        assert.ok(sameBytes(ack.u[0].b, newer.raw.b) && sameBytes(ack.u[0].s, newer.raw.s))
        const gossiped = codec.gossip(encodeCbor(ping.u[0]))
        await verifyUpdate(codec.body(gossiped), gossiped)
        assert.ok(sameBytes(gossiped.b, newer.raw.b))
      }), { numRuns: PROPERTY_RUNS })
    })

    it('frames carry tc and ignore unknown fields, the {b, s} wrapper included', async () => {
      const u = await signUpdate(keyA, aliveOf(idA))
      const tc = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'
      assert.equal(codec.probeReq(encodeCbor({ v: 1, t: 'preq', seq: 1, target: idA, timeoutMs: 100, tc, later: [1] })).tc, tc)
      assert.equal(codec.ppRequest(encodeCbor({ v: 1, t: 'digest', d: new Uint8Array(32), tc })).tc, tc)
      const gossiped = codec.gossip(encodeCbor({ ...u.raw, later: 'x' }))
      assert.deepEqual(Object.keys(gossiped).sort(), ['b', 's'])
    })

    it('rejects a body that is not in the deterministic encoding its signature needs', async () => {
      const u = await signUpdate(keyA, aliveOf(idA))
      const unsorted = cborEncode({ ...aliveOf(idA) }, { mapSorter: () => 0 })
      assert.throws(() => codec.body({ b: unsorted, s: u.raw.s }), { name: 'MalformedMessageError' })
    })
  })

  describe('decoders fed garbage', function () {
    this.timeout(60_000)

    it('random bytes (3000 per decoder)', () => {
      const rnd = prng(1)
      for (const [name, fn] of ALL) {
        for (let i = 0; i < 3000; i++) {
          const len = Math.floor(rnd() * (i % 10 === 0 ? 2048 : 64))
          const buf = new Uint8Array(len)
          for (let j = 0; j < len; j++) buf[j] = Math.floor(rnd() * 256)
          feed(name, fn, buf)
        }
      }
    })

    it('random well-formed CBOR of the wrong shape (2000 per decoder)', () => {
      const rnd = prng(2)
      for (const [name, fn] of ALL) {
        for (let i = 0; i < 2000; i++) feed(name, fn, encodeCbor(randomValue(rnd)))
      }
    })

    it('bit flips and truncations of valid messages (2000 each)', async () => {
      const rnd = prng(3)
      const u = await signUpdate(keyA, aliveOf(idA))
      const samples: Array<[string, Uint8Array]> = [
        ['ping', encodeCbor({ v: 1, t: 'ping', seq: 7, u: [u.raw] })],
        ['ack', encodeCbor({ v: 1, t: 'ack', seq: 7, u: [u.raw, u.raw] })],
        ['probeReq', encodeCbor({ v: 1, t: 'preq', seq: 1, target: idA, timeoutMs: 100 })],
        ['probeRes', encodeCbor({ v: 1, t: 'pres', seq: 1, ok: false, refused: true })],
        ['ppRequest', encodeCbor({ v: 1, t: 'full', join: true, u: [u.raw] })],
        ['ppRequest', encodeCbor({ v: 1, t: 'digest', d: randomBytes(32) })],
        ['ppDigestRes', encodeCbor({ v: 1, t: 'digest-res', same: true })],
        ['ppFull', encodeCbor({ v: 1, t: 'full', join: false, u: [u.raw] })],
        ['gossip', encodeCbor(u.raw)],
        ['body', u.raw.b]
      ]
      for (const [name, valid] of samples) {
        const fn = (codec as unknown as Record<string, (d: any) => unknown>)[name]
        feed(name, fn, valid)
        for (let i = 0; i < 2000; i++) {
          const buf = valid.slice(0, rnd() < 0.2 ? Math.floor(rnd() * valid.length) : valid.length)
          const flips = 1 + Math.floor(rnd() * 4)
          for (let f = 0; f < flips && buf.length > 0; f++) buf[Math.floor(rnd() * buf.length)] ^= 1 << Math.floor(rnd() * 8)
          feed(name, fn, buf)
        }
      }
    })

    it('decodes valid messages (so the fuzz is not vacuous)', async () => {
      const u = await signUpdate(keyA, aliveOf(idA))
      assert.equal(codec.ping(encodeCbor({ v: 1, t: 'ping', seq: 7, u: [u.raw] })).u.length, 1)
      assert.equal(codec.ppRequest(encodeCbor({ v: 1, t: 'digest', d: new Uint8Array(32) })).t, 'digest')
      assert.equal(codec.probeRes(encodeCbor({ v: 1, t: 'pres', seq: 1, ok: true, refused: false })).ok, true)
    })
  })
})
