/**
 * lib/: the durable-file writer, the checksummed record log, the sealed
 * single-record file, the data dir lock and the fault registry. Every
 * damaged byte must be detected (never silently accepted); a tail cut short
 * (crash or truncation) is cut and reported, never thrown on.
 */
import { strict as assert } from 'node:assert'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, truncateSync, readdirSync, statSync, utimesSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { RecordLog, RECORD_HEADER_BYTES, type RecordLogFormat } from '../../lib/record-log.js'
import { seal, unseal, readSealedSync, writeSealedSync, SEALED_OVERHEAD } from '../../lib/sealed-file.js'
import { readFileIfExists, readFileIfExistsSync, writeFileDurable, writeFileDurableSync } from '../../lib/durable-file.js'
import { CorruptFileError, StorageFailedError, isFailStop } from '../../lib/errors.js'
import { DirLock, LOCK_FILE, holderAlive, currentHolder } from '../../lib/dir-lock.js'
import { FaultRegistry } from '../../lib/faults.js'
import type { FileFormat } from '../../lib/file-format.js'

const FORMAT: RecordLogFormat = { magic: 'MYCELTS1', name: 'test log', recovery: 'move it aside', maxRecordBytes: 4096 }
const SEALED: FileFormat = { magic: 'MYCELTF1', name: 'test file', recovery: 'move it aside' }

const enc = (s: string): Uint8Array => Buffer.from(s)
const dec = (b: Uint8Array): string => Buffer.from(b).toString()

/** Open and return the payloads, or the error's name. */
function openResult (path: string): { records: string[], cut: number } | { error: string } {
  try {
    const r = RecordLog.open(path, FORMAT)
    r.log.close()
    return { records: r.records.map(x => dec(x.payload)), cut: r.cutBytes }
  } catch (err) {
    return { error: (err as Error).name }
  }
}

