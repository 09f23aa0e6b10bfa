/**
 * Publisher trust (policy/publisher-trust.ts): the one format rule, the two
 * sources (committed critical config with a genesis, the agent config
 * without), and the rule enforced where a value enters critical config
 * (every validator's entry check, the genesis values).
 */
import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { checkPublishers, parsePublishersValue, publisherTrust, InvalidPublishersError, MAX_PUBLISHERS, PUBLISHERS_KEY } from '../../policy/publisher-trust.js'
import { POLICY_KEY_RULES } from '../../policy/key-rules.js'
import { CriticalState, type CriticalChange, type CriticalConfig, type CriticalValue } from '../../protocols/bft/critical-state.js'
import { createGenesis } from '../../protocols/bft/genesis.js'
import { MemoryBlockStore } from '../../protocols/bft/block-store.js'
import { ed25519Signer, ed25519Verifier, signEntry, type BftSigner } from '../../protocols/bft/crypto.js'
import { InvalidEntryError, InvalidGenesisError } from '../../protocols/bft/errors.js'
import { defaults, resolveConfig } from '../../daemon/config.js'

const RUNS = Number(process.env.MYCEL_PROPERTY_RUNS ?? 200)

async function signer (seed: number): Promise<BftSigner> {
  const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(seed))
  return ed25519Signer(key, peerIdFromPrivateKey(key).toString())
}

/** A critical config whose value the test sets, with change events (a fake: the real one needs certified blocks). */
function fakeCritical (): CriticalConfig & { set: (key: string, value: string | null) => void } {
  const kv = new Map<string, CriticalValue>()
  const listeners = new Set<(c: CriticalChange) => void>()
  return {
    get: (k) => kv.get(k),
    entries: () => [...kv.values()],
    height: () => 0,
    onChange: (l) => { listeners.add(l); return () => { listeners.delete(l) } },
    set (key, value) {
      if (value === null) kv.delete(key)
      else kv.set(key, { key, value, height: 1 } as unknown as CriticalValue)
      for (const l of listeners) l({ key, value, height: 1 } as unknown as CriticalChange)
    }
  }
}

describe('publisher trust', () => {
  let ids: string[]
  before(async () => { ids = await Promise.all(Array.from({ length: 12 }, async (_, i) => (await signer(30 + i)).id)) })

  it('the format rule keeps exactly the ids given, deduplicated and sorted (property); anything else is refused naming it', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 11 }), { maxLength: 30 }), (picks) => {
      const given = picks.map(i => ids[i])
      const out = checkPublishers(given)
      assert.deepEqual(out, [...new Set(given)].sort())
      assert.deepEqual(parsePublishersValue(JSON.stringify(given)), out)
    }), { numRuns: RUNS })
    fc.assert(fc.property(fc.string({ maxLength: 60 }).filter(s => !ids.includes(s)), (bad) => {
      assert.throws(() => checkPublishers([ids[0], bad]), (err: Error) => err instanceof InvalidPublishersError && err.message.includes('is not a publisher id'))
    }), { numRuns: RUNS })
    assert.throws(() => checkPublishers('x'), InvalidPublishersError)
    assert.throws(() => checkPublishers(Array.from({ length: MAX_PUBLISHERS + 1 }, () => ids[0])), /at most 256/)
    assert.throws(() => parsePublishersValue('{"a":1'), /JSON array/)
    assert.deepEqual(parsePublishersValue(null), [])
  })

  it('without a genesis the agent config decides; with one the committed key decides, and follows its changes', () => {
    const local = publisherTrust({ configured: [ids[1], ids[0]] })
    assert.equal(local.source, 'config')
    assert.ok(local.trusts(ids[0]) && local.trusts(ids[1]) && !local.trusts(ids[2]))

    const critical = fakeCritical()
    const trust = publisherTrust({ critical, configured: [ids[0]] })
    assert.equal(trust.source, 'critical')
    assert.equal(trust.trusts(ids[0]), false, 'with a genesis the config list is ignored; no committed key trusts nobody')
    let changes = 0
    trust.onChange(() => { changes++ })
    critical.set(PUBLISHERS_KEY, JSON.stringify([ids[3], ids[2]]))
    assert.deepEqual(trust.list(), [ids[3], ids[2]].sort())
    assert.ok(trust.trusts(ids[2]) && !trust.trusts(ids[0]))
    critical.set('other', '1')
    critical.set(PUBLISHERS_KEY, 'not json')
    assert.equal(trust.trusts(ids[2]), false)
    assert.match(trust.problem() ?? '', /cannot be read, so no publisher is trusted/)
    critical.set(PUBLISHERS_KEY, null)
    assert.deepEqual(trust.list(), [])
    assert.equal(changes, 3)
  })

  it('critical config refuses a malformed publishers entry from an admin, and a genesis with one', async () => {
    const vals = await Promise.all([1, 2, 3, 4].map(signer))
    const admin = vals[0]
    const genesis = createGenesis({ networkId: 'unit', validators: vals.map(v => v.id), admins: [admin.id], createdAt: new Date(0) })
    const state = new CriticalState({ genesis, verify: ed25519Verifier(), store: new MemoryBlockStore(), keyRules: POLICY_KEY_RULES })
    const entry = async (value: string | null, n: number): Promise<Parameters<CriticalState['validateEntry']>[0]> =>
      await signEntry(admin, state.chain, { key: PUBLISHERS_KEY, value, nonce: new Uint8Array(16).fill(n), expiresAt: Date.now() + 60_000 })
    await state.validateEntry(await entry(JSON.stringify([ids[0]]), 1), 1)
    await state.validateEntry(await entry(null, 2), 1)
    await assert.rejects(state.validateEntry(await entry('["nope"]', 3), 1), (err: Error) => err instanceof InvalidEntryError && /^publishers: nope is not a publisher id/.test(err.message))
    // Without the rule (a release before it) the same entry passes: the rule is what refuses it.
    const bare = new CriticalState({ genesis, verify: ed25519Verifier(), store: new MemoryBlockStore() })
    await bare.validateEntry(await signEntry(admin, bare.chain, { key: PUBLISHERS_KEY, value: '["nope"]', nonce: new Uint8Array(16).fill(4), expiresAt: Date.now() + 60_000 }), 1)

    const badGenesis = createGenesis({ networkId: 'unit', validators: vals.map(v => v.id), admins: [admin.id], values: { publishers: '["nope"]' }, createdAt: new Date(0) })
    assert.throws(() => new CriticalState({ genesis: badGenesis, verify: ed25519Verifier(), store: new MemoryBlockStore(), keyRules: POLICY_KEY_RULES }), InvalidGenesisError)
  })

  it('the agent config takes publishers (flag --publisher) by the same rule', () => {
    assert.deepEqual(resolveConfig(defaults(), { publishers: [ids[0]] }).publishers, [ids[0]])
    assert.deepEqual(resolveConfig(defaults()).publishers, [])
    assert.throws(() => resolveConfig(defaults(), { publishers: ['nope'] }), (err: Error) => err.name === 'ConfigError' && /publishers/.test(err.message) && /not a publisher id/.test(err.message))
  })
})
