/** host/rotating-log.ts: copytruncate rotation keeps `files` files, the newest copy in `.1`, and the child's appends go on. */
import assert from 'node:assert/strict'
import { readFile, readdir, rm, mkdtemp, writeFile } from 'node:fs/promises'
import { writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { closeQuietly, RotatingLog } from '../../host/rotating-log.js'

describe('host/rotating-log', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'mycel-log-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('rotates past maxBytes, keeps at most `files` files, and appends through the open descriptor continue', async () => {
    const log = new RotatingLog(join(dir, 'c.log'), 10, 3)
    const fd = log.openForChild()
    try {
      for (let i = 0; i < 5; i++) {
        writeSync(fd, `line ${i} is long\n`)
        assert.equal(await log.rotateIfNeeded(), true)
      }
      writeSync(fd, 'after\n')
      assert.equal(await log.rotateIfNeeded(), false, 'under the cap')
    } finally { closeQuietly(fd) }
    assert.deepEqual((await readdir(dir)).sort(), ['c.log', 'c.log.1', 'c.log.2'])
    assert.equal(await readFile(join(dir, 'c.log'), 'utf8'), 'after\n')
    assert.equal(await readFile(join(dir, 'c.log.1'), 'utf8'), 'line 4 is long\n')
    assert.equal(await readFile(join(dir, 'c.log.2'), 'utf8'), 'line 3 is long\n')
  })

  it('with one file, rotation only truncates; a missing file is not rotated', async () => {
    const log = new RotatingLog(join(dir, 'c.log'), 4, 1)
    assert.equal(await log.rotateIfNeeded(), false)
    await writeFile(join(dir, 'c.log'), 'abcdefgh')
    assert.equal(await log.rotateIfNeeded(), true)
    assert.deepEqual(await readdir(dir), ['c.log'])
    assert.equal((await readFile(join(dir, 'c.log'))).length, 0)
  })
})
