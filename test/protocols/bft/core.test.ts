/**
 * Unit tests of the BFT building blocks with real ed25519 keys: validator
 * set arithmetic, certificate verification, critical state rules
 * (validator/admin changes, replays, non-admins), the WAL guarantee across a
 * restart, and durable files.
 */
import { strict as assert } from 'node:assert'
import { mkdtemp, mkdir, rm, writeFile, appendFile, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { ValidatorSet } from '../../../protocols/bft/validator-set.js'
import { buildCertificate, verifyCertificate } from '../../../protocols/bft/certificate.js'
import { CriticalState } from '../../../protocols/bft/critical-state.js'
import { createGenesis, genesisHash, parseGenesis } from '../../../protocols/bft/genesis.js'
import type { Clock } from '../../../lib/clock.js'
import { Consensus } from '../../../protocols/bft/consensus.js'
import { MemoryWal, FileWal, encodeWalRecord } from '../../../protocols/bft/wal.js'
import { encodeCertificate } from '../../../protocols/bft/messages.js'
import { CorruptFileError, StorageFailedError } from '../../../lib/errors.js'
import { MemoryBlockStore, FileBlockStore } from '../../../protocols/bft/block-store.js'
import { blockHash, ed25519Signer, ed25519Verifier, proposalSignBytes, PROPOSAL_DOMAIN, signEntry, voteSignBytes, VOTE_DOMAIN, type BftSigner } from '../../../protocols/bft/crypto.js'
import { bftTunables } from '../../../protocols/bft/constants.js'
import { criticalAccessPolicy } from '../../../policy/namespace-acl.js'
import { readGenesisMark, writeGenesisMark } from '../../../protocols/bft/genesis-mark.js'
import { PRECOMMIT, PREVOTE, type BftMessage, type Block, type Certificate, type Vote } from '../../../protocols/bft/types.js'

async function signers (n: number, offset = 100): Promise<BftSigner[]> {
  const out: BftSigner[] = []
  for (let i = 0; i < n; i++) {
    const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(offset + i))
    out.push(ed25519Signer(key, peerIdFromPrivateKey(key).toString()))
  }
  return out
}

const verify = ed25519Verifier()

async function vote (s: BftSigner, chain: Uint8Array, type: 1 | 2, height: number, round: number, hash: Uint8Array | null): Promise<Vote> {
  return { type, height, round, blockHash: hash, validator: s.id, signature: await s.sign(VOTE_DOMAIN, voteSignBytes(chain, type, height, round, hash)) }
}

