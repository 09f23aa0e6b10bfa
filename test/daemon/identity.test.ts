/** The identity key checks itself: any damaged byte is refused, never a silently different peer id. */
import { strict as assert } from 'node:assert'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createIdentity, loadIdentity, loadOrCreateIdentity, IDENTITY_FILE } from '../../daemon/identity.js'

describe('identity key', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'mycel-id-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('loads what it wrote', async () => {
    const a = await createIdentity(dir)
    assert.equal((await loadOrCreateIdentity(dir)).peerId, a.peerId)
  })

  it('detects a damaged byte at every offset (CorruptFileError naming the file and the recovery)', async () => {
    await createIdentity(dir)
    const path = join(dir, IDENTITY_FILE)
    const good = await readFile(path)
    for (let i = 0; i < good.length; i++) {
      for (const mask of [0x01, 0x80, 0xff]) {
        const bad = Buffer.from(good)
        bad[i] ^= mask
        await writeFile(path, bad)
        await assert.rejects(loadIdentity(dir), (err: Error & { file?: string, recovery?: string }) => {
          assert.equal(err.name, 'CorruptFileError', `byte ${i} ^ ${mask}: ${err.message}`)
          assert.equal(err.file, path)
          assert.match(err.recovery ?? '', /backup/)
          return true
        }, `byte ${i} ^ ${mask}`)
      }
    }
  })
})
