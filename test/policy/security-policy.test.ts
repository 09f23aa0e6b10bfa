import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { parseSecuritySetting, readSecuritySetting, InvalidSecuritySettingError, SECURITY_KEY, MAX_SECURITY_COUNT } from '../../policy/security-policy.js'
import { POLICY_KEY_RULES } from '../../policy/key-rules.js'
import { OFFENCE_KINDS } from '../../lib/peer-offences.js'
import { CriticalState, type CriticalValue } from '../../protocols/bft/critical-state.js'
import { createGenesis } from '../../protocols/bft/genesis.js'
import { MemoryBlockStore } from '../../protocols/bft/block-store.js'
import { ed25519Signer, ed25519Verifier, signEntry, type BftSigner } from '../../protocols/bft/crypto.js'
import { InvalidEntryError, InvalidGenesisError } from '../../protocols/bft/errors.js'

async function signer (seed: number): Promise<BftSigner> {
  const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(seed))
  return ed25519Signer(key, peerIdFromPrivateKey(key).toString())
}

describe('policy/security-policy: critical key `security`', () => {
  it('reads the flag, per-kind thresholds and minReporters; absent or deleted is the defaults', () => {
    assert.deepEqual(parseSecuritySetting(null), { autoProposeRevocation: false, threshold: {}, minReporters: 1 })
    assert.deepEqual(parseSecuritySetting('{}'), { autoProposeRevocation: false, threshold: {}, minReporters: 1 })
    assert.deepEqual(parseSecuritySetting('{"autoProposeRevocation":true,"threshold":{"bad_signature":3,"replay":2},"minReporters":2}'),
      { autoProposeRevocation: true, threshold: { bad_signature: 3, replay: 2 }, minReporters: 2 })
  })

  it('refuses anything else, naming the field', () => {
    const bad: Array<[string, RegExp]> = [
      ['nope', /must be JSON/],
      ['[]', /security: /],
      ['{"autoProposeRevocation":"yes"}', /autoProposeRevocation/],
      ['{"threshold":{"spam":3}}', /threshold/],
      ['{"threshold":{"replay":0}}', /threshold\.replay/],
      ['{"threshold":{"replay":1.5}}', /threshold\.replay/],
      [`{"minReporters":${MAX_SECURITY_COUNT + 1}}`, /minReporters/],
      ['{"autoRevoke":true}', /security: /]
    ]
    for (const [v, re] of bad) assert.throws(() => parseSecuritySetting(v), (err: Error) => err instanceof InvalidSecuritySettingError && re.test(err.message), v)
  })

  it('property: every threshold map of known kinds and counts in range parses back to itself', () => {
    const kinds = fc.dictionary(fc.constantFrom(...OFFENCE_KINDS), fc.integer({ min: 1, max: MAX_SECURITY_COUNT }), { noNullPrototype: true })
    fc.assert(fc.property(kinds, fc.boolean(), fc.integer({ min: 1, max: 50 }), (threshold, flag, minReporters) => {
      const s = parseSecuritySetting(JSON.stringify({ autoProposeRevocation: flag, threshold, minReporters }))
      assert.deepEqual(s, { autoProposeRevocation: flag, threshold: { ...threshold }, minReporters })
    }))
  })

  it('an unreadable committed value proposes nothing and says why', () => {
    const critical = { get: (k: string) => k === SECURITY_KEY ? { key: k, value: '{"autoProposeRevocation":1}' } as unknown as CriticalValue : undefined }
    const r = readSecuritySetting(critical)
    assert.equal(r.setting.autoProposeRevocation, false)
    assert.match(r.problem ?? '', /cannot be read/)
    assert.deepEqual(readSecuritySetting(undefined), { setting: { autoProposeRevocation: false, threshold: {}, minReporters: 1 } })
  })

  it('critical config refuses a malformed security entry from an admin, and a genesis with one', async () => {
    const vals = await Promise.all([1, 2, 3, 4].map(signer))
    const admin = vals[0]
    const genesis = createGenesis({ networkId: 'unit', validators: vals.map(v => v.id), admins: [admin.id], createdAt: new Date(0) })
    const state = new CriticalState({ genesis, verify: ed25519Verifier(), store: new MemoryBlockStore(), keyRules: POLICY_KEY_RULES })
    const entry = async (value: string | null, n: number): Promise<Parameters<CriticalState['validateEntry']>[0]> =>
      await signEntry(admin, state.chain, { key: SECURITY_KEY, value, nonce: new Uint8Array(16).fill(n), expiresAt: Date.now() + 60_000 })
    await state.validateEntry(await entry('{"autoProposeRevocation":true}', 1), 1)
    await state.validateEntry(await entry(null, 2), 1)
    await assert.rejects(state.validateEntry(await entry('{"autoRevoke":true}', 3), 1), (err: Error) => err instanceof InvalidEntryError && /security/.test(err.message))
    const badGenesis = createGenesis({ networkId: 'unit', validators: vals.map(v => v.id), admins: [admin.id], values: { security: '{"threshold":{"replay":-1}}' }, createdAt: new Date(0) })
    assert.throws(() => new CriticalState({ genesis: badGenesis, verify: ed25519Verifier(), store: new MemoryBlockStore(), keyRules: POLICY_KEY_RULES }), InvalidGenesisError)
  })
})
