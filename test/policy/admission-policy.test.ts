/**
 * The admission policy (policy/admission-*.ts): every node's reading of the
 * committed keys, the validators' authority over token redemptions, key
 * hand-overs and self-revocation, grant use counting, and the revoked
 * writer's cut-off.
 */
import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { CriticalState, type CriticalChange, type CriticalConfig, type CriticalValue } from '../../protocols/bft/critical-state.js'
import { createGenesis } from '../../protocols/bft/genesis.js'
import { ed25519Signer, ed25519Verifier, signEntry } from '../../protocols/bft/crypto.js'
import { POLICY_KEY_RULES } from '../../policy/key-rules.js'
import { admissionAuthority } from '../../policy/admission-authority.js'
import { AdmissionPolicyView } from '../../policy/admission-policy.js'
import { ALLOW_PREFIX, REVOKED_PREFIX, allowEntryJson, parseAllowEntry, revokedEntryJson } from '../../policy/admission-values.js'
import { createJoinToken, encodeJoinToken, joinTokenText, parseJoinTokenText } from '../../policy/join-token.js'
import { checkRedemption, redemption } from '../../policy/join-redemption.js'
import { withRevocationCutoff } from '../../policy/revocation-cutoff.js'
import { staticAccessPolicy } from '../../crdt/access.js'
import { randomBytes } from 'node:crypto'
import type { Entry } from '../../protocols/bft/types.js'

interface Key { key: PrivateKey, id: string }
async function newKey (): Promise<Key> {
  const key = await generateKeyPair('Ed25519')
  return { key, id: peerIdFromPrivateKey(key).toString() }
}

/** A committed-config stand-in for the view's reading rules. */
class Table implements CriticalConfig {
  readonly kv = new Map<string, string>()
  private readonly listeners = new Set<(c: CriticalChange) => void>()
  set (key: string, value: string): void {
    this.kv.set(key, value)
    for (const l of this.listeners) l({ key, value, height: 1, certificate: { block: { time: Date.now() } } } as unknown as CriticalChange)
  }

  get (key: string): CriticalValue | undefined { const v = this.kv.get(key); return v === undefined ? undefined : { key, value: v, height: 1, certificate: null } }
  entries (): CriticalValue[] { return [...this.kv.keys()].sort().map(k => this.get(k) as CriticalValue) }
  height (): number { return 1 }
  onChange (l: (c: CriticalChange) => void): () => void { this.listeners.add(l); return () => { this.listeners.delete(l) } }
}

