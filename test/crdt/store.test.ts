import assert from 'node:assert/strict'
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { DEFAULT_LIMITS } from '../../crdt/constants.js'
import { compileNamespaces } from '../../crdt/namespaces.js'
import { ConfigStore, LOG_FILE, OWN_SEQ_FILE, SNAPSHOT_FILE } from '../../crdt/store.js'
import { crc32 } from '../../lib/checksum.js'
import { StorageFailedError } from '../../lib/errors.js'
import { identity, makeReplica } from './fixtures.js'

interface Line { level: string, obj: Record<string, unknown>, msg: string }

/** A logger that keeps what it is told (for the messages the store must, and must not, print). */
function recorder (): { logger: Logger, lines: Line[] } {
  const lines: Line[] = []
  const at = (level: string) => (obj: Record<string, unknown>, msg: string) => { lines.push({ level, obj, msg }) }
  return { lines, logger: { warn: at('warn'), error: at('error'), info: at('info'), debug: at('debug') } as unknown as Logger }
}

async function open (dir: string, n = 1, extra: { logger?: Logger, onFail?: (err: unknown) => void } = {}): Promise<ConfigStore> {
  const id = await identity(n)
  return new ConfigStore({ dir, privateKey: id.privateKey, self: id.peerId, rules: compileNamespaces({}, DEFAULT_LIMITS), limits: DEFAULT_LIMITS, syncDelayMs: 5, ...extra })
}

