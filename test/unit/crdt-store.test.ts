import assert from 'node:assert/strict'
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DEFAULT_LIMITS } from '../../crdt/constants.js'
import { compileNamespaces } from '../../crdt/namespaces.js'
import { ConfigStore, LOG_FILE } from '../../crdt/store.js'
import { identity, makeReplica } from './crdt-fixtures.js'

async function open (dir: string, n = 1): Promise<ConfigStore> {
  const id = await identity(n)
  return new ConfigStore({ dir, privateKey: id.privateKey, self: id.peerId, rules: compileNamespaces({}, DEFAULT_LIMITS), limits: DEFAULT_LIMITS, syncDelayMs: 5 })
}

describe('crdt durable store', () => {
  let dir: string
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'mycel-crdt-')) })
  afterEach(() => { rmSync(dir, { recursive: true, force: true }) })

  it('rebuilds documents from the log and continues sequences and Yjs clocks', async () => {
    const s1 = await open(dir)
    await s1.write('app', 'a', 1)
    await s1.write('app', 'b', { x: [1, 2] })
    await s1.write('app', 'a', undefined, { deleted: true })
    await s1.close()
    const s2 = await open(dir)
    assert.deepEqual(s2.replica.entries('app').map(([k, v]) => [k, v.value]), [['b', { x: [1, 2] }]])
    assert.equal(s2.openStats.envelopes, 3)
    const e4 = await s2.write('app', 'a', 2)
    assert.equal(e4?.seq, 4)
    // A peer receiving all four envelopes ends with the same, fully integrated document.
    const peer = await makeReplica(9)
    for (const e of s2.replica.missing({}, 100, 1e9).envelopes) assert.equal((await peer.replica.ingest(e, 'sync')).result, 'applied')
    assert.deepEqual(peer.replica.entries('app'), s2.replica.entries('app'))
    assert.equal(peer.replica.doc('app')?.store.pendingStructs, null)
    await s2.close()
  })

  it('cuts a torn tail and keeps everything before it', async () => {
    const s1 = await open(dir)
    for (let i = 0; i < 5; i++) await s1.write('app', `k${i}`, i)
    await s1.close()
    const path = join(dir, LOG_FILE)
    const good = statSync(path).size
    // A frame header promising more than was written, then nothing.
    appendFileSync(path, Buffer.from([0, 0, 1, 0, 9, 9, 9, 9, 1, 2, 3]))
    const s2 = await open(dir)
    assert.equal(s2.openStats.truncatedBytes, 11)
    assert.equal(s2.replica.entries('app').length, 5)
    assert.equal(statSync(path).size, good)
    await s2.write('app', 'after', true)
    await s2.close()
    // Zero-filled tail (file grown, data never written).
    appendFileSync(path, Buffer.alloc(4096))
    const s3 = await open(dir)
    assert.equal(s3.openStats.truncatedBytes, 4096)
    assert.equal(s3.replica.entries('app').length, 6)
    await s3.close()
  })

  it('refuses a log corrupted in the middle instead of dropping durable data', async () => {
    const s1 = await open(dir)
    for (let i = 0; i < 5; i++) await s1.write('app', `k${i}`, 'v'.repeat(50))
    await s1.close()
    const path = join(dir, LOG_FILE)
    const data = readFileSync(path)
    data[40] ^= 0xff
    writeFileSync(path, data)
    await assert.rejects(open(dir), { name: 'CorruptStoreError' })
  })

  it('starts from a snapshot and replays only the log tail', async () => {
    const s1 = await open(dir)
    for (let i = 0; i < 50; i++) await s1.write('app', `k${i % 10}`, i)
    await s1.snapshot()
    for (let i = 0; i < 5; i++) await s1.write('net', `k${i}`, i)
    const expected = [s1.replica.entries('app'), s1.replica.entries('net')]
    await s1.close()
    const s2 = await open(dir)
    assert.equal(s2.openStats.fromSnapshot, true)
    assert.equal(s2.openStats.envelopes, 55)
    assert.equal(s2.openStats.replayed, 5)
    assert.deepEqual([s2.replica.entries('app'), s2.replica.entries('net')], expected)
    assert.equal((await s2.write('app', 'k0', 'new'))?.seq, 51)
    await s2.close()
    // A damaged snapshot is ignored: the log alone is complete.
    writeFileSync(join(dir, 'snapshot.bin'), Buffer.from('garbage!'))
    const s3 = await open(dir)
    assert.equal(s3.openStats.fromSnapshot, false)
    assert.equal(s3.replica.get('app', 'k0')?.value, 'new')
    await s3.close()
  })

  it('advertises received envelopes only once they are fsynced', async () => {
    const writer = await makeReplica(2)
    const s = await open(dir)
    const w = await writer.replica.write('app', 'k', 1)
    let durableEvents = 0
    s.onDurable(() => { durableEvents++ })
    assert.equal((await s.ingest(w!.bytes, 'gossip')).result, 'applied')
    assert.deepEqual(s.durableVersionVector(), {})
    assert.equal(s.replica.head('app', writer.id.peerId), 1)
    await s.sync()
    assert.deepEqual(s.durableVersionVector(), { app: { [writer.id.peerId]: 1 } })
    assert.ok(durableEvents >= 1)
    await s.close()
    await s.close()
  })
})