describe('lib durable files', () => {
  let dir: string
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'mycel-lib-')) })
  afterEach(() => { rmSync(dir, { recursive: true, force: true }) })

  describe('record log', () => {
    const records = ['first record', 'a second, longer record with more bytes in it', 'x']

    const writeLog = async (path: string): Promise<Buffer> => {
      const { log } = RecordLog.open(path, FORMAT)
      for (const r of records) log.append(enc(r))
      await log.sync()
      log.close()
      return readFileSync(path)
    }

    it('round-trips records, shares fdatasyncs and continues after a reopen', async () => {
      const path = join(dir, 'a.log')
      const { log } = RecordLog.open(path, FORMAT)
      log.append(enc('one'))
      log.append(enc('two'))
      await Promise.all([log.sync(), log.sync(), log.sync()])
      log.close()
      const again = RecordLog.open(path, FORMAT)
      assert.deepEqual(again.records.map(r => dec(r.payload)), ['one', 'two'])
      assert.equal(again.records[1].end, again.log.offset)
      again.log.append(enc('three'))
      await again.log.sync()
      await again.log.rewrite([enc('only')])
      again.log.append(enc('after'))
      await again.log.sync()
      again.log.close()
      assert.deepEqual(openResult(path), { records: ['only', 'after'], cut: 0 })
    })

    it('detects a damaged byte at every offset of the file (two flip patterns)', async () => {
      const path = join(dir, 'a.log')
      const good = await writeLog(path)
      for (const mask of [0xff, 0x01]) {
        for (let i = 0; i < good.length; i++) {
          const bad = Buffer.from(good)
          bad[i] ^= mask
          writeFileSync(path, bad)
          assert.deepEqual(openResult(path), { error: 'CorruptFileError' }, `byte ${i} ^ 0x${mask.toString(16)} not detected`)
        }
      }
    })

    it('cuts a tail cut short at any offset, keeps every whole record before it, and says how much', async () => {
      const path = join(dir, 'a.log')
      const good = await writeLog(path)
      const ends = [8]
      for (const r of records) ends.push(ends[ends.length - 1] + RECORD_HEADER_BYTES + Buffer.byteLength(r))
      for (let len = 8; len <= good.length; len++) {
        writeFileSync(path, good.subarray(0, len))
        const whole = ends.filter(e => e <= len).length - 1
        assert.deepEqual(openResult(path), { records: records.slice(0, whole), cut: len - ends[whole] }, `truncated to ${len}`)
        assert.equal(readFileSync(path).length, ends[whole], 'the cut is made on disk')
      }
      // Zero-filled tail: a file system that grew the file but never wrote the data.
      writeFileSync(path, Buffer.concat([good, Buffer.alloc(300)]))
      assert.deepEqual(openResult(path), { records, cut: 300 })
    })

    it('property: any single damaged byte is refused, any truncation yields a prefix', async () => {
      await fc.assert(fc.asyncProperty(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 200 }), { minLength: 1, maxLength: 8 }),
        fc.nat(), fc.integer({ min: 1, max: 255 }), fc.nat(),
        async (payloads, at, mask, cutAt) => {
          const path = join(dir, `p-${Math.random()}.log`)
          const { log } = RecordLog.open(path, FORMAT)
          for (const p of payloads) log.append(p)
          await log.sync()
          log.close()
          const good = readFileSync(path)
          const bad = Buffer.from(good)
          bad[at % good.length] ^= mask
          writeFileSync(path, bad)
          assert.throws(() => RecordLog.open(path, FORMAT), { name: 'CorruptFileError' })
          const len = 8 + (cutAt % (good.length - 7))
          writeFileSync(path, good.subarray(0, len))
          const r = RecordLog.open(path, FORMAT)
          r.log.close()
          assert.deepEqual(r.records.map(x => Buffer.from(x.payload)), payloads.slice(0, r.records.length).map(p => Buffer.from(p)))
          assert.equal(r.cutBytes + r.log.offset, len)
        }), { numRuns: Number(process.env.MYCEL_PROPERTY_RUNS ?? 200) })
    })

    it('names the file, the offset and the recovery step; a damaged header is not read as an old layout', async () => {
      const path = join(dir, 'a.log')
      const good = await writeLog(path)
      const bad = Buffer.from(good)
      bad[30] ^= 0x10
      writeFileSync(path, bad)
      let legacyCalls = 0
      assert.throws(() => RecordLog.open(path, FORMAT, { legacy: () => { legacyCalls++; return undefined } }), (err: CorruptFileError) => {
        assert.equal(err.file, path)
        assert.match(err.message, /test log damaged at offset 8 \(record fails its checksum, record 1\)/)
        assert.equal(err.recovery, 'move it aside')
        return true
      })
      const badHeader = Buffer.from(good)
      badHeader[2] = 0x41
      writeFileSync(path, badHeader)
      assert.throws(() => RecordLog.open(path, FORMAT, { legacy: () => { legacyCalls++; return { records: [], cutBytes: 0, layout: 'old' } } }), /not a test log/)
      assert.equal(legacyCalls, 0)
    })

    it('converts an older layout through its reader, gives an empty file a header, and refuses unknown files', async () => {
      const path = join(dir, 'a.log')
      writeFileSync(path, 'OLD:alpha,beta')
      const legacy = (data: Buffer): { records: Uint8Array[], cutBytes: number, layout: string } | undefined =>
        data.toString().startsWith('OLD:') ? { records: data.toString().slice(4).split(',').map(enc), cutBytes: 0, layout: 'old' } : undefined
      const r = RecordLog.open(path, FORMAT, { legacy })
      r.log.close()
      assert.equal(r.convertedFrom, 'old')
      assert.deepEqual(openResult(path), { records: ['alpha', 'beta'], cut: 0 })
      writeFileSync(path, 'something else entirely')
      assert.throws(() => RecordLog.open(path, FORMAT, { legacy }), { name: 'CorruptFileError' })
      // An empty file (only an older layout leaves one: ours starts with its header) opens empty, with a header.
      writeFileSync(path, '')
      const e = RecordLog.open(path, FORMAT)
      e.log.append(enc('after'))
      await e.log.sync()
      e.log.close()
      assert.equal(readFileSync(path).subarray(0, 8).toString(), FORMAT.magic)
      assert.deepEqual(openResult(path), { records: ['after'], cut: 0 })
    })
  })

  describe('sealed single-record file', () => {
    it('detects a damaged byte at every offset, and a wrong length', () => {
      const path = join(dir, 's')
      writeSealedSync(SEALED, path, enc('{"term":3,"holder":"h"}'))
      const good = readFileSync(path)
      assert.equal(good.length, SEALED_OVERHEAD + 23)
      assert.equal(dec((readSealedSync(SEALED, path) as { payload: Uint8Array }).payload), '{"term":3,"holder":"h"}')
      for (let i = 0; i < good.length; i++) {
        for (const mask of [0xff, 0x01, 0x80]) {
          const bad = Buffer.from(good)
          bad[i] ^= mask
          assert.throws(() => unseal(SEALED, path, bad), { name: 'CorruptFileError' }, `byte ${i} ^ ${mask}`)
        }
      }
      assert.throws(() => unseal(SEALED, path, good.subarray(0, good.length - 1)), { name: 'CorruptFileError' })
      assert.throws(() => unseal(SEALED, path, Buffer.concat([good, Buffer.from([0])])), { name: 'CorruptFileError' })
      assert.equal(readSealedSync(SEALED, join(dir, 'absent')), undefined)
    })

    it('reads an old layout only through the owner reader', () => {
      const old = Buffer.from('42\n')
      const r = unseal(SEALED, 'p', old, (d) => /^\d+\n$/.test(Buffer.from(d).toString()) ? d : undefined)
      assert.equal(r.legacy, true)
      assert.throws(() => unseal(SEALED, 'p', Buffer.from('garbage'), () => undefined), /not a test file/)
      assert.equal(dec(unseal(SEALED, 'p', seal(SEALED, enc('x'))).payload), 'x')
    })
  })

  describe('durable writer', () => {
    it('replaces a file whole and leaves no temp file', async () => {
      const path = join(dir, 'sub', 'f')
      await writeFileDurable(path, 'one')
      writeFileDurableSync(path, 'two')
      assert.equal(readFileSync(path, 'utf8'), 'two')
      assert.deepEqual(readdirSync(join(dir, 'sub')), ['f'])
    })

    it('turns an I/O failure into StorageFailedError naming the file, and keeps the old content', async () => {
      const path = join(dir, 'f')
      writeFileSync(path, 'old')
      // The temp file is a link to /dev/full: every write fails with ENOSPC.
      symlinkSync('/dev/full', `${path}.tmp-${process.pid}`)
      await assert.rejects(writeFileDurable(path, 'new'), (err: StorageFailedError) => {
        assert.equal(err.name, 'StorageFailedError')
        assert.equal(err.file, path)
        assert.ok(isFailStop(err))
        return true
      })
      assert.equal(readFileSync(path, 'utf8'), 'old')
      symlinkSync('/dev/full', `${path}.tmp-${process.pid}`)
      assert.throws(() => { writeFileDurableSync(path, 'new') }, { name: 'StorageFailedError' })
      assert.equal(readFileSync(path, 'utf8'), 'old')
    })

    it('reads a file as undefined when absent, its bytes when present, and a StorageFailedError naming it when unreadable', async () => {
      const path = join(dir, 'f')
      assert.equal(await readFileIfExists(path), undefined)
      assert.equal(readFileIfExistsSync(path), undefined)
      writeFileSync(path, 'data')
      assert.equal((await readFileIfExists(path))?.toString(), 'data')
      assert.equal(readFileIfExistsSync(path)?.toString(), 'data')
      // A directory where the file should be: EISDIR, not "absent".
      await assert.rejects(readFileIfExists(dir), { name: 'StorageFailedError', file: dir })
      assert.throws(() => readFileIfExistsSync(dir), { name: 'StorageFailedError', file: dir })
    })
  })

  describe('data dir lock', () => {
    it('is exclusive while held, released on release(), and names the holder', async () => {
      const lock = await DirLock.acquire(dir)
      await assert.rejects(DirLock.acquire(dir), (err: Error) => {
        assert.equal(err.name, 'DataDirLockedError')
        assert.match(err.message, new RegExp(`in use by another mycel agent: pid ${process.pid}`))
        return true
      })
      lock.release()
      lock.release()
      assert.equal(existsSync(join(dir, LOCK_FILE)), false)
      const again = await DirLock.acquire(dir)
      again.release()
    })

    it('creates a data dir that does not exist yet (a first start), owner-only', async () => {
      const fresh = join(dir, 'new', 'data')
      const lock = await DirLock.acquire(fresh)
      assert.equal(existsSync(join(fresh, LOCK_FILE)), true)
      assert.equal(statSync(fresh).mode & 0o777, 0o700)
      lock.release()
    })

    it('takes over a lock whose holder is gone or whose pid was reused', async () => {
      // A process that has exited.
      const child = spawn(process.execPath, ['-e', ''])
      const pid = child.pid as number
      await new Promise(resolve => child.once('exit', resolve))
      writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ ...currentHolder(), pid }))
      assert.equal(holderAlive({ ...currentHolder(), pid }), false)
      const a = await DirLock.acquire(dir)
      a.release()
      // Our own pid but another start time: a reused pid (an agent that was pid 1 in a container, restarted).
      const reused = { ...currentHolder(), startTime: '1' }
      assert.equal(holderAlive(reused), false)
      writeFileSync(join(dir, LOCK_FILE), JSON.stringify(reused))
      const b = await DirLock.acquire(dir)
      b.release()
      // A zombie (exited, its parent has not reaped it): `sleep 0` under a shell that execs into `sleep 3`.
      const sh = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 3'], { stdio: ['ignore', 'pipe', 'ignore'] })
      const zombie = Number(await new Promise<string>(resolve => sh.stdout.once('data', (d: Buffer) => resolve(d.toString()))))
      while (!readFileSync(`/proc/${zombie}/stat`, 'utf8').includes(') Z ')) await new Promise(resolve => setTimeout(resolve, 10))
      assert.equal(holderAlive({ pid: zombie, since: '' }), false)
      sh.kill('SIGKILL')
      // Unreadable and old: left by a crash between create and write.
      writeFileSync(join(dir, LOCK_FILE), '')
      truncateSync(join(dir, LOCK_FILE), 0)
      const past = new Date(Date.now() - 60_000)
      utimesSync(join(dir, LOCK_FILE), past, past)
      const c = await DirLock.acquire(dir)
      c.release()
    })

    it('a takeover guard is judged by its holder: a dead one\'s is cleared at once, a live one\'s is never taken, however old', async () => {
      const child = spawn(process.execPath, ['-e', ''])
      const dead = { ...currentHolder(), pid: child.pid as number }
      await new Promise(resolve => child.once('exit', resolve))
      const lockPath = join(dir, LOCK_FILE)
      const guardPath = `${lockPath}.takeover`
      const stale = JSON.stringify(dead)
      writeFileSync(lockPath, stale)
      writeFileSync(guardPath, JSON.stringify(dead))
      const started = Date.now()
      const a = await DirLock.acquire(dir)
      assert.ok(Date.now() - started < 1_000, `took ${Date.now() - started} ms`)
      a.release()
      // A live holder (this process) that has held the guard for a minute: descheduled, not gone.
      writeFileSync(lockPath, stale)
      writeFileSync(guardPath, JSON.stringify(currentHolder()))
      const past = new Date(Date.now() - 60_000)
      utimesSync(guardPath, past, past)
      const pending = DirLock.acquire(dir)
      await new Promise(resolve => setTimeout(resolve, 300))
      assert.equal(readFileSync(lockPath, 'utf8'), stale, 'the stale lock waits for the guard holder')
      assert.ok(existsSync(guardPath))
      rmSync(guardPath) // the holder finishes (here: without taking the lock)
      const b = await pending
      assert.equal(b.holder.pid, process.pid)
      b.release()
    })

    it('of several processes racing for one stale lock, exactly one takes it', async function () {
      this.timeout(60_000)
      const child = spawn(process.execPath, ['-e', ''])
      const pid = child.pid as number
      await new Promise(resolve => child.once('exit', resolve))
      writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ ...currentHolder(), pid }))
      const go = join(dir, 'go')
      const script = `
        const { existsSync } = await import('node:fs')
        const { DirLock } = await import(${JSON.stringify(new URL('../../lib/dir-lock.ts', import.meta.url).href)})
        console.log('ready')
        while (!existsSync(${JSON.stringify(go)})) await new Promise(r => setTimeout(r, 5))
        try {
          const lock = await DirLock.acquire(${JSON.stringify(dir)})
          console.log('took')
          await new Promise(r => setTimeout(r, 2000))
          lock.release()
        } catch (err) { console.log(err.name) }`
      const racers = Array.from({ length: 4 }, () => spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] }))
      // Every racer has loaded before the start signal, so they contend for real.
      let ready = 0
      const outputs = racers.map(async r => await new Promise<string>(resolve => {
        let out = ''
        r.stdout.on('data', (d: Buffer) => {
          out += d.toString()
          if (d.toString().includes('ready') && ++ready === racers.length) writeFileSync(go, '')
        })
        r.once('exit', () => { resolve(out.replace('ready', '').trim()) })
      }))
      const results = (await Promise.all(outputs)).sort()
      assert.deepEqual(results, ['DataDirLockedError', 'DataDirLockedError', 'DataDirLockedError', 'took'])
    })
  })

  it('fault registry keeps the first fault per component with its file and recovery step', () => {
    const f = new FaultRegistry()
    const seen: string[] = []
    f.onFault(x => seen.push(x.component))
    f.report('critical', new CorruptFileError('/d/bft/bft-wal.log', 'damaged', 'move it aside'))
    f.report('critical', new Error('later consequence'))
    f.report('roles', new Error('plain'))
    assert.deepEqual(seen, ['critical', 'roles'])
    assert.equal(f.get('critical')?.file, '/d/bft/bft-wal.log')
    assert.equal(f.get('critical')?.recovery, 'move it aside')
    assert.equal(f.get('roles')?.file, undefined)
    assert.equal(f.list().length, 2)
  })
})
