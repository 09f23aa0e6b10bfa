import assert from 'node:assert/strict'
import * as Y from 'yjs'
import { clientIdOf, decodeEnvelope, encodeEnvelope, signEnvelope } from '../../crdt/envelope.js'
import { ROOT_MAP } from '../../crdt/constants.js'
import { identity, makeReplica } from './fixtures.js'

/** A signed envelope whose update was produced by `build` on a scratch doc as `clientId`. */
async function craft (n: number, seq: number, build: (doc: Y.Doc) => void, opts: { clientOf?: string, ns?: string } = {}): Promise<Uint8Array> {
  const id = await identity(n)
  const doc = new Y.Doc()
  doc.clientID = clientIdOf(opts.clientOf ?? id.peerId)
  let update: Uint8Array | undefined
  doc.on('update', (u: Uint8Array) => { update = update === undefined ? u : Y.mergeUpdates([update, u]) })
  build(doc)
  const env = await signEnvelope(id.privateKey, { v: 1, writer: id.peerId, seq, ns: opts.ns ?? 'app', update: update as Uint8Array, time: Date.now() })
  return encodeEnvelope(env)
}

/** A Yjs update (v1) with no structs and one delete range. */
function deleteOnlyUpdate (client: number, clock: number, len: number): Uint8Array {
  const bytes = [0] // no struct groups
  // Delete set: 1 client, client id, 1 range (clock, len), all var-uints.
  const varUint = (n: number): void => { while (n > 127) { bytes.push((n % 128) | 128); n = Math.floor(n / 128) } bytes.push(n) }
  varUint(1); varUint(client); varUint(1); varUint(clock); varUint(len)
  return new Uint8Array(bytes)
}

