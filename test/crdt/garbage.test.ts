/** Every decoder of network input, fed garbage: it may reject, never throw anything else, never apply. */
import assert from 'node:assert/strict'
import { decodeEnvelope } from '../../crdt/envelope.js'
import { checkUpdate } from '../../crdt/update-check.js'
import { DEFAULT_LIMITS } from '../../crdt/constants.js'
import { versionVectorSchema } from '../../crdt/version-vector.js'
import { decodeCbor, encodeCbor } from '../../wire/codec.js'
import { makeReplica } from './fixtures.js'
import { prng, randomBytes } from '../helpers/prng.js'

const WIRE_ERRORS = new Set(['MalformedMessageError', 'OversizedMessageError', 'UnsupportedVersionError'])

/** Flips, truncations and insertions of random bytes. */
function mutate (rand: () => number, src: Uint8Array): Uint8Array {
  const out = Uint8Array.from(src)
  const kind = rand()
  if (kind < 0.5) {
    for (let k = 0; k < 1 + rand() * 4; k++) out[Math.floor(rand() * out.length)] ^= 1 << Math.floor(rand() * 8)
    return out
  }
  if (kind < 0.75) return out.subarray(0, Math.floor(rand() * out.length))
  const cut = Math.floor(rand() * out.length)
  return Uint8Array.from([...out.subarray(0, cut), ...randomBytes(rand, 16), ...out.subarray(cut)])
}

describe('crdt decoders on garbage', function () {
  this.timeout(60_000)

  it('decodeEnvelope throws only wire errors', () => {
    const rand = prng(7)
    for (let i = 0; i < 3000; i++) {
      try {
        decodeEnvelope(randomBytes(rand, 300), 1000)
      } catch (err) {
        assert.ok(WIRE_ERRORS.has((err as Error).name), (err as Error).name)
      }
    }
  })

  it('checkUpdate throws only its own errors', () => {
    const rand = prng(8)
    for (let i = 0; i < 3000; i++) {
      try {
        checkUpdate(randomBytes(rand, 200), 1, DEFAULT_LIMITS)
      } catch (err) {
        assert.ok(['InvalidUpdateError', 'LimitExceededError'].includes((err as Error).name), `${(err as Error).name}: ${(err as Error).message}`)
      }
    }
    // Deep nesting must not blow the stack of anyone.
    const deep = new Uint8Array(100_000).fill(0x75) // lib0 'array of one' tags
    assert.throws(() => checkUpdate(deep, 1, DEFAULT_LIMITS), { name: 'InvalidUpdateError' })
  })

  it('version vectors from the network: garbage and hostile keys', () => {
    const rand = prng(9)
    for (let i = 0; i < 2000; i++) {
      try {
        decodeCbor(randomBytes(rand, 200), versionVectorSchema, 1000)
      } catch (err) {
        assert.ok(WIRE_ERRORS.has((err as Error).name))
      }
    }
    assert.throws(() => decodeCbor(encodeCbor({ app: { __proto__x: 1 } }), versionVectorSchema), { name: 'MalformedMessageError' })
    assert.throws(() => decodeCbor(encodeCbor({ app: { w: -1 } }), versionVectorSchema), { name: 'MalformedMessageError' })
  })

  it('ingest never throws and never applies a mutated envelope', async () => {
    const a = await makeReplica(1)
    const b = await makeReplica(2)
    const valid: Uint8Array[] = []
    for (let i = 0; i < 5; i++) valid.push((await a.replica.write('app', `k${i}`, { i, s: 'text' }))!.bytes)
    for (const v of valid) assert.equal((await b.replica.ingest(v, 'sync')).result, 'applied')
    const before = b.counters.applied
    const rand = prng(10)
    for (let i = 0; i < 3000; i++) {
      const input = rand() < 0.3 ? randomBytes(rand, 400) : mutate(rand, valid[Math.floor(rand() * valid.length)])
      const r = await b.replica.ingest(input, rand() < 0.5 ? 'gossip' : 'sync')
      assert.ok(r.result === 'rejected' || r.result === 'duplicate', `unexpected ${r.result}`)
    }
    assert.equal(b.counters.applied, before)
    assert.deepEqual(b.replica.entries('app').map(([k]) => k), ['k0', 'k1', 'k2', 'k3', 'k4'])
  })
})
