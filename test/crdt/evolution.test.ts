/**
 * docs/wire.md rule 1 for config envelopes: an envelope from a newer writer
 * (fields this release does not know, the trace context `tc`) is verified
 * over every field it carries, applied, stored, and served on to the next
 * replica byte for byte; a relay that changes any of those fields breaks it.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { decodeEnvelope, encodeEnvelope, signEnvelope, type Envelope, type EnvelopeFields } from '../../crdt/envelope.js'
import { DEFAULT_LIMITS } from '../../crdt/constants.js'
import { encodeCbor } from '../../wire/codec.js'
import { extraFields, PROPERTY_RUNS, sameBytes, withFields } from '../helpers/wire-evolution.js'
import { makeReplica } from './fixtures.js'

const KNOWN = ['v', 'writer', 'seq', 'ns', 'update', 'time', 'sig']

/** Re-sign `env` as a newer release of its writer would have written it, with `extra` fields. */
async function newer (env: Envelope, extra: Array<[string, unknown]>, key: Parameters<typeof signEnvelope>[0]): Promise<Uint8Array> {
  const { sig: _sig, ...fields } = env
  return encodeEnvelope(await signEnvelope(key, withFields<EnvelopeFields>(fields, extra)))
}

describe('crdt: wire evolution of envelopes', () => {
  it('a newer writer\'s envelope is applied, stored and served on byte-identical (property)', async () => {
    await fc.assert(fc.asyncProperty(extraFields(KNOWN), async (extra) => {
      const a = await makeReplica(1)
      const b = await makeReplica(2)
      const c = await makeReplica(3)
      const w = await a.replica.write('app', 'port', 8080)
      assert.ok(w !== undefined)
      const data = await newer(w.envelope, extra, a.id.privateKey)
      fc.pre(data.byteLength <= DEFAULT_LIMITS.maxEnvelopeBytes)
      const got = await b.replica.ingest(data, 'gossip')
      assert.equal(got.result, 'applied', JSON.stringify(got.result === 'rejected' ? got.reason : ''))
      assert.equal(b.replica.get('app', 'port')?.value, 8080)
      // Anti-entropy serves what b stored: the bytes the writer signed.
      const served = b.replica.missing({}, 10, 1 << 20).envelopes
      assert.equal(served.length, 1)
      assert.ok(sameBytes(served[0], data))
      assert.equal((await c.replica.ingest(served[0], 'sync')).result, 'applied')
      // And b's own log replays it with every field.
      const d = await makeReplica(4)
      d.replica.restore(served[0], true)
      assert.equal(d.replica.get('app', 'port')?.value, 8080)
    }), { numRuns: Math.min(PROPERTY_RUNS, 100) })
  })

  it('the signature covers the unknown fields: changing one is a bad signature', async () => {
    const a = await makeReplica(1)
    const b = await makeReplica(2)
    const w = await a.replica.write('app', 'k', 1)
    assert.ok(w !== undefined)
    const data = await newer(w.envelope, [['tc', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'], ['later', 1]], a.id.privateKey)
    const altered = encodeCbor({ ...decodeEnvelope(data, 1 << 20), later: 2 })
    const got = await b.replica.ingest(altered, 'gossip')
    assert.equal(got.result === 'rejected' && got.reason, 'bad_signature')
    assert.equal((await b.replica.ingest(data, 'gossip')).result, 'applied')
  })
})