describe('crdt replica', () => {
  it('applies a remote write, records its writer, and propagates deletes', async () => {
    const a = await makeReplica(1)
    const b = await makeReplica(2)
    const w = await a.replica.write('app', 'port', 8080)
    assert.ok(w !== undefined)
    assert.deepEqual(a.replica.get('app', 'port'), { value: 8080, writer: a.id.peerId })
    assert.equal((await b.replica.ingest(w.bytes, 'gossip')).result, 'applied')
    assert.deepEqual(b.replica.get('app', 'port'), { value: 8080, writer: a.id.peerId })
    const del = await a.replica.write('app', 'port', undefined, { deleted: true })
    assert.ok(del !== undefined)
    assert.equal((await b.replica.ingest(del.bytes, 'sync')).result, 'applied')
    assert.equal(b.replica.get('app', 'port'), undefined)
    assert.deepEqual(b.replica.versionVector(), { app: { [a.id.peerId]: 2 } })
    assert.equal(await a.replica.write('app', 'nothing', undefined, { deleted: true }), undefined, 'deleting an absent key writes nothing')
  })

  it('holds an envelope from the future until the gap fills, then applies in order', async () => {
    const a = await makeReplica(1)
    const b = await makeReplica(2)
    const e1 = await a.replica.write('app', 'k', 1)
    const e2 = await a.replica.write('app', 'k', 2)
    const e3 = await a.replica.write('app', 'other', 'x')
    assert.equal((await b.replica.ingest(e3!.bytes, 'gossip')).result, 'held')
    assert.equal((await b.replica.ingest(e2!.bytes, 'gossip')).result, 'held')
    assert.equal(b.replica.get('app', 'k'), undefined)
    assert.equal(b.replica.heldCount(), 2)
    assert.equal((await b.replica.ingest(e1!.bytes, 'gossip')).result, 'applied')
    assert.equal(b.replica.get('app', 'k')?.value, 2)
    assert.equal(b.replica.get('app', 'other')?.value, 'x')
    assert.equal(b.replica.heldCount(), 0)
    assert.equal(b.replica.head('app', a.id.peerId), 3)
  })

  it('counts duplicates and rejects equivocation (two envelopes, one seq)', async () => {
    const a1 = await makeReplica(1)
    const a2 = await makeReplica(1) // same key, separate state: a writer that forgot its log
    const b = await makeReplica(2)
    const x = await a1.replica.write('app', 'k', 'first')
    const y = await a2.replica.write('app', 'k', 'second')
    assert.equal((await b.replica.ingest(x!.bytes, 'gossip')).result, 'applied')
    assert.equal((await b.replica.ingest(x!.bytes, 'sync')).result, 'duplicate')
    const r = await b.replica.ingest(y!.bytes, 'gossip')
    assert.deepEqual(r.result === 'rejected' && r.reason, 'equivocation')
    assert.equal(b.counters.equivocations, 1)
    assert.equal(b.replica.get('app', 'k')?.value, 'first')
  })

  it('rejects forged signatures and envelopes claiming another writer', async () => {
    const b = await makeReplica(2)
    const id1 = await identity(1)
    const good = await craft(1, 1, doc => doc.getMap(ROOT_MAP).set('k', 1))
    const env = decodeEnvelope(good, 1e6)
    const forged = encodeEnvelope({ ...env, sig: env.sig.map((x, i) => i === 0 ? x ^ 1 : x) })
    assert.deepEqual(await b.replica.ingest(forged, 'gossip').then(r => r.result === 'rejected' && r.reason), 'bad_signature')
    // Signed by 3 but naming 1 as the writer.
    const id3 = await identity(3)
    const relabeled = await signEnvelope(id3.privateKey, { ...env, writer: id1.peerId })
    assert.deepEqual(await b.replica.ingest(encodeEnvelope(relabeled), 'gossip').then(r => r.result === 'rejected' && r.reason), 'bad_signature')
    // Properly signed by 3, but creating items in 1's Yjs id space.
    const squat = await craft(3, 1, doc => doc.getMap(ROOT_MAP).set('k', 2), { clientOf: id1.peerId })
    assert.deepEqual(await b.replica.ingest(squat, 'gossip').then(r => r.result === 'rejected' && r.reason), 'invalid_update')
    assert.equal(b.replica.get('app', 'k'), undefined)
    assert.equal((await b.replica.ingest(good, 'gossip')).result, 'applied')
  })

  it('holds an envelope that deletes items not yet here, so nobody can pre-delete future writes', async () => {
    const a = await makeReplica(1)
    const b = await makeReplica(2)
    const c = await makeReplica(3)
    const idA = await identity(1)
    // Writer 2 signs an update whose delete set covers writer 1's next 1000 Yjs ids.
    // The Yjs API never produces that, so a delete-only update is merged in by hand.
    const hostile = await craft(2, 1, doc => doc.getMap(ROOT_MAP).set('x', 1))
    const env = decodeEnvelope(hostile, 1e6)
    const dsOnly = deleteOnlyUpdate(clientIdOf(idA.peerId), 0, 1000)
    const id2 = await identity(2)
    const forged = encodeEnvelope(await signEnvelope(id2.privateKey, { ...env, update: Y.mergeUpdates([env.update, dsOnly]) }))
    assert.equal((await c.replica.ingest(forged, 'gossip')).result, 'held')
    // Writer 1's real write afterwards must survive everywhere.
    const w = await a.replica.write('app', 'mine', 'kept')
    assert.equal((await c.replica.ingest(w!.bytes, 'gossip')).result, 'applied')
    assert.equal(c.replica.get('app', 'mine')?.value, 'kept')
    assert.equal(c.replica.head('app', id2.peerId), 0, 'the hostile envelope never applied')
    // An honest overwrite of someone else's item waits only until that item arrives.
    const w2 = await b.replica.ingest(w!.bytes, 'sync').then(async () => await b.replica.write('app', 'mine', 'overwritten'))
    const d = await makeReplica(4)
    assert.equal((await d.replica.ingest(w2!.bytes, 'gossip')).result, 'held')
    assert.equal((await d.replica.ingest(w!.bytes, 'gossip')).result, 'applied')
    assert.equal(d.replica.head('app', (await identity(2)).peerId), 1, 'released once the deleted item arrived')
    assert.equal(d.replica.get('app', 'mine')?.value, 'overwritten')
  })

  it('refuses updates that touch anything but plain JSON map entries', async () => {
    const b = await makeReplica(2)
    const cases: Array<[string, (doc: Y.Doc) => void]> = [
      ['other root', doc => doc.getMap('elsewhere').set('k', 1)],
      ['nested type', doc => doc.getMap(ROOT_MAP).set('k', new Y.Map())],
      ['text', doc => doc.getText(ROOT_MAP).insert(0, 'hello')],
      ['binary', doc => doc.getMap(ROOT_MAP).set('k', new Uint8Array([1, 2]))],
      ['sequence use of the map root', doc => doc.getArray(ROOT_MAP).insert(0, [1])]
    ]
    for (const [name, build] of cases) {
      const r = await b.replica.ingest(await craft(1, 1, build), 'gossip')
      assert.deepEqual(r.result === 'rejected' && r.reason, 'invalid_update', name)
    }
  })

  it('enforces the namespace ACL on both sides', async () => {
    const id1 = await identity(1)
    const namespaces = { secure: { writers: [id1.peerId] } }
    const a = await makeReplica(1, { namespaces })
    const c = await makeReplica(3, { namespaces })
    const b = await makeReplica(2, { namespaces: {} }) // misconfigured: thinks everything is open
    await assert.rejects(c.replica.write('secure', 'k', 1), { name: 'AccessDeniedError' })
    const fromB = await b.replica.write('secure', 'k', 'intruder')
    const r = await a.replica.ingest(fromB!.bytes, 'gossip')
    assert.deepEqual(r.result === 'rejected' && r.reason, 'access_denied')
    const ok = await a.replica.write('secure', 'k', 'fine')
    assert.equal((await c.replica.ingest(ok!.bytes, 'gossip')).result, 'applied')
    assert.equal(c.replica.get('secure', 'k')?.value, 'fine')
  })

  it('validates schemas: the writer refuses, a receiver keeps the last valid value', async () => {
    const namespaces = { net: { schema: { type: 'object', properties: { mtu: { type: 'integer', minimum: 576 } }, required: ['mtu'] } } }
    const strict = await makeReplica(1, { namespaces })
    await assert.rejects(strict.replica.write('net', 'eth0', { mtu: 10 }), { name: 'SchemaViolationError' })
    await assert.rejects(strict.replica.write('net', 'eth0', { mtu: 'big' }), /mtu/)
    const lax = await makeReplica(2) // a writer without the schema
    const good = await lax.replica.write('net', 'eth0', { mtu: 1500 })
    const bad = await lax.replica.write('net', 'eth0', { mtu: 1 })
    assert.equal((await strict.replica.ingest(good!.bytes, 'gossip')).result, 'applied')
    assert.equal((await strict.replica.ingest(bad!.bytes, 'gossip')).result, 'applied', 'the envelope is valid; the value is not')
    assert.deepEqual(strict.replica.get('net', 'eth0')?.value, { mtu: 1500 })
    assert.equal(strict.counters.invalid, 1)
  })

  it('enforces size limits at the writer and at receivers', async () => {
    const small = await makeReplica(1, { limits: { maxValueBytes: 100, maxKeyBytes: 8 } })
    await assert.rejects(small.replica.write('app', 'k', 'x'.repeat(200)), { name: 'LimitExceededError' })
    await assert.rejects(small.replica.write('app', 'much-too-long', 1), { name: 'LimitExceededError' })
    await assert.rejects(small.replica.write('app', 'bad\nkey', 1), { name: 'InvalidKeyError' })
    await assert.rejects(small.replica.write('BAD NS', 'k', 1), { name: 'InvalidNamespaceError' })
    await assert.rejects(small.replica.write('app', 'k', { n: 1n }), { name: 'SchemaViolationError' })
    const big = await makeReplica(2)
    const w = await big.replica.write('app', 'k', 'x'.repeat(200))
    assert.deepEqual(await small.replica.ingest(w!.bytes, 'gossip').then(r => r.result === 'rejected' && r.reason), 'limit')
    const tiny = await makeReplica(3, { limits: { maxEnvelopeBytes: 64 } })
    assert.deepEqual(await tiny.replica.ingest(w!.bytes, 'gossip').then(r => r.result === 'rejected' && r.reason), 'oversized')
    // Valid JSON size, but Yjs encodes 0.1 as a 9-byte float64: refused before the document changes, store still usable.
    const floats = await makeReplica(5, { limits: { maxValueBytes: 64 * 1024, maxEnvelopeBytes: 80 * 1024 } })
    await assert.rejects(floats.replica.write('app', 'k', Array.from({ length: 15_000 }, () => 0.1)), { name: 'LimitExceededError', message: /encodes/ })
    assert.equal(floats.replica.doc('app')?.getMap('config').size, 0)
    assert.ok(await floats.replica.write('app', 'k', 1))
    const capped = await makeReplica(4, { namespaces: { app: { maxKeys: 1 } } })
    await capped.replica.write('app', 'a', 1)
    await capped.replica.write('app', 'a', 2) // overwriting is fine
    await assert.rejects(capped.replica.write('app', 'b', 1), { name: 'LimitExceededError' })
  })

  it('serves missing envelopes within a budget', async () => {
    const a = await makeReplica(1)
    for (let i = 0; i < 10; i++) await a.replica.write('app', `k${i}`, i)
    await a.replica.write('other', 'k', 1)
    const all = a.replica.missing({}, 100, 1e9)
    assert.equal(all.envelopes.length, 11)
    assert.equal(all.more, false)
    const some = a.replica.missing({ app: { [a.id.peerId]: 4 } }, 3, 1e9)
    assert.equal(some.envelopes.length, 3)
    assert.equal(some.more, true)
    assert.equal(decodeEnvelope(some.envelopes[0], 1e6).seq, 5)
    assert.equal(a.replica.missing(a.replica.versionVector(), 100, 1e9).envelopes.length, 0)
    assert.equal(a.replica.missing({}, 100, 1).envelopes.length, 1, 'always makes progress')
  })

  it('notifies listeners of sets and deletes with the writer', async () => {
    const a = await makeReplica(1)
    const b = await makeReplica(2)
    const seen: unknown[] = []
    b.replica.onChange(e => seen.push([e.key, e.deleted, e.value, e.writer === a.id.peerId]))
    await b.replica.ingest((await a.replica.write('app', 'k', 'v'))!.bytes, 'gossip')
    await b.replica.ingest((await a.replica.write('app', 'k', undefined, { deleted: true }))!.bytes, 'gossip')
    assert.deepEqual(seen, [['k', false, 'v', true], ['k', true, undefined, false]])
  })

  it('a signed envelope it refuses stops only that stream: later ones are refused at once, not held forever', async () => {
    // A writer whose limits differ from ours (another version): its 200-byte value is over our 100.
    const a = await makeReplica(1)
    const stops: unknown[] = []
    const b = await makeReplica(2, { limits: { maxValueBytes: 100 }, hooks: { onStreamStopped: (ns, writer, seq, err) => stops.push([ns, seq, err.name]) } })
    const e1 = await a.replica.write('app', 'k1', 1)
    const e2 = await a.replica.write('app', 'big', 'x'.repeat(200))
    const e3 = await a.replica.write('app', 'k3', 3)
    const other = await a.replica.write('other', 'k', 1)
    assert.equal((await b.replica.ingest(e3!.bytes, 'gossip')).result, 'held')
    assert.equal((await b.replica.ingest(e1!.bytes, 'gossip')).result, 'applied')
    // A forgery of seq 2 must not stop anything.
    const env2 = decodeEnvelope(e2!.bytes, 1e6)
    const forged = encodeEnvelope({ ...env2, sig: env2.sig.map((x, i) => i === 0 ? x ^ 1 : x) })
    assert.deepEqual(await b.replica.ingest(forged, 'gossip').then(r => r.result === 'rejected' && r.reason), 'bad_signature')
    assert.equal(b.replica.heldCount(), 1)
    assert.deepEqual(stops, [])
    assert.deepEqual(await b.replica.ingest(e2!.bytes, 'gossip').then(r => r.result === 'rejected' && r.reason), 'limit')
    assert.deepEqual(stops, [['app', 2, 'LimitExceededError']])
    assert.equal(b.replica.heldCount(), 0, 'what waited behind it no longer fills the shared buffer')
    const e4 = await a.replica.write('app', 'k4', 4)
    assert.deepEqual(await b.replica.ingest(e4!.bytes, 'gossip').then(r => r.result === 'rejected' && r.reason), 'stream_stopped')
    assert.deepEqual(await b.replica.ingest(e2!.bytes, 'sync').then(r => r.result === 'rejected' && r.reason), 'limit', 'offered again: refused again')
    assert.equal(stops.length, 1)
    assert.equal((await b.replica.ingest(other!.bytes, 'gossip')).result, 'applied', 'the writer\'s other namespaces are unaffected')
    assert.equal(b.replica.head('app', a.id.peerId), 1)
    // A restart (in-memory state gone) with limits that accept it takes the whole stream.
    const c = await makeReplica(3)
    for (const e of [e4, e3, e2, e1]) await c.replica.ingest(e!.bytes, 'sync')
    assert.equal(c.replica.head('app', a.id.peerId), 4)
  })
})
