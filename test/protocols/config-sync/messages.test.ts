import assert from 'node:assert/strict'
import { decodeSyncFrame, decodeSyncRequest, encodeSyncFrame, encodeSyncRequest } from '../../../protocols/config-sync/messages.js'
import { configSyncConfig } from '../../../protocols/config-sync/constants.js'
import { AckTracker } from '../../../protocols/config-sync/acks.js'
import fc from 'fast-check'
import { encodeCbor } from '../../../wire/codec.js'
import { prng } from '../../crdt/fixtures.js'
import { extraFields, PROPERTY_RUNS, sameBytes, withFields } from '../../helpers/wire-evolution.js'

const WIRE_ERRORS = new Set(['MalformedMessageError', 'OversizedMessageError', 'UnsupportedVersionError'])

describe('config-sync wire messages', () => {
  it('round-trips every message kind', () => {
    const vv = { app: { '12D3KooWabc': 3 } }
    assert.deepEqual(decodeSyncRequest(encodeSyncRequest({ v: 1, op: 'pull', vv }), 1e6), { v: 1, op: 'pull', vv })
    const envelopes = [new Uint8Array([1, 2, 3])]
    assert.deepEqual(decodeSyncRequest(encodeSyncRequest({ v: 1, op: 'push', envelopes }), 1e6), { v: 1, op: 'push', envelopes })
    assert.deepEqual(decodeSyncFrame(encodeSyncFrame({ v: 1, op: 'end', more: true }), 1e6), { v: 1, op: 'end', more: true })
    assert.deepEqual(decodeSyncFrame(encodeSyncFrame({ v: 1, op: 'batch', envelopes }), 1e6), { v: 1, op: 'batch', envelopes })
  })

  it('decoders throw only wire errors on garbage and on wrong shapes', () => {
    const rand = prng(11)
    const valid = [encodeSyncRequest({ v: 1, op: 'pull', vv: { app: { w: 1 } } }), encodeSyncFrame({ v: 1, op: 'batch', envelopes: [new Uint8Array(9)] })]
    for (let i = 0; i < 4000; i++) {
      let input: Uint8Array
      if (i % 2 === 0) {
        input = new Uint8Array(Math.floor(rand() * 200)).map(() => Math.floor(rand() * 256))
      } else {
        input = Uint8Array.from(valid[i % 4 === 1 ? 0 : 1])
        input[Math.floor(rand() * input.length)] ^= 1 << Math.floor(rand() * 8)
      }
      for (const decode of [decodeSyncRequest, decodeSyncFrame]) {
        try { decode(input, 1000) } catch (err) { assert.ok(WIRE_ERRORS.has((err as Error).name), (err as Error).name) }
      }
    }
    assert.throws(() => decodeSyncRequest(encodeSyncFrame({ v: 1, op: 'end', more: false }), 1000), { name: 'MalformedMessageError' })
    assert.throws(() => decodeSyncRequest(encodeSyncRequest({ v: 1, op: 'pull', vv: {} }), 2), { name: 'OversizedMessageError' })
  })

  it('frames carry tc and ignore fields they do not know; envelopes inside pass through as bytes (property)', () => {
    fc.assert(fc.property(extraFields(['v', 'op', 'vv', 'envelopes', 'more']), (extra) => {
      const tc = extra.find(([k]) => k === 'tc')?.[1]
      const envelopes = [encodeCbor({ v: 1, later: 'x' })]
      const push = decodeSyncRequest(encodeCbor(withFields({ v: 1, op: 'push', envelopes }, extra)), 1e6)
      assert.equal(push.tc, tc)
      assert.deepEqual(Object.keys(push).sort(), ['envelopes', 'op', 'v', ...(tc === undefined ? [] : ['tc'])].sort())
      assert.ok(push.op === 'push' && sameBytes(push.envelopes[0], envelopes[0]))
      assert.equal(decodeSyncFrame(encodeCbor(withFields({ v: 1, op: 'end', more: true }, extra)), 1e6).tc, tc)
      assert.equal(decodeSyncRequest(encodeCbor(withFields({ v: 1, op: 'pull', vv: { app: { w: 1 } } }, extra)), 1e6).tc, tc)
    }), { numRuns: PROPERTY_RUNS })
  })

  it('profiles validate', () => {
    for (const p of ['lan', 'wan', 'test'] as const) configSyncConfig(p)
    assert.throws(() => configSyncConfig('lan', { antiEntropyIntervalMs: 0 }), { name: 'InvalidTunablesError', message: /antiEntropyIntervalMs/ })
    assert.throws(() => configSyncConfig('lan', { maxFrameBytes: 1000 }), { name: 'InvalidTunablesError', message: /maxFrameBytes/ })
  })

  it('ack tracker merges vectors that arrive out of order', async () => {
    const t = new AckTracker()
    t.update('p', { app: { w: 5 } })
    t.update('p', { app: { w: 3 }, net: { w: 1 } })
    assert.deepEqual(t.ackedBy('app', 'w', 5), ['p'])
    assert.deepEqual(t.ackedBy('net', 'w', 1), ['p'])
    assert.deepEqual(t.ackedBy('app', 'w', 6), [])
    assert.deepEqual(t.ackedBy('app', 'w', 1, new Set(['q'])), [])
    const waiting = t.next(5_000)
    t.update('q', {})
    await waiting
  })
})
