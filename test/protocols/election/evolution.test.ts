/**
 * docs/wire.md rule 1 for the election: a newer node's lease or role action
 * (unknown fields, the trace context `tc`) is accepted and verified by
 * today's decoders, and the lease record, which every node stores in the
 * DHT and gossips on, is passed on byte for byte.
 */
import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import { z } from 'zod'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { decodeAction, decodeLease, encodeAction, leaseKey, selectLeaseRecord, signLease, validateLeaseRecord, type Lease, type RoleAction } from '../../../protocols/election/index.js'
import { MAX_LEASE_BYTES } from '../../../protocols/election/constants.js'
import { decodeCbor, encodeCbor } from '../../../wire/codec.js'
import { extraFields, PROPERTY_RUNS, sameBytes, withFields } from '../../helpers/wire-evolution.js'

describe('election: wire evolution', () => {
  let key: PrivateKey
  let id: string
  before(async () => {
    key = await generateKeyPair('Ed25519')
    id = peerIdFromPrivateKey(key).toString()
  })

  it('a newer lease verifies, wins the DHT selection it should, and is passed on byte-identical (property)', async () => {
    await fc.assert(fc.asyncProperty(extraFields(['v', 'region', 'role', 'holder', 'term', 'issuedAt', 'expiresAt']), async (extra) => {
      const now = Date.now()
      const newer = withFields<Lease>({ v: 1, region: 'eu', role: 'network', holder: id, term: 3, issuedAt: now, expiresAt: now + 15_000 }, extra)
      fc.pre(encodeCbor(newer).byteLength <= MAX_LEASE_BYTES)
      const signed = await signLease(newer, key)
      const back = await decodeLease(signed.record)
      await validateLeaseRecord(leaseKey('eu', 'network'), signed.record)
      assert.equal(back.lease.term, 3)
      for (const [k, v] of extra) assert.deepEqual((back.lease as unknown as Record<string, unknown>)[k], v)
      assert.ok(sameBytes(back.record, signed.record), 'the record gossiped and stored on is the one received')
      const older = await signLease({ v: 1, region: 'eu', role: 'network', holder: id, term: 2, issuedAt: now, expiresAt: now + 15_000 }, key)
      assert.equal(selectLeaseRecord(leaseKey('eu', 'network'), [older.record, signed.record]), 1)
    }), { numRuns: PROPERTY_RUNS })
  })

  it('a newer role action verifies with its unknown fields kept (property)', async () => {
    await fc.assert(fc.asyncProperty(extraFields(['v', 'region', 'role', 'term', 'holder', 'kind', 'issuedAt', 'body']), async (extra) => {
      const action = withFields<RoleAction>({ v: 1, region: 'eu', role: 'network', term: 4, holder: id, kind: 'topology', issuedAt: 1, body: encodeCbor({ x: 1 }) }, extra)
      const data = await encodeAction(action, key)
      const back = await decodeAction(data)
      assert.deepEqual(back, action)
      // What the holder signed is what a receiver can re-encode and show.
      const signed = decodeCbor(data, z.object({ action: z.instanceof(Uint8Array) })).action
      assert.ok(sameBytes(encodeCbor(back), signed))
    }), { numRuns: PROPERTY_RUNS })
  })

  it('the record and envelope wrappers ignore unknown fields', async () => {
    const now = Date.now()
    const signed = await signLease({ v: 1, region: 'eu', role: 'network', holder: id, term: 1, issuedAt: now, expiresAt: now + 1000 }, key)
    const outer = decodeCbor(signed.record, z.record(z.string(), z.unknown()))
    const record = encodeCbor({ ...outer, later: [1, 2] })
    assert.equal((await decodeLease(record)).lease.term, 1)
  })
})
