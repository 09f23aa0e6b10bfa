import { strict as assert } from 'node:assert'
import { createHash, randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile, mkdir, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import {
  signLease, decodeLease, validateLeaseRecord, selectLeaseRecord, leaseKey, parseLeaseKey, leaseStatus,
  roleKey, rankCandidates, pickHolder, FencingStore, encodeAction, decodeAction, type Lease
} from '../../../protocols/election/index.js'
import { encodeCbor } from '../../../wire/codec.js'
import { FENCING_FILE, LEGACY_FENCING_FILE } from '../../../protocols/election/fencing.js'

const NAMED = new Set(['MalformedMessageError', 'OversizedMessageError', 'InvalidSignatureError', 'UnsupportedVersionError', 'InvalidLeaseError'])

async function key (): Promise<{ key: PrivateKey, id: string }> {
  const k = await generateKeyPair('Ed25519')
  return { key: k, id: peerIdFromPrivateKey(k).toString() }
}

function lease (holder: string, patch: Partial<Lease> = {}): Lease {
  const now = Date.now()
  return { v: 1, region: 'eu', role: 'network', holder, term: 1, issuedAt: now, expiresAt: now + 15_000, ...patch }
}

describe('election: lease records', () => {
  it('round-trips and validates under its own key', async () => {
    const a = await key()
    const sl = await signLease(lease(a.id), a.key)
    const back = await decodeLease(sl.record)
    assert.deepEqual(back.lease, sl.lease)
    await validateLeaseRecord(leaseKey('eu', 'network'), sl.record)
    assert.deepEqual(parseLeaseKey(leaseKey('eu', 'network')), { region: 'eu', role: 'network' })
  })

  it('rejects a lease signed by someone other than the holder it names', async () => {
    const a = await key()
    const b = await key()
    const forged = await signLease(lease(a.id), b.key)
    await assert.rejects(decodeLease(forged.record), { name: 'InvalidSignatureError' })
  })

  it('rejects a lease stored under another region/role key, and non-lease keys', async () => {
    const a = await key()
    const sl = await signLease(lease(a.id), a.key)
    await assert.rejects(validateLeaseRecord(leaseKey('us', 'network'), sl.record), { name: 'InvalidLeaseError' })
    await assert.rejects(validateLeaseRecord(leaseKey('eu', 'update'), sl.record), { name: 'InvalidLeaseError' })
    await assert.rejects(validateLeaseRecord(new TextEncoder().encode('/mycel/other/x'), sl.record), { name: 'InvalidLeaseError' })
  })

  it('rejects insane times: too long, ends before it starts, issued far in the future', async () => {
    const a = await key()
    const now = Date.now()
    for (const patch of [{ expiresAt: now + 11 * 60_000, issuedAt: now }, { issuedAt: now, expiresAt: now - 1 }, { issuedAt: now + 120_000, expiresAt: now + 130_000 }]) {
      const sl = await signLease(lease(a.id, patch), a.key)
      await assert.rejects(decodeLease(sl.record), { name: 'InvalidLeaseError' })
    }
  })

  it('keeps expired leases valid (they carry the term history)', async () => {
    const a = await key()
    const sl = await signLease(lease(a.id, { issuedAt: 1000, expiresAt: 2000 }), a.key)
    await validateLeaseRecord(leaseKey('eu', 'network'), sl.record)
    assert.equal(leaseStatus(sl.lease, Date.now(), 100), 'expired')
  })

  it('throws only named errors on random garbage', async () => {
    for (let i = 0; i < 300; i++) {
      const junk = i % 3 === 0 ? randomBytes(i) : encodeCbor({ v: 1, lease: randomBytes(i % 50), sig: randomBytes(64) })
      try {
        await decodeLease(junk)
        assert.fail('garbage accepted')
      } catch (err) {
        assert.ok(NAMED.has((err as Error).name), `unexpected ${(err as Error).name}: ${(err as Error).message}`)
      }
      try { await decodeAction(junk); assert.fail('garbage accepted') } catch (err) { assert.ok(NAMED.has((err as Error).name)) }
    }
  })

  it('selector prefers the higher term, then the higher holder, then the holder\'s latest statement', async () => {
    const a = await key()
    const b = await key()
    const [lo, hi] = a.id < b.id ? [a, b] : [b, a]
    const t1 = await signLease(lease(hi.id, { term: 1 }), hi.key)
    const t2 = await signLease(lease(lo.id, { term: 2 }), lo.key)
    const t2hi = await signLease(lease(hi.id, { term: 2 }), hi.key)
    assert.equal(selectLeaseRecord(leaseKey('eu', 'network'), [t1.record, t2.record]), 1)
    assert.equal(selectLeaseRecord(leaseKey('eu', 'network'), [t2hi.record, t2.record]), 0)
    const now = Date.now()
    const held = await signLease(lease(lo.id, { term: 3, issuedAt: now, expiresAt: now + 10_000 }), lo.key)
    const released = await signLease(lease(lo.id, { term: 3, issuedAt: now + 5, expiresAt: now + 5 }), lo.key)
    assert.equal(selectLeaseRecord(leaseKey('eu', 'network'), [held.record, released.record, randomBytes(20)]), 1)
    assert.equal(leaseStatus(released.lease, now, 0), 'released')
  })

  it('holder view stops skew early, others wait skew after expiry', () => {
    const l = lease('x', { issuedAt: 0, expiresAt: 10_000 })
    assert.equal(leaseStatus(l, 9_100, 1000, true), 'expired')
    assert.equal(leaseStatus(l, 9_100, 1000, false), 'active')
    assert.equal(leaseStatus(l, 10_900, 1000, false), 'active')
    assert.equal(leaseStatus(l, 11_000, 1000, false), 'expired')
  })

  it('signed role actions round-trip and reject forgery', async () => {
    const a = await key()
    const b = await key()
    const action = { v: 1 as const, region: 'eu', role: 'network', term: 4, holder: a.id, kind: 'topology', issuedAt: 1, body: encodeCbor({ x: 1 }) }
    assert.deepEqual(await decodeAction(await encodeAction(action, a.key)), action)
    await assert.rejects(decodeAction(await encodeAction(action, b.key)), { name: 'InvalidSignatureError' })
  })
})

describe('election: rule', () => {
  it('role key is sha256 of the role name', () => {
    const k = roleKey('eu', 'network')
    assert.deepEqual(Buffer.from(k), createHash('sha256').update('mycel/role/eu/network').digest())
  })

  it('ranks only eligible candidates of the region, deterministically', async () => {
    const ids = await Promise.all(Array.from({ length: 8 }, async () => (await key()).id))
    const cands = ids.map((peerId, i) => ({ peerId, region: i < 6 ? 'eu' : 'us', roles: i === 0 ? ['update'] : ['network', 'update'] }))
    const ranked = rankCandidates('eu', 'network', cands)
    assert.equal(ranked.length, 5)
    assert.ok(!ranked.includes(ids[0]) && !ranked.includes(ids[6]))
    assert.deepEqual(rankCandidates('eu', 'network', [...cands].reverse()), ranked)
    assert.equal(pickHolder('eu', 'network', cands), ranked[0])
    // Removing the winner promotes the runner-up.
    assert.equal(pickHolder('eu', 'network', cands.filter(c => c.peerId !== ranked[0])), ranked[1])
    assert.equal(pickHolder('nowhere', 'network', cands), undefined)
  })
})

describe('election: fencing store', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'mycel-fence-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('accepts non-decreasing tokens and rejects lower ones', () => {
    const f = new FencingStore()
    assert.equal(f.check('eu', 'network', { term: 2, holder: 'b' }), 'raised')
    assert.equal(f.check('eu', 'network', { term: 2, holder: 'b' }), 'current')
    assert.equal(f.check('eu', 'network', { term: 1, holder: 'z' }), 'stale')
    assert.equal(f.check('eu', 'network', { term: 2, holder: 'a' }), 'stale')
    assert.equal(f.check('eu', 'network', { term: 2, holder: 'c' }), 'raised')
    assert.equal(f.check('eu', 'network', { term: 2, holder: 'b' }), 'stale')
    assert.equal(f.check('us', 'network', { term: 1, holder: 'a' }), 'raised')
    assert.deepEqual(f.highest('eu', 'network'), { term: 2, holder: 'c' })
  })

  it('remembers the highest tokens across a restart', async () => {
    const f = new FencingStore({ dataDir: dir })
    f.check('eu', 'network', { term: 7, holder: 'h' })
    f.check('eu.west', 'config', { term: 3, holder: 'g' })
    await f.flush()
    const g = new FencingStore({ dataDir: dir })
    await g.load()
    assert.equal(g.check('eu', 'network', { term: 6, holder: 'z' }), 'stale')
    assert.deepEqual(g.highest('eu.west', 'config'), { term: 3, holder: 'g' })
  })

  it('refuses a garbage fencing file (old JSON layout or current) and never overwrites it', async () => {
    await mkdir(join(dir, 'election'), { recursive: true })
    for (const [file, garbage] of [[LEGACY_FENCING_FILE, '{nope'], [LEGACY_FENCING_FILE, '{"eu/network":{"term":"x","holder":"h"}}'], [LEGACY_FENCING_FILE, '[]'], [FENCING_FILE, 'MYCELFN1 garbage']]) {
      await rm(join(dir, 'election'), { recursive: true, force: true })
      await mkdir(join(dir, 'election'), { recursive: true })
      await writeFile(join(dir, file), garbage)
      const f = new FencingStore({ dataDir: dir })
      await assert.rejects(f.load(), (err: Error & { file?: string, recovery?: string }) => {
        assert.equal(err.name, 'CorruptFileError')
        assert.equal(err.file, join(dir, file))
        assert.match(err.recovery ?? '', /move this file aside/)
        return true
      }, `${file}: ${garbage}`)
      // A store that refused its file writes nothing over it (the damaged file stays as evidence).
      f.check('eu', 'network', { term: 9, holder: 'h' })
      await f.flush()
      assert.equal(await readFile(join(dir, file), 'utf8'), garbage)
    }
  })

  it('detects a damaged byte at every offset of the fencing file', async () => {
    const f = new FencingStore({ dataDir: dir })
    f.check('eu', 'network', { term: 7, holder: 'h' })
    await f.flush()
    const path = join(dir, FENCING_FILE)
    const good = await readFile(path)
    for (let i = 0; i < good.length; i++) {
      const bad = Buffer.from(good)
      bad[i] ^= (i % 2 === 0 ? 0x01 : 0xff)
      await writeFile(path, bad)
      await assert.rejects(new FencingStore({ dataDir: dir }).load(), { name: 'CorruptFileError' }, `byte ${i}`)
    }
  })

  it('reads the old JSON layout and replaces it with the checksummed one', async () => {
    await mkdir(join(dir, 'election'), { recursive: true })
    await writeFile(join(dir, LEGACY_FENCING_FILE), JSON.stringify({ 'eu/network': { term: 4, holder: 'h' } }))
    const f = new FencingStore({ dataDir: dir })
    await f.load()
    assert.deepEqual(f.highest('eu', 'network'), { term: 4, holder: 'h' })
    f.check('eu', 'network', { term: 5, holder: 'h' })
    await f.flush()
    assert.equal(existsSync(join(dir, LEGACY_FENCING_FILE)), false)
    const g = new FencingStore({ dataDir: dir })
    await g.load()
    assert.deepEqual(g.highest('eu', 'network'), { term: 5, holder: 'h' })
  })
})