describe('admission policy', function () {
  this.timeout(60_000)
  let admin: Key
  let validator: Key
  let keys: Key[]

  before(async () => {
    admin = await newKey()
    validator = await newKey()
    keys = await Promise.all(Array.from({ length: 6 }, async () => await newKey()))
  })

  it('standing follows the committed keys: revoked wins, open admits the rest, an allowlist only validators, admins, listed and allowed peers (property)', async () => {
    const ids = keys.map(k => k.id)
    await fc.assert(fc.asyncProperty(
      fc.constantFrom('open', 'allowlist'),
      fc.subarray(ids), fc.subarray(ids), fc.subarray(ids),
      fc.option(fc.constantFrom('eu', 'us'), { nil: undefined }),
      async (mode, inline, allowed, revoked, region) => {
        const t = new Table()
        t.set('bft/validators', JSON.stringify([validator.id]))
        t.set('bft/admins', JSON.stringify([admin.id]))
        t.set('admission', mode === 'open' ? '{"mode":"open"}' : JSON.stringify({ mode, allow: inline }))
        for (const id of allowed) t.set(ALLOW_PREFIX + id, allowEntryJson({ regions: ['eu'] }))
        for (const id of revoked) t.set(REVOKED_PREFIX + id, revokedEntryJson({ reason: 'x', cutoff: {} }))
        const view = new AdmissionPolicyView(t)
        for (const id of [...ids, admin.id, validator.id]) {
          const expected = revoked.includes(id)
            ? 'revoked'
            : mode === 'open' || id === admin.id || id === validator.id || inline.includes(id) || (allowed.includes(id) && (region === undefined || region === 'eu'))
              ? 'admitted'
              : 'not-allowed'
          assert.equal(view.standing(id, region), expected, `${id} in ${mode}`)
          // What `admission mode allowlist` checks before closing the network: the allowlist rule, whatever the mode.
          const listed = !revoked.includes(id) && (id === admin.id || id === validator.id || (mode === 'allowlist' && inline.includes(id)) || allowed.includes(id))
          assert.equal(view.onAllowlist(id), listed, `${id} on the allowlist in ${mode}`)
        }
      }), { numRuns: 60 })
  })

  it('tells listeners when the policy changes and when a hand-over grace ends', async () => {
    const t = new Table()
    let now = 1_000
    const view = new AdmissionPolicyView(t, () => now)
    let changes = 0
    view.onChange(() => { changes++ })
    t.set(ALLOW_PREFIX + keys[1].id, allowEntryJson({ replaces: keys[0].id, graceUntil: 2_000, cutoff: { app: 3 } }))
    assert.equal(changes, 1)
    assert.equal(view.standing(keys[0].id), 'admitted')
    assert.equal(view.cutoff(keys[0].id), undefined)
    now = 2_000
    assert.equal(view.standing(keys[0].id), 'revoked')
    assert.deepEqual(view.cutoff(keys[0].id), { app: 3 })
    assert.match(view.explain(keys[0].id), /rotated to/)
  })

  it('refuses malformed values and deleting a revocation, for every key (the rules validators run)', () => {
    const rules = new Map(POLICY_KEY_RULES)
    const rule = (k: string): ((v: string | null, key: string) => void) => rules.get(k) as (v: string | null, key: string) => void
    assert.throws(() => { rule('admission')('{"mode":"closed"}', 'admission') })
    assert.throws(() => { rule('admission')('{"mode":"allowlist","allow":["nope"]}', 'admission') })
    assert.doesNotThrow(() => { rule('admission')(null, 'admission') })
    assert.throws(() => { rule(ALLOW_PREFIX)('{}', ALLOW_PREFIX + 'not-a-peer') }, /not an Ed25519 peer id/)
    assert.throws(() => { rule(ALLOW_PREFIX)('{"regions":["Bad Region"]}', ALLOW_PREFIX + keys[0].id) })
    assert.throws(() => { rule(ALLOW_PREFIX)(`{"replaces":"${keys[1].id}"}`, ALLOW_PREFIX + keys[0].id) }, /together/)
    assert.throws(() => { rule(REVOKED_PREFIX)(null, REVOKED_PREFIX + keys[0].id) }, /cannot be deleted/)
    assert.doesNotThrow(() => { rule(REVOKED_PREFIX)(revokedEntryJson({ reason: 'r', cutoff: { a: 1 } }), REVOKED_PREFIX + keys[0].id) })
  })

  describe('in critical config (validators\' checks)', () => {
    let genesis: ReturnType<typeof createGenesis>
    let state: CriticalState
    beforeEach(async () => {
      genesis = createGenesis({ networkId: 't', validators: [validator.id], admins: [admin.id], values: { admission: '{"mode":"allowlist","allow":[]}' } })
      state = new CriticalState({ genesis, verify: ed25519Verifier(), store: { load: async () => [], append: async () => {}, sync: async () => {}, close: async () => {} } as never, keyRules: POLICY_KEY_RULES, authorities: [admissionAuthority] })
    })
    const token = async (uses: number, o: { ttlMs?: number, signer?: Key, regions?: string[] } = {}): Promise<Awaited<ReturnType<typeof createJoinToken>>> =>
      await createJoinToken({ chain: state.chain, admin: (o.signer ?? admin).id, key: (o.signer ?? admin).key, ttlMs: o.ttlMs ?? 60_000, uses, ...(o.regions !== undefined ? { regions: o.regions } : {}) })

    it('accepts a redemption of an admin\'s token and counts its uses in a block and across blocks', async () => {
      const t = await token(2)
      assert.equal(parseJoinTokenText(joinTokenText(t)).expiresAt, t.expiresAt)
      const r1 = await redemption(t, keys[0].key, keys[0].id)
      const r2 = await redemption(t, keys[1].key, keys[1].id)
      const r3 = await redemption(t, keys[2].key, keys[2].id)
      const tally = new Map<string, number>()
      await state.validateEntry(r1, 1, tally)
      await state.validateEntry(r2, 1, tally)
      await assert.rejects(state.validateEntry(r3, 1, tally), /already used 2 of 2/)
      assert.deepEqual(parseAllowEntry(r1.value as string).token?.length, 32)
    })

    it('refuses forged, foreign, altered, overlong and revoked redemptions', async () => {
      const forged = await token(1, { signer: keys[5] })
      await assert.rejects(state.validateEntry(await redemption(forged, keys[0].key, keys[0].id), 1), /not an admin/)
      const t = await token(1, { regions: ['eu'] })
      const good = await redemption(t, keys[0].key, keys[0].id)
      // Someone else's name on the key.
      const other = await signEntry(ed25519Signer(keys[1].key, keys[1].id), state.chain, { key: ALLOW_PREFIX + keys[0].id, value: good.value, nonce: new Uint8Array(randomBytes(16)), expiresAt: good.expiresAt, grant: good.grant })
      await assert.rejects(state.validateEntry(other, 1), /only the peer that signs/)
      // More than the token grants.
      const wider = await signEntry(ed25519Signer(keys[0].key, keys[0].id), state.chain, { key: good.key, value: allowEntryJson({ token: parseAllowEntry(good.value as string).token }), nonce: new Uint8Array(randomBytes(16)), expiresAt: good.expiresAt, grant: good.grant })
      await assert.rejects(state.validateEntry(wider, 1), /differs from what the join token grants/)
      // A tampered token.
      const bytes = encodeJoinToken(t)
      const tampered = Uint8Array.from(bytes); tampered[tampered.length - 1] ^= 1
      const bad = await signEntry(ed25519Signer(keys[0].key, keys[0].id), state.chain, { key: good.key, value: good.value, nonce: new Uint8Array(randomBytes(16)), expiresAt: good.expiresAt, grant: tampered })
      await assert.rejects(state.validateEntry(bad, 1))
      // A non-admin's plain entry.
      const plain = await signEntry(ed25519Signer(keys[0].key, keys[0].id), state.chain, { key: ALLOW_PREFIX + keys[0].id, value: '{}', nonce: new Uint8Array(randomBytes(16)), expiresAt: Date.now() + 60_000 })
      await assert.rejects(state.validateEntry(plain, 1), /not an admin/)
    })

    it('checkRedemption tells the joiner why: expired, used up, signed by someone else', async () => {
      const relayed: Entry[] = []
      const relay = async (e: Entry): Promise<void> => { relayed.push(e); await state.validateEntry(e, state.height() + 1) }
      const t = await token(1)
      const r = await redemption(t, keys[0].key, keys[0].id)
      const { encodeEntry } = await import('../../protocols/bft/messages.js')
      assert.equal(await checkRedemption(state, keys[0].id, encodeEntry(r), relay), undefined)
      assert.equal(relayed.length, 1)
      assert.equal((await checkRedemption(state, keys[1].id, encodeEntry(r), relay))?.reason, 'token_invalid')
      assert.equal((await checkRedemption(state, keys[0].id, encodeEntry(r), relay, t.expiresAt + 1))?.reason, 'token_expired')
      assert.equal((await checkRedemption(state, keys[0].id, new Uint8Array([1, 2, 3]), relay))?.reason, 'token_invalid')
    })

    it('lets a node hand over to one new key and revoke itself, nothing more', async () => {
      const allowOld = await signEntry(ed25519Signer(admin.key, admin.id), state.chain, { key: ALLOW_PREFIX + keys[0].id, value: '{}', nonce: new Uint8Array(randomBytes(16)), expiresAt: Date.now() + 60_000 })
      await state.validateEntry(allowOld, 1)
      const handOver = async (from: Key, to: Key, graceMs = 60_000): Promise<Entry> => await signEntry(ed25519Signer(from.key, from.id), state.chain, {
        key: ALLOW_PREFIX + to.id, value: allowEntryJson({ replaces: from.id, graceUntil: Date.now() + graceMs, cutoff: {} }), nonce: new Uint8Array(randomBytes(16)), expiresAt: Date.now() + 60_000
      })
      // Not on the allowlist: nothing to hand over.
      await assert.rejects(state.validateEntry(await handOver(keys[2], keys[3]), 1), /not admitted/)
      await assert.rejects(state.validateEntry(await handOver(keys[2], keys[3], 48 * 3600_000), 1))
      const self = await signEntry(ed25519Signer(keys[2].key, keys[2].id), state.chain, { key: REVOKED_PREFIX + keys[2].id, value: revokedEntryJson({ reason: 'me', cutoff: {} }), nonce: new Uint8Array(randomBytes(16)), expiresAt: Date.now() + 60_000 })
      await state.validateEntry(self, 1)
      const other = await signEntry(ed25519Signer(keys[2].key, keys[2].id), state.chain, { key: REVOKED_PREFIX + keys[3].id, value: revokedEntryJson({ reason: 'you', cutoff: {} }), nonce: new Uint8Array(randomBytes(16)), expiresAt: Date.now() + 60_000 })
      await assert.rejects(state.validateEntry(other, 1), /not an admin/)
    })
  })

  it('refuses a revoked writer\'s envelopes after its cut-off, and its new writes, and keeps the rest (property)', async () => {
    const t = new Table()
    const view = new AdmissionPolicyView(t)
    const access = withRevocationCutoff(staticAccessPolicy({}), () => view)
    t.set(REVOKED_PREFIX + keys[0].id, revokedEntryJson({ reason: 'r', cutoff: { app: 5 } }))
    fc.assert(fc.property(fc.constantFrom('app', 'other'), fc.integer({ min: 1, max: 20 }), fc.constantFrom(0, 1), (ns, seq, who) => {
      const writer = keys[who].id
      const expected = who === 1 || (ns === 'app' && seq <= 5)
      assert.equal(access.canWrite(ns, writer, seq), expected)
    }))
    assert.equal(access.canWrite('app', keys[0].id), false)
    assert.equal(access.canWrite('app', keys[1].id), true)
  })
})
