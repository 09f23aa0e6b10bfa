/**
 * Subnet claims of the testground runner: a lock held by a live runner, or
 * one a runner is still writing (empty), is respected; a dead runner's lock
 * is taken over.
 */
import { strict as assert } from 'node:assert'
import { mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { claimSubnet, neighbourThresholds, NetnsManager, parseCidr, readNeighbourLimits } from '../../testground/runner/netns.js'

describe('testground runner: subnet claims', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'tg-subnet-test-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('claims a free /16 and writes its pid; a second claim gets another block', async () => {
    const a = await claimSubnet(dir)
    const b = await claimSubnet(dir)
    assert.notEqual(a.cidr, b.cidr)
    const [x, y] = a.cidr.split('.')
    assert.equal(await readFile(join(dir, `tg-subnet-${x}-${y}.lock`), 'utf8'), String(process.pid))
    await a.release()
    assert.equal((await claimSubnet(dir)).cidr, a.cidr, 'a released block is free again')
  })

  it('skips a block whose lock is still being written (empty, fresh), takes over an abandoned or dead one', async () => {
    const first = await claimSubnet(dir)
    await first.release()
    const [x, y] = first.cidr.split('.')
    const lock = join(dir, `tg-subnet-${x}-${y}.lock`)
    await writeFile(lock, '')
    assert.notEqual((await claimSubnet(dir)).cidr, first.cidr, 'a fresh empty lock is a claim in progress')
    await rm(join(dir, `tg-subnet-${x}-${Number(y) + 1}.lock`), { force: true })
    const old = new Date(Date.now() - 60_000)
    await utimes(lock, old, old)
    assert.equal((await claimSubnet(dir)).cidr, first.cidr, 'an empty lock left for a minute is abandoned')
    await writeFile(lock, '2147483646') // no such process
    assert.equal((await claimSubnet(dir)).cidr, first.cidr, "a dead runner's lock is taken over")
  })
})

describe('testground runner: neighbour table', () => {
  it('sizes the limits for every instance to know every other one', () => {
    for (const n of [5, 50, 100]) {
      const [t1, t2, t3] = neighbourThresholds(n)
      assert.ok(t1 <= t2 && t2 <= t3)
      assert.ok(t2 >= n * (n - 1), `N=${n}: soft limit ${t2} below the ${n * (n - 1)} entries a full mesh needs`)
    }
    assert.deepEqual(neighbourThresholds(5), [128, 512, 1024], 'small runs leave kernel defaults alone')
  })

  it('raises the host limits for a large run and puts the old ones back (root only)', async function () {
    if (process.getuid?.() !== 0) this.skip()
    const before = await readNeighbourLimits()
    const mgr = new NetnsManager('nbtest', parseCidr('16.250.0.0/16'), '16.250.0.1')
    const line = await mgr.sizeNeighbourTable(400)
    const during = await readNeighbourLimits()
    assert.ok(during[2] >= neighbourThresholds(400)[2], `gc_thresh3 ${during[2]}`)
    assert.equal(line === undefined, before.every((v, i) => v >= during[i]))
    assert.deepEqual(await mgr.destroy(), [])
    assert.deepEqual(await readNeighbourLimits(), before)
  })
})