/** open() must throw CorruptFileError for every single damaged byte of `file`. */
async function assertEveryFlipRefused (dir: string, file: string): Promise<number> {
  const path = join(dir, file)
  const good = readFileSync(path)
  for (let i = 0; i < good.length; i++) {
    const bad = Buffer.from(good)
    bad[i] ^= (i % 2 === 0 ? 0xff : 0x04)
    writeFileSync(path, bad)
    await assert.rejects(open(dir), (err: Error & { file?: string }) => {
      assert.equal(err.name, 'CorruptFileError', `byte ${i}: ${err.message}`)
      assert.equal(err.file, path)
      return true
    }, `byte ${i} of ${file} not detected`)
  }
  writeFileSync(path, good)
  return good.length
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

  it('detects a damaged byte anywhere in the config log and the own-sequence watermark', async () => {
    const s1 = await open(dir)
    for (let i = 0; i < 3; i++) await s1.write('app', `k${i}`, i)
    await s1.write('net', 'k', 'v')
    await s1.close()
    assert.ok(await assertEveryFlipRefused(dir, LOG_FILE) > 100)
    assert.ok(await assertEveryFlipRefused(dir, OWN_SEQ_FILE) > 20)
    const s2 = await open(dir)
    assert.equal(s2.replica.entries('app').length, 3)
    await s2.close()
  })

  it('ignores a damaged snapshot (a cache of the log) byte by byte, saying so, and loses nothing', async () => {
    const s1 = await open(dir)
    for (let i = 0; i < 4; i++) await s1.write('app', `k${i}`, i)
    await s1.snapshot()
    await s1.close()
    const path = join(dir, SNAPSHOT_FILE)
    const good = readFileSync(path)
    for (let i = 0; i < good.length; i += 3) {
      const bad = Buffer.from(good)
      bad[i] ^= 0x20
      writeFileSync(path, bad)
      const { logger, lines } = recorder()
      const s = await open(dir, 1, { logger })
      assert.equal(s.openStats.fromSnapshot, false, `byte ${i}`)
      assert.ok(lines.some(l => l.level === 'warn' && /snapshot damaged/.test(l.msg)))
      assert.deepEqual(s.replica.entries('app').map(([k, v]) => [k, v.value]), [['k0', 0], ['k1', 1], ['k2', 2], ['k3', 3]])
      await s.close()
    }
  })

  it('a truncated log that lost acknowledged writes says so, refuses to reuse their sequence numbers, and recovers them from a peer', async () => {
    const s1 = await open(dir)
    for (let i = 1; i <= 50; i++) await s1.write('app', `k${i}`, i)
    await s1.write('other', 'x', 1)
    const self = s1.replica.self
    // What a peer that received our writes holds.
    const k50 = s1.replica.bytesOf('app', self, 50) as Uint8Array
    await s1.close()
    // The tester's cut: 5 bytes off the end of an acknowledged log... plus the
    // last envelope, so that app seq 50 is the last app envelope left partial.
    const path = join(dir, LOG_FILE)
    const reopened = await open(dir)
    const otherBytes = reopened.replica.bytesOf('other', self, 1) as Uint8Array
    await reopened.close()
    truncateSync(path, statSync(path).size - (12 + otherBytes.byteLength) - 5)
    const { logger, lines } = recorder()
    const s2 = await open(dir, 1, { logger })
    assert.deepEqual(s2.openStats.lostOwnWrites, { app: { have: 49, acknowledged: 50 }, other: { have: 0, acknowledged: 1 } })
    assert.equal(s2.replica.get('app', 'k50'), undefined)
    // Never the false claim; the cut is explained and the loss named.
    assert.ok(!lines.some(l => /never acknowledged/.test(l.msg)))
    assert.ok(lines.some(l => l.level === 'warn' && /truncated, not just torn/.test(l.msg)))
    assert.ok(lines.some(l => l.level === 'error' && /lost acknowledged writes of ours \(app seq 50\.\.50\)/.test(l.msg)))
    // A new write would be app seq 50 again: refused, nothing written.
    await assert.rejects(s2.write('app', 'new', 1), (err: Error) => {
      assert.equal(err.name, 'StoreUnavailableError')
      assert.match(err.message, /seq 50\.\.50 are missing/)
      assert.match(err.message, /own-seq\.log aside/)
      return true
    })
    assert.equal(s2.replica.head('app', self), 49)
    // Nor does anti-entropy offer anything of ours beyond what we hold.
    assert.equal(s2.servableVersionVector().app[self], 49)
    // A peer returns the lost envelopes: writes continue after them.
    assert.equal((await s2.ingest(k50, 'sync')).result, 'applied')
    assert.equal((await s2.ingest(otherBytes, 'sync')).result, 'applied')
    assert.deepEqual(s2.lostOwnWrites(), {})
    assert.equal(s2.replica.get('app', 'k50')?.value, 50)
    assert.equal((await s2.write('app', 'new', 1))?.seq, 51)
    await s2.close()
    const s3 = await open(dir)
    assert.deepEqual(s3.openStats.lostOwnWrites, {})
    await s3.close()
  })

  it('a tail torn by a crash before the fsync is cut without alarm: nothing acknowledged was lost', async () => {
    const s1 = await open(dir)
    for (let i = 0; i < 3; i++) await s1.write('app', `k${i}`, i)
    // A write whose envelope reached the log but whose fsync never finished (crash).
    const w = await s1.replica.write('app', 'unacked', 1)
    assert.ok(w !== undefined)
    assert.equal(s1.servableVersionVector().app[s1.replica.self], 3, 'not served before it is durable and marked')
    const full = (s1 as unknown as { log: { offset: number } }).log.offset
    await s1.close()
    truncateSync(join(dir, LOG_FILE), full - 7)
    const { logger, lines } = recorder()
    const s2 = await open(dir, 1, { logger })
    assert.deepEqual(s2.openStats.lostOwnWrites, {})
    assert.ok(s2.openStats.truncatedBytes > 0)
    assert.ok(lines.some(l => l.level === 'warn' && /every acknowledged write of ours is intact/.test(l.msg)))
    assert.ok(!lines.some(l => l.level === 'error'))
    assert.equal((await s2.write('app', 'next', 1))?.seq, 4)
    await s2.close()
  })

  it('reads a log of the first layout (MYCFGLG1) and rewrites it in the checksummed one', async () => {
    const s1 = await open(dir)
    for (let i = 0; i < 3; i++) await s1.write('app', `k${i}`, i)
    const envs = s1.replica.missing({}, 100, 1e9).envelopes
    await s1.close()
    const frames = envs.map(e => { const h = Buffer.alloc(8); h.writeUInt32BE(e.byteLength, 0); h.writeUInt32BE(crc32(e), 4); return Buffer.concat([h, e]) })
    writeFileSync(join(dir, LOG_FILE), Buffer.concat([Buffer.from('MYCFGLG1'), ...frames]))
    rmSync(join(dir, OWN_SEQ_FILE))
    const s2 = await open(dir)
    assert.equal(s2.openStats.convertedFrom, 'MYCFGLG1')
    assert.equal(s2.replica.entries('app').length, 3)
    assert.equal(readFileSync(join(dir, LOG_FILE)).subarray(0, 8).toString(), 'MYCELCL1')
    assert.equal((await s2.write('app', 'k3', 3))?.seq, 4)
    await s2.close()
  })

  it('a first-layout log keeps that layout\'s rules: a torn tail is cut, a bad frame before valid ones is damage (and left as found)', async () => {
    const s1 = await open(dir)
    for (let i = 0; i < 3; i++) await s1.write('app', `k${i}`, i)
    const envs = s1.replica.missing({}, 100, 1e9).envelopes
    await s1.close()
    rmSync(join(dir, OWN_SEQ_FILE))
    const frames = envs.map(e => { const h = Buffer.alloc(8); h.writeUInt32BE(e.byteLength, 0); h.writeUInt32BE(crc32(e), 4); return Buffer.concat([h, e]) })
    const v1 = Buffer.concat([Buffer.from('MYCFGLG1'), ...frames])
    writeFileSync(join(dir, LOG_FILE), v1.subarray(0, v1.length - 3))
    const s2 = await open(dir)
    assert.equal(s2.openStats.convertedFrom, 'MYCFGLG1')
    assert.equal(s2.openStats.envelopes, 2)
    assert.equal(s2.openStats.truncatedBytes, frames[2].length - 3)
    await s2.close()
    rmSync(join(dir, OWN_SEQ_FILE))
    const bad = Buffer.from(v1)
    bad[8 + 8 + 2] ^= 0x01
    writeFileSync(join(dir, LOG_FILE), bad)
    await assert.rejects(open(dir), (err: Error & { file?: string }) => {
      assert.equal(err.name, 'CorruptFileError')
      assert.equal(err.file, join(dir, LOG_FILE))
      assert.match(err.message, /layout MYCFGLG1\) damaged at offset 8, valid data follows/)
      return true
    })
    assert.ok(readFileSync(join(dir, LOG_FILE)).equals(bad))
  })

  it('a failed fsync stops the store (fail-stop) and tells its owner', async () => {
    const failures: unknown[] = []
    const s = await open(dir, 1, { onFail: (err) => failures.push(err) })
    await s.write('app', 'a', 1)
    ;(s as unknown as { log: { sync: () => Promise<void> } }).log.sync = async () => { throw new StorageFailedError(join(dir, LOG_FILE), 'fdatasync failed: EIO') }
    await assert.rejects(s.write('app', 'b', 2), { name: 'StoreUnavailableError' })
    await assert.rejects(s.write('app', 'c', 3), { name: 'StoreUnavailableError' })
    assert.equal(failures.length, 1)
    assert.equal((failures[0] as StorageFailedError).file, join(dir, LOG_FILE))
    await s.close()
  })

  it('refuses a log corrupted in the middle instead of dropping durable data', async () => {
    const s1 = await open(dir)
    for (let i = 0; i < 5; i++) await s1.write('app', `k${i}`, 'v'.repeat(50))
    await s1.close()
    const path = join(dir, LOG_FILE)
    const data = readFileSync(path)
    data[40] ^= 0xff
    writeFileSync(path, data)
    await assert.rejects(open(dir), { name: 'CorruptFileError' })
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

  it('starts from a snapshot of the first layout (a CRC-32, then the CBOR) and refuses one whose CRC fails', async () => {
    const s1 = await open(dir)
    for (let i = 0; i < 20; i++) await s1.write('app', `k${i % 5}`, i)
    await s1.snapshot()
    await s1.write('app', 'tail', 1)
    const expected = s1.replica.entries('app')
    await s1.close()
    const sealed = readFileSync(join(dir, SNAPSHOT_FILE))
    const body = sealed.subarray(12, sealed.length - 4)
    const crc = Buffer.alloc(4)
    crc.writeUInt32BE(crc32(body))
    writeFileSync(join(dir, SNAPSHOT_FILE), Buffer.concat([crc, body]))
    const s2 = await open(dir)
    assert.equal(s2.openStats.fromSnapshot, true)
    assert.equal(s2.openStats.replayed, 1)
    assert.deepEqual(s2.replica.entries('app'), expected)
    await s2.close()
    crc[3] ^= 0x01
    writeFileSync(join(dir, SNAPSHOT_FILE), Buffer.concat([crc, body]))
    const { logger, lines } = recorder()
    const s3 = await open(dir, 1, { logger })
    assert.equal(s3.openStats.fromSnapshot, false)
    assert.deepEqual(s3.replica.entries('app'), expected)
    assert.ok(lines.some(l => l.level === 'warn' && /snapshot damaged/.test(l.msg)))
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