describe('bft core', () => {
  let vals: BftSigner[]
  let admin: BftSigner
  let outsider: BftSigner
  before(async () => {
    vals = await signers(4)
    ;[admin, outsider] = await signers(2, 200)
  })

  const setup = async (): Promise<{ state: CriticalState, store: MemoryBlockStore }> => {
    const genesis = createGenesis({ networkId: 'unit', validators: vals.map(v => v.id), admins: [admin.id], values: { greeting: 'hi' }, createdAt: new Date(0) })
    const store = new MemoryBlockStore()
    const state = new CriticalState({ genesis, verify, store })
    await state.load()
    return { state, store }
  }

  const block = async (state: CriticalState, entries: Array<{ key: string, value: string | null }>, by = admin): Promise<Block> => {
    const h = state.height() + 1
    const es = []
    for (const [i, e] of entries.entries()) {
      es.push(await signEntry(by, state.chain, { ...e, nonce: new Uint8Array(16).fill(h * 16 + i), expiresAt: Date.now() + 60_000 }))
    }
    return { v: 1, chain: state.chain, height: h, prevHash: state.lastHash(), validatorSetHash: state.validatorsAt(h).hash, time: 0, entries: es }
  }

  const certify = async (state: CriticalState, b: Block, by = vals.slice(0, 3)): Promise<Certificate> => {
    const hash = blockHash(b)
    return buildCertificate(b, 0, await Promise.all(by.map(async s => await vote(s, state.chain, PRECOMMIT, b.height, 0, hash))))
  }

  it('validator set: quorum, tolerated faults and proposer rotation', () => {
    const cases: Array<[number, number, number]> = [[1, 0, 1], [3, 0, 3], [4, 1, 3], [5, 1, 4], [7, 2, 5], [10, 3, 7]]
    for (const [n, f, q] of cases) {
      const set = new ValidatorSet(Array.from({ length: n }, (_, i) => `v${i}`))
      assert.equal(set.f, f); assert.equal(set.quorum, q)
      // Two quorums overlap in more than f validators.
      assert.ok(2 * q - n > f)
    }
    const set = new ValidatorSet(['c', 'a', 'b', 'a'])
    assert.deepEqual(set.ids, ['a', 'b', 'c'])
    assert.deepEqual([0, 1, 2, 3].map(r => set.proposer(1, r)), ['b', 'c', 'a', 'b'])
  })

  it('verifyCertificate accepts 2f+1 precommits and refuses every forgery', async () => {
    const { state } = await setup()
    const b = await block(state, [{ key: 'acl/x', value: 'y' }])
    const set = state.validatorsAt(1)
    const good = await certify(state, b)
    await verifyCertificate(good, set, state.chain, verify)
    const bad: Array<[string, Certificate]> = [
      ['too few', { ...good, precommits: good.precommits.slice(0, 2) }],
      ['duplicate signer', { ...good, precommits: [good.precommits[0], good.precommits[0], good.precommits[1]] }],
      ['non-validator', await certify(state, b, [vals[0], vals[1], outsider])],
      ['other round', { ...good, round: 1 }],
      ['tampered block', { ...good, block: { ...b, time: 1 } }],
      ['bad signature', { ...good, precommits: good.precommits.map((p, i) => i === 0 ? { ...p, signature: new Uint8Array(64) } : p) }]
    ]
    for (const [name, c] of bad) {
      await assert.rejects(verifyCertificate(c, set, state.chain, verify), { name: 'InvalidCertificateError' }, name)
    }
    await assert.rejects(verifyCertificate(good, set, new Uint8Array(32), verify), { name: 'InvalidCertificateError' })
  })

  it('critical state applies certified blocks, refuses replays, non-admins and gaps', async () => {
    const { state, store } = await setup()
    assert.equal(state.get('greeting')?.value, 'hi')
    assert.equal(state.get('greeting')?.certificate, null)
    const changes: string[] = []
    state.onChange(c => changes.push(`${c.key}=${c.value ?? '<deleted>'}@${c.height}`))
    const b1 = await block(state, [{ key: 'acl/ns', value: 'alice' }, { key: 'greeting', value: null }])
    assert.equal(await state.commit(await certify(state, b1)), true)
    assert.equal(await state.commit(await certify(state, b1)), false, 'a second copy is a no-op')
    assert.deepEqual(changes, ['acl/ns=alice@1', 'greeting=<deleted>@1'])
    assert.equal(state.get('acl/ns')?.height, 1)
    assert.equal(state.get('greeting'), undefined)
    assert.equal(store.certs.length, 1)
    // Replaying an already committed entry in a new block.
    const replay: Block = { ...b1, height: 2, prevHash: state.lastHash(), validatorSetHash: state.validatorsAt(2).hash }
    await assert.rejects(state.commit(await certify(state, replay)), /replay/)
    // An entry signed by a non-admin.
    await assert.rejects(state.commit(await certify(state, await block(state, [{ key: 'k', value: 'v' }], outsider))), /not an admin/)
    // A gap.
    const b2 = await block(state, [{ key: 'k', value: 'v' }])
    await assert.rejects(state.commit(await certify(state, { ...b2, height: 3 })), { name: 'InvalidCertificateError' })
    // Reload from the store gives the same state.
    const again = new CriticalState({ genesis: state.genesis, verify, store })
    await again.load()
    assert.deepEqual(again.entries().map(e => [e.key, e.value, e.height]), state.entries().map(e => [e.key, e.value, e.height]))
  })

  it('a validator-set change at height h governs from h+2; an admin change from h+1', async () => {
    const { state } = await setup()
    const newVals = [...vals.slice(0, 3), outsider]
    const b1 = await block(state, [{ key: 'bft/validators', value: JSON.stringify(newVals.map(v => v.id)) }, { key: 'bft/admins', value: JSON.stringify([outsider.id]) }])
    await state.commit(await certify(state, b1))
    assert.ok(!state.validatorsAt(2).has(outsider.id))
    assert.ok(state.validatorsAt(3).has(outsider.id))
    assert.ok(!state.validatorsAt(3).has(vals[3].id))
    assert.ok(state.adminsAt(2).has(outsider.id) && !state.adminsAt(2).has(admin.id))
    // Height 2 is still certified by the old set and must carry entries of the new admin.
    const b2 = await block(state, [{ key: 'a', value: '1' }], outsider)
    await assert.rejects(state.commit(await certify(state, b2, [vals[0], vals[1], outsider])), /non-validator/)
    await state.commit(await certify(state, b2, [vals[0], vals[1], vals[3]]))
    const b3 = await block(state, [{ key: 'a', value: '2' }], outsider)
    await assert.rejects(state.commit(await certify(state, b3, [vals[0], vals[1], vals[3]])), /non-validator|validator set/)
    await state.commit(await certify(state, b3, [vals[0], vals[1], outsider]))
    assert.equal(state.get('a')?.value, '2')
    // Malformed validator lists are refused before they reach a block.
    await assert.rejects(state.validateEntry((await block(state, [{ key: 'bft/validators', value: '["nope"]' }], outsider)).entries[0], 4), /peer id/)
    await assert.rejects(state.validateEntry((await block(state, [{ key: 'bft/validators', value: null }], outsider)).entries[0], 4), /cannot be deleted/)
  })

  /** The proposer of height 1, round 0, and a validator that is not it. */
  const roundZero = (state: CriticalState): { me: BftSigner, proposer: BftSigner } => ({
    me: vals.find(v => state.validatorsAt(1).proposer(1, 0) !== v.id) as BftSigner,
    proposer: vals.find(v => state.validatorsAt(1).proposer(1, 0) === v.id) as BftSigner
  })

  /** The signed proposal of b at height 1, round 0, by proposer. */
  const proposal = async (state: CriticalState, proposer: BftSigner, b: Block): Promise<BftMessage> => {
    const sig = await proposer.sign(PROPOSAL_DOMAIN, proposalSignBytes(state.chain, 1, 0, -1, blockHash(b)))
    return { v: 1, kind: 'proposal', proposal: { height: 1, round: 0, validRound: -1, block: b, proposer: proposer.id, signature: sig } }
  }

  it('after a restart the WAL makes a validator re-send its vote, never a conflicting one', async () => {
    const { state } = await setup()
    const { me, proposer } = roundZero(state)
    const sent: BftMessage[] = []
    const timers: Array<() => void> = []
    const clock: Clock = { now: () => Date.now(), setTimeout: (cb) => timers.push(cb), clearTimeout: () => {} }
    const wal = new MemoryWal()
    const mk = (): Consensus => new Consensus({ state, signer: me, verify, wal, clock, net: { broadcast: m => sent.push(m), send: () => {} }, timeouts: bftTunables.defaults('test') })
    const b1 = await block(state, [{ key: 'x', value: '1' }])
    const b2 = await block(state, [{ key: 'x', value: '2' }])
    let c = mk()
    await c.start()
    await c.receive(proposer.id, await proposal(state, proposer, b1))
    await c.settled()
    const prevotes = (): Vote[] => sent.flatMap(m => m.kind === 'vote' && m.vote.type === PREVOTE ? [m.vote] : [])
    assert.equal(prevotes().length, 1)
    assert.deepEqual(prevotes()[0].blockHash, blockHash(b1))
    assert.equal(wal.records.length, 1, 'the vote was logged before it was sent')
    await c.stop()
    // Restart: an equivocating proposer now shows us b2 for the same round.
    sent.length = 0
    c = mk()
    await c.start()
    await c.receive(proposer.id, await proposal(state, proposer, b2))
    await c.settled()
    for (const t of timers.splice(0)) t()
    await c.settled()
    const after = prevotes()
    assert.ok(after.length >= 1)
    for (const v of after) assert.deepEqual(v.blockHash, blockHash(b1), 'never a prevote for b2 in round 0')
    assert.equal(wal.records.filter(r => r.kind === 'vote' && r.vote.type === PREVOTE && r.vote.round === 0).length, 1)
    await c.stop()
  })

  /** In dir, a file block store holding one certified block (synced, closed) and a file WAL holding a precommit for it (left open). */
  const writeBlockAndVote = async (dir: string): Promise<{ wal: FileWal, v: Vote }> => {
    const { state } = await setup()
    const b = await block(state, [{ key: 'k', value: 'v' }])
    const store = new FileBlockStore(dir)
    await store.append(await certify(state, b))
    await store.sync()
    await store.close()
    const wal = new FileWal(dir)
    const v = await vote(vals[0], state.chain, PRECOMMIT, 1, 0, blockHash(b))
    await wal.append({ kind: 'vote', vote: v, block: b, polka: [v] })
    return { wal, v }
  }

  /** The two files of dir, each with a fresh load of it. */
  const fileLoaders = (dir: string): Array<readonly [string, () => Promise<unknown[]>]> => [
    ['bft-blocks.log', async () => await new FileBlockStore(dir).load()],
    ['bft-wal.log', async () => await new FileWal(dir).load()]
  ]

  it('file WAL and block store survive a torn tail and refuse corruption', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bft-'))
    try {
      const { state } = await setup()
      const b = await block(state, [{ key: 'k', value: 'v' }])
      const cert = await certify(state, b)
      const store = new FileBlockStore(dir)
      await store.append(cert)
      await store.close()
      await appendFile(join(dir, 'bft-blocks.log'), Buffer.from([0, 0, 1, 0, 1, 2]))
      const loaded = await new FileBlockStore(dir).load()
      assert.equal(loaded.length, 1)
      assert.deepEqual(blockHash(loaded[0].block), blockHash(b))
      assert.equal((await readFile(join(dir, 'bft-blocks.log'))).length > 6, true)

      const wal = new FileWal(dir)
      const v = await vote(vals[0], state.chain, PRECOMMIT, 1, 0, blockHash(b))
      await wal.append({ kind: 'vote', vote: v, block: b, polka: [v] })
      await wal.append({ kind: 'vote', vote: { ...v, height: 2 }, block: null, polka: [] })
      await wal.prune(2)
      await wal.close()
      const back = await new FileWal(dir).load()
      assert.equal(back.length, 1)
      assert.equal(back[0].kind === 'vote' && back[0].vote.height, 2)

      await writeFile(join(dir, 'bft-wal.log'), Buffer.from([0, 0, 0, 3, 1, 2, 3]))
      await assert.rejects(new FileWal(dir).load(), { name: 'CorruptFileError' })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('file WAL and block store detect a damaged byte at every offset (CorruptFileError naming the file)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bft-'))
    try {
      const { wal, v } = await writeBlockAndVote(dir)
      await wal.append({ kind: 'vote', vote: { ...v, round: 1, blockHash: null }, block: null, polka: [] })
      await wal.close()
      for (const [file, load] of fileLoaders(dir)) {
        const path = join(dir, file)
        const good = await readFile(path)
        assert.ok(good.length > 200)
        for (let i = 0; i < good.length; i++) {
          const bad = Buffer.from(good)
          bad[i] ^= (i % 3 === 0 ? 0x01 : 0xff)
          await writeFile(path, bad)
          await assert.rejects(load(), (err: Error & { file?: string, recovery?: string }) => {
            assert.equal(err.name, 'CorruptFileError', `${file} byte ${i}: ${err.message}`)
            assert.equal(err.file, path)
            assert.match(err.recovery ?? '', /move this file aside/)
            return true
          }, `${file} byte ${i} not detected`)
        }
        await writeFile(path, good)
      }
      assert.equal((await new FileWal(dir).load()).length, 2)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('file WAL and block store of the unchecksummed first layout are read and converted', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bft-'))
    try {
      const { state } = await setup()
      const b = await block(state, [{ key: 'k', value: 'v' }])
      const cert = await certify(state, b)
      const v = await vote(vals[0], state.chain, PRECOMMIT, 1, 0, blockHash(b))
      const v0 = (r: Uint8Array): Buffer => { const h = Buffer.alloc(4); h.writeUInt32BE(r.byteLength); return Buffer.concat([h, r]) }
      await writeFile(join(dir, 'bft-blocks.log'), v0(encodeCertificate(cert)))
      await writeFile(join(dir, 'bft-wal.log'), v0(encodeWalRecord({ kind: 'vote', vote: v, block: b, polka: [v] })))
      assert.deepEqual(blockHash((await new FileBlockStore(dir).load())[0].block), blockHash(b))
      assert.equal((await new FileWal(dir).load()).length, 1)
      assert.equal((await readFile(join(dir, 'bft-wal.log'))).subarray(0, 8).toString(), 'MYCELBW1')
      assert.equal((await readFile(join(dir, 'bft-blocks.log'))).subarray(0, 8).toString(), 'MYCELBB1')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('a current WAL or block store with a damaged header is refused, never converted as the headerless first layout', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bft-'))
    try {
      const { wal } = await writeBlockAndVote(dir)
      await wal.close()
      for (const [file, load] of fileLoaders(dir)) {
        const path = join(dir, file)
        const good = await readFile(path)
        // Three bytes (past the few a damaged header may differ by) that read as a first-layout length
        // longer than the file, i.e. an old file holding only a torn record; and a zeroed first sector.
        const damages = [(d: Buffer) => { d[0] = 0; d[1] = 0; d[2] = 0x10 }, (d: Buffer) => { d.fill(0, 0, Math.min(512, d.length)) }]
        for (const damage of damages) {
          const bad = Buffer.from(good)
          damage(bad)
          await writeFile(path, bad)
          await assert.rejects(load(), { name: 'CorruptFileError' }, file)
          assert.ok((await readFile(path)).equals(bad), `${file} left as found`)
        }
        await writeFile(path, good)
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('a WAL that fails at runtime halts consensus for good and reports it (fail-stop)', async () => {
    const { state } = await setup()
    const { me, proposer } = roundZero(state)
    const sent: BftMessage[] = []
    const clock: Clock = { now: () => Date.now(), setTimeout: () => undefined, clearTimeout: () => {} }
    const wal = new MemoryWal()
    wal.append = async () => { throw new StorageFailedError('/d/bft/bft-wal.log', 'fdatasync failed: EIO') }
    const faults: Error[] = []
    const c = new Consensus({ state, signer: me, verify, wal, clock, net: { broadcast: m => sent.push(m), send: () => {} }, timeouts: bftTunables.defaults('test'), onHalt: (_f, err) => { faults.push(err as Error) } })
    await c.start()
    const b = await block(state, [{ key: 'x', value: '1' }])
    const msg = await proposal(state, proposer, b)
    await c.receive(proposer.id, msg)
    await c.settled()
    assert.equal(faults.length, 1)
    assert.equal(faults[0].name, 'StorageFailedError')
    assert.equal(sent.filter(m => m.kind === 'vote').length, 0, 'no vote leaves without its WAL record')
    // Halted for good: later input does nothing.
    await c.receive(proposer.id, msg)
    await c.settled()
    assert.equal(faults.length, 1)
    assert.equal(sent.filter(m => m.kind === 'vote').length, 0)
    await c.stop()
  })

  it('a WAL that cannot be read stops consensus start instead of voting without it', async () => {
    const { state } = await setup()
    const wal = new MemoryWal()
    wal.load = async () => { throw new CorruptFileError('/d/bft/bft-wal.log', 'BFT WAL damaged at offset 8', 'move it aside') }
    const c = new Consensus({ state, signer: vals[0], verify, wal, clock: { now: () => Date.now(), setTimeout: () => undefined, clearTimeout: () => {} }, net: { broadcast: () => {}, send: () => {} }, timeouts: bftTunables.defaults('test') })
    await assert.rejects(c.start(), { name: 'CorruptFileError' })
    await c.stop()
  })

  it('access policy: acl/<ns> and acl/* from committed config, fail closed on bad values, change events', async () => {
    const { state } = await setup()
    const policy = criticalAccessPolicy(state, { canWrite: (ns) => ns === 'from-file' })
    let changes = 0
    policy.onChange?.(() => { changes++ })
    assert.equal(policy.canWrite('anything', 'x'), false, 'no acl keys: the fallback decides')
    assert.equal(policy.canWrite('from-file', 'x'), true)
    await state.commit(await certify(state, await block(state, [
      { key: 'acl/billing', value: JSON.stringify([vals[0].id]) },
      { key: 'acl/*', value: '"open"' },
      { key: 'acl/broken', value: '{"nope":1}' }
    ])))
    assert.equal(changes, 3)
    assert.equal(policy.canWrite('billing', vals[0].id), true)
    assert.equal(policy.canWrite('billing', vals[1].id), false)
    assert.equal(policy.canWrite('other', vals[1].id), true, 'acl/* open')
    assert.equal(policy.canWrite('broken', vals[0].id), false, 'fail closed')
    await state.commit(await certify(state, await block(state, [{ key: 'acl/billing', value: null }])))
    assert.equal(policy.canWrite('billing', vals[1].id), true, 'deleted: back to acl/*')
  })

  it('genesis mark: checksummed, the first layout (bare hex) read, a damaged or unreadable file never taken for another network or for none', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'bft-'))
    try {
      const path = join(dir, 'bft', 'genesis.hash')
      const h = 'ab'.repeat(32)
      assert.equal(await readGenesisMark(path), undefined)
      await writeFile(join(dir, 'old'), h + '\n')
      assert.deepEqual(await readGenesisMark(join(dir, 'old')), { hash: h, legacy: true })
      await writeGenesisMark(path, h)
      assert.deepEqual(await readGenesisMark(path), { hash: h, legacy: false })
      const good = await readFile(path)
      for (let i = 0; i < good.length; i++) {
        const bad = Buffer.from(good)
        bad[i] ^= 0x01
        await writeFile(path, bad)
        await assert.rejects(readGenesisMark(path), { name: 'CorruptFileError' }, `byte ${i}`)
      }
      await writeFile(path, h.slice(0, 63) + 'g\n')
      await assert.rejects(readGenesisMark(path), { name: 'CorruptFileError' })
      await rm(path)
      await mkdir(path)
      await assert.rejects(readGenesisMark(path), { name: 'StorageFailedError' })
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('genesis: normalised, hashed stably, reserved keys and bad ids refused', async () => {
    const g = createGenesis({ networkId: 'net-1', validators: [vals[1].id, vals[0].id, vals[0].id], admins: [admin.id], values: { b: '2', a: '1' }, createdAt: new Date(0) })
    assert.deepEqual(g.validators, [vals[0].id, vals[1].id].sort())
    assert.deepEqual(Object.keys(g.values), ['a', 'b'])
    const again = parseGenesis(JSON.parse(JSON.stringify(g)))
    assert.deepEqual(genesisHash(again), genesisHash(g))
    assert.notDeepEqual(genesisHash({ ...g, networkId: 'net-2' }), genesisHash(g))
    assert.throws(() => parseGenesis({ ...g, validators: ['not-a-peer'] }), { name: 'InvalidGenesisError' })
    assert.throws(() => parseGenesis({ ...g, values: { 'bft/validators': '[]' } }), { name: 'InvalidGenesisError' })
    assert.throws(() => parseGenesis({ ...g, extra: 1 }), { name: 'InvalidGenesisError' })
    assert.throws(() => parseGenesis(null), { name: 'InvalidGenesisError' })
  })
})
