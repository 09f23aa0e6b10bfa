/** Node key rotation: the hand-over value, the start-up decision on a leftover next key, and the admin route. */
import { strict as assert } from 'node:assert'
import { mkdtemp, readdir, rm, stat, utimes } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { readKeyFile } from '../../lib/key-file.js'
import { createIdentity, loadIdentity, IDENTITY_FILE } from '../../daemon/identity.js'
import {
  ABANDONED_IDENTITY_FILE, LEFTOVER_SLACK_MS, NEXT_IDENTITY_FILE, OLD_IDENTITY_FILE,
  createNextKey, handOverValue, leftoverDecision, rotationRecovery
} from '../../daemon/key-rotation.js'
import { identityRoutes } from '../../daemon/api/routes/identity.js'
import { ALLOW_PREFIX, MAX_GRACE_MS, allowEntryJson, parseAllowEntry } from '../../policy/admission-values.js'
import { MAX_ENTRY_TTL_MS } from '../../protocols/bft/constants.js'
import type { ApiRequest } from '../../daemon/api/router.js'

const logger = pino({ level: 'silent' })
const exists = async (p: string): Promise<boolean> => await stat(p).then(() => true, () => false)

describe('key rotation', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'mycel-rotate-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  describe('hand-over value', () => {
    it('replaces the old id until now + grace, cuts off only the old id\'s own streams, keeps its regions', async () => {
      const old = (await createIdentity(dir)).peerId
      const other = (await createNextKey(dir)).peerId
      const v = handOverValue({
        old,
        now: 1_000,
        graceMs: 600_000,
        versionVector: { app: { [old]: 7, [other]: 9 }, billing: { [other]: 3 }, ops: { [old]: 0 } },
        oldAllow: allowEntryJson({ regions: ['eu', 'us'] })
      })
      assert.deepEqual(parseAllowEntry(v), { regions: ['eu', 'us'], replaces: old, graceUntil: 601_000, cutoff: { app: 7 } })
    })

    it('without an allow entry of the old id the new one has no region restriction either; a grace beyond the cap is refused', async () => {
      const old = (await createIdentity(dir)).peerId
      assert.equal(parseAllowEntry(handOverValue({ old, now: 0, graceMs: 0, versionVector: {} })).regions, undefined)
      assert.throws(() => handOverValue({ old, now: 0, graceMs: MAX_GRACE_MS + 1, versionVector: {} }), { name: 'RotationError' })
    })
  })

  describe('leftover next key', () => {
    const old = '12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN'
    it('finishes when the hand-over from this id is committed, whatever the time', () => {
      const committed = allowEntryJson({ replaces: old, graceUntil: 5, cutoff: {} })
      assert.deepEqual(leftoverDecision({ old, committed, writtenAt: 0, now: 0 }), { action: 'finish' })
      assert.deepEqual(leftoverDecision({ old, committed, writtenAt: 0, now: 10 * MAX_ENTRY_TTL_MS }), { action: 'finish' })
    })
    it('waits while the entry may still commit, discards after; an allow entry not replacing this id does not count', () => {
      const deadline = 1_000 + MAX_ENTRY_TTL_MS + LEFTOVER_SLACK_MS
      for (const committed of [undefined, allowEntryJson({ regions: ['eu'] }), 'not json']) {
        assert.deepEqual(leftoverDecision({ old, committed, writtenAt: 1_000, now: 1_000 }), { action: 'wait', untilMs: deadline })
        assert.deepEqual(leftoverDecision({ old, committed, writtenAt: 1_000, now: deadline - 1 }), { action: 'wait', untilMs: deadline })
        assert.deepEqual(leftoverDecision({ old, committed, writtenAt: 1_000, now: deadline }), { action: 'discard' })
      }
    })

    it('at start: a committed hand-over swaps the files (old kept) and restarts', async () => {
      const id = await createIdentity(dir)
      const next = await createNextKey(dir)
      let restarted = 0
      const part = rotationRecovery({
        dataDir: dir,
        identity: id,
        committed: (k) => k === ALLOW_PREFIX + next.peerId ? allowEntryJson({ replaces: id.peerId, graceUntil: Date.now() + 1000, cutoff: {} }) : undefined,
        onCommit: () => () => {},
        restart: () => { restarted++ },
        logger
      })
      await part.start()
      await new Promise(resolve => setImmediate(resolve))
      assert.equal((await loadIdentity(dir))?.peerId, next.peerId)
      assert.equal(await exists(join(dir, NEXT_IDENTITY_FILE)), false)
      assert.equal(restarted, 1)
      await part.stop()
      const kept = await readKeyFile(join(dir, OLD_IDENTITY_FILE), 'old key', '')
      assert.equal(kept !== undefined && peerIdFromPrivateKey(kept).toString(), id.peerId)
    })

    it('at start: not committed and past the entry\'s expiry, the next key is moved aside and the node keeps its key', async () => {
      const id = await createIdentity(dir)
      await createNextKey(dir)
      const old = new Date(Date.now() - MAX_ENTRY_TTL_MS - LEFTOVER_SLACK_MS - 1000)
      await utimes(join(dir, NEXT_IDENTITY_FILE), old, old)
      let restarted = 0
      const part = rotationRecovery({ dataDir: dir, identity: id, committed: () => undefined, onCommit: () => () => {}, restart: () => { restarted++ }, logger })
      await part.start()
      assert.equal((await loadIdentity(dir))?.peerId, id.peerId)
      assert.deepEqual((await readdir(dir)).sort(), [ABANDONED_IDENTITY_FILE, IDENTITY_FILE])
      assert.equal(restarted, 0)
      await part.stop()
    })

    it('at start: not committed yet and still in time, it waits; a later commit of the hand-over finishes it', async () => {
      const id = await createIdentity(dir)
      const next = await createNextKey(dir)
      let committed: string | undefined
      let fire = (): void => {}
      let restarted = 0
      const part = rotationRecovery({
        dataDir: dir, identity: id, committed: () => committed, onCommit: (fn) => { fire = fn; return () => { fire = () => {} } }, restart: () => { restarted++ }, logger
      })
      await part.start()
      assert.ok(await exists(join(dir, NEXT_IDENTITY_FILE)), 'kept while the entry may commit')
      assert.equal((await loadIdentity(dir))?.peerId, id.peerId)
      committed = allowEntryJson({ replaces: id.peerId, graceUntil: Date.now() + 1000, cutoff: {} })
      const swapped = new Promise<void>(resolve => { const t = setInterval(() => { if (restarted > 0) { clearInterval(t); resolve() } }, 5) })
      fire()
      await swapped
      assert.equal((await loadIdentity(dir))?.peerId, next.peerId)
      await part.stop()
    })
  })

  describe('POST /v1/identity/rotate', () => {
    const request = (body: unknown): ApiRequest => ({ method: 'POST', params: {}, query: new URLSearchParams(), body, signal: new AbortController().signal, raw: undefined as never })

    it('proposes admission/allow/<new> signed as this node and, once committed, swaps the keys', async () => {
      const id = await createIdentity(dir)
      const proposed: Array<[string, string | null]> = []
      const kv = new Map<string, string>([[ALLOW_PREFIX + id.peerId, allowEntryJson({ regions: ['eu'] })]])
      const critical = {
        proposeOwn: async (key: string, value: string | null) => { proposed.push([key, value]); kv.set(key, value as string); return { height: 4 } },
        state: { get: (k: string) => kv.has(k) ? { key: k, value: kv.get(k) as string, height: 1, certificate: null } : undefined }
      }
      const [route] = identityRoutes({ dataDir: dir, identity: id, critical: critical as never, versionVector: () => ({ app: { [id.peerId]: 3 } }), logger })
      const out = await route.handler(request({ graceMs: 60_000 }))
      assert.ok('stream' in out)
      const next = (await loadIdentity(dir))?.peerId as string
      assert.notEqual(next, id.peerId)
      assert.equal(proposed.length, 1)
      assert.equal(proposed[0][0], ALLOW_PREFIX + next)
      const entry = parseAllowEntry(proposed[0][1] as string)
      assert.equal(entry.replaces, id.peerId)
      assert.deepEqual(entry.regions, ['eu'])
      assert.deepEqual(entry.cutoff, { app: 3 })
      assert.ok(await exists(join(dir, OLD_IDENTITY_FILE)))
      assert.equal(((await stat(join(dir, IDENTITY_FILE))).mode & 0o777), 0o600)
    })

    it('a hand-over that expired uncommitted removes the next key and keeps the old one', async () => {
      const id = await createIdentity(dir)
      const critical = {
        proposeOwn: async () => { throw Object.assign(new Error('not committed'), { name: 'CommitTimeoutError' }) },
        state: { get: () => undefined }
      }
      const [route] = identityRoutes({ dataDir: dir, identity: id, critical: critical as never, versionVector: () => ({}), logger })
      await assert.rejects(Promise.resolve(route.handler(request({}))), { name: 'CommitTimeoutError' })
      assert.deepEqual(await readdir(dir), [IDENTITY_FILE])
    })

    it('refuses without a genesis and while a leftover next key waits for its decision', async () => {
      const id = await createIdentity(dir)
      const [noGenesis] = identityRoutes({ dataDir: dir, identity: id, versionVector: () => ({}), logger })
      await assert.rejects(Promise.resolve(noGenesis.handler(request({}))), { status: 409 })
      await createNextKey(dir)
      const [route] = identityRoutes({ dataDir: dir, identity: id, critical: { proposeOwn: async () => { throw new Error('not reached') }, state: { get: () => undefined } } as never, versionVector: () => ({}), logger })
      await assert.rejects(Promise.resolve(route.handler(request({}))), /interrupted rotation/)
    })
  })
})
