/**
 * SeenUpdates (protocols/membership/seen-updates.ts): exactly the bytes
 * remembered are known, a different body under a known signature is not,
 * the oldest entry goes first once the bound is reached, and the first
 * gossipsub copy of an update remembered as news is reported once. Checked
 * against a model over generated sequences, and with a real signed update.
 */
import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { SeenUpdates } from '../../../protocols/membership/seen-updates.js'
import { signUpdate, type AliveBody, type SignedUpdate } from '../../../protocols/membership/messages.js'

const update = (sig: number, body: number): SignedUpdate => ({ s: new Uint8Array(64).fill(sig), b: new Uint8Array([body, body, body]) })

describe('membership: seen updates', () => {
  it('knows exactly the remembered bytes, bounded, oldest out first (model)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 6 }),
      fc.array(fc.record({ op: fc.constantFrom('add', 'has', 'gossip', 'clear'), sig: fc.integer({ min: 0, max: 9 }), body: fc.integer({ min: 0, max: 2 }), news: fc.boolean(), viaGossip: fc.boolean() }), { maxLength: 60 }),
      (max, ops) => {
        const seen = new SeenUpdates(max)
        // The model: signature → entry, in insertion order (a re-added signature moves to the end).
        const model = new Map<number, { body: number, news: boolean, gossiped: boolean }>()
        for (const op of ops) {
          const u = update(op.sig, op.body)
          const known = model.get(op.sig)?.body === op.body ? model.get(op.sig) : undefined
          if (op.op === 'add') {
            seen.add(u, op.news, op.viaGossip)
            model.delete(op.sig)
            model.set(op.sig, { body: op.body, news: op.news, gossiped: op.viaGossip })
            if (model.size > max) model.delete(model.keys().next().value as number)
          } else if (op.op === 'has') {
            assert.equal(seen.has(u), known !== undefined)
          } else if (op.op === 'gossip') {
            const want = known === undefined ? 'unseen' : !known.gossiped && known.news ? 'forward' : 'seen'
            if (known !== undefined) known.gossiped = true
            assert.equal(seen.gossipCopy(u), want)
          } else {
            seen.clear()
            model.clear()
          }
          assert.equal(seen.size, model.size)
          assert.ok(seen.size <= max)
        }
      }))
  })

  it('does not take a different body under a known signature for a copy', async () => {
    const key = await generateKeyPair('Ed25519')
    const id = peerIdFromPrivateKey(key).toString()
    const u = await signUpdate<AliveBody>(key, { v: 1, t: 'alive', id, inc: 3, region: 'r1', roles: [], addrs: [], ver: 'x', ts: 1 })
    const seen = new SeenUpdates(8)
    seen.add(u.raw, true, false)
    assert.equal(seen.has({ b: u.raw.b.slice(), s: u.raw.s.slice() }), true, 'an equal copy in other buffers')
    const forged = u.raw.b.slice()
    forged[forged.length - 1] ^= 1
    assert.equal(seen.has({ b: forged, s: u.raw.s }), false, 'another body under the same signature is judged afresh')
    assert.equal(seen.gossipCopy({ b: forged, s: u.raw.s }), 'unseen', 'nor forwarded as the known update')
    assert.equal(seen.gossipCopy(u.raw), 'forward', 'the first gossipsub copy of an update applied here is forwarded')
    assert.equal(seen.gossipCopy(u.raw), 'seen', 'once')
  })

  it('keeps its own copy of the body', () => {
    const seen = new SeenUpdates(4)
    const message = new Uint8Array(100).fill(7)
    const u = { s: new Uint8Array(64).fill(1), b: message.subarray(10, 20) }
    seen.add(u, false, false)
    message.fill(9)
    assert.equal(seen.has({ s: u.s, b: new Uint8Array(10).fill(7) }), true, 'a later change to the message buffer does not change what was seen')
  })

  it('refuses a bound that is not a positive integer', () => {
    for (const max of [0, -1, 1.5, Number.NaN]) assert.throws(() => new SeenUpdates(max), RangeError)
  })
})
