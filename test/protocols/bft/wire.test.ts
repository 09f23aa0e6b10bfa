/**
 * Every BFT decoder fed random garbage and mutated valid messages: only the
 * named decode errors may come out, never a crash or another exception. And
 * the consensus input path swallows whatever decodes (bad signatures,
 * non-validators, future heights) without throwing.
 */
import { strict as assert } from 'node:assert'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { prng, randomBytes, mutate } from '../../helpers/prng.js'
import { decodeCertificate, decodeMessage, decodeSyncRequest, encodeMessage, encodeCertificate } from '../../../protocols/bft/messages.js'
import { decodeWalRecord, encodeWalRecord } from '../../../protocols/bft/wal.js'
import { parseGenesis, createGenesis } from '../../../protocols/bft/genesis.js'
import { decodeHello } from '../../../protocols/admission/hello.js'
import { CriticalState } from '../../../protocols/bft/critical-state.js'
import { Consensus } from '../../../protocols/bft/consensus.js'
import { MemoryBlockStore } from '../../../protocols/bft/block-store.js'
import { MemoryWal } from '../../../protocols/bft/wal.js'
import { blockHash, ed25519Signer, ed25519Verifier, signEntry, voteSignBytes, VOTE_DOMAIN } from '../../../protocols/bft/crypto.js'
import { bftTunables } from '../../../protocols/bft/constants.js'
import { encodeCbor } from '../../../wire/codec.js'
import type { BftMessage, Certificate } from '../../../protocols/bft/types.js'

const DECODE_ERRORS = new Set(['MalformedMessageError', 'OversizedMessageError', 'UnsupportedVersionError'])

function onlyNamed (fn: () => unknown, allowed: Set<string>, what: string): void {
  try { fn() } catch (err) {
    assert.ok(allowed.has((err as Error).name), `${what} threw ${(err as Error).name}: ${(err as Error).message}`)
  }
}

describe('bft wire', () => {
  let samples: Uint8Array[]
  let cert: Certificate
  let state: CriticalState
  let consensus: Consensus
  let ids: string[]

  before(async () => {
    const keys = await Promise.all([1, 2, 3, 4, 5].map(async i => await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(50 + i))))
    const signers = keys.map(k => ed25519Signer(k, peerIdFromPrivateKey(k).toString()))
    ids = signers.map(s => s.id)
    const genesis = createGenesis({ networkId: 'fuzz', validators: ids.slice(0, 4), admins: [ids[4]], createdAt: new Date(0) })
    state = new CriticalState({ genesis, verify: ed25519Verifier(), store: new MemoryBlockStore() })
    const entry = await signEntry(signers[4], state.chain, { key: 'k', value: 'v', nonce: new Uint8Array(16), expiresAt: Date.now() + 60_000 })
    const block = { v: 1 as const, chain: state.chain, height: 1, prevHash: state.lastHash(), validatorSetHash: state.validatorsAt(1).hash, time: 1, entries: [entry] }
    const hash = blockHash(block)
    const votes = await Promise.all(signers.slice(0, 3).map(async s => ({ type: 2 as const, height: 1, round: 0, blockHash: hash, validator: s.id, signature: await s.sign(VOTE_DOMAIN, voteSignBytes(state.chain, 2, 1, 0, hash)) })))
    cert = { v: 1, block, round: 0, precommits: votes.map(v => ({ validator: v.validator, signature: v.signature })) }
    const msgs: BftMessage[] = [
      { v: 1, kind: 'vote', vote: votes[0] },
      { v: 1, kind: 'proposal', proposal: { height: 1, round: 0, validRound: -1, block, proposer: ids[1], signature: votes[0].signature } },
      { v: 1, kind: 'commit', certificate: cert },
      { v: 1, kind: 'submit', entry },
      { v: 1, kind: 'sync', from: 1 }
    ]
    samples = msgs.map(encodeMessage)
    for (const s of samples) assert.deepEqual(encodeMessage(decodeMessage(s)), s, 'round trip')
    consensus = new Consensus({
      state, signer: signers[0], verify: ed25519Verifier(), wal: new MemoryWal(),
      clock: { now: () => Date.now(), setTimeout: () => undefined, clearTimeout: () => {} },
      net: { broadcast: () => {}, send: () => {} },
      timeouts: bftTunables.defaults('test')
    })
    await consensus.start()
  })

  after(async () => { await consensus.stop() })

  it('decodeMessage / decodeCertificate / decodeSyncRequest / decodeWalRecord / decodeHello: garbage gives named errors only', () => {
    const rand = prng(42)
    const wal = encodeWalRecord({ kind: 'vote', vote: (decodeMessage(samples[0]) as unknown as { vote: never }).vote, block: cert.block, polka: [] })
    const certBytes = encodeCertificate(cert)
    const hello = encodeCbor({ v: 1, genesis: new Uint8Array(32), networkId: 'x' })
    for (let i = 0; i < 1500; i++) {
      const junk = i % 2 === 0 ? randomBytes(rand, 512) : mutate(rand, samples[i % samples.length])
      onlyNamed(() => decodeMessage(junk), DECODE_ERRORS, 'decodeMessage')
      onlyNamed(() => decodeCertificate(i % 3 === 0 ? junk : mutate(rand, certBytes)), DECODE_ERRORS, 'decodeCertificate')
      onlyNamed(() => decodeSyncRequest(junk), DECODE_ERRORS, 'decodeSyncRequest')
      onlyNamed(() => decodeHello(i % 3 === 0 ? junk : mutate(rand, hello)), DECODE_ERRORS, 'decodeHello')
      onlyNamed(() => decodeWalRecord(i % 3 === 0 ? junk : mutate(rand, wal)), new Set(['CorruptStateError']), 'decodeWalRecord')
    }
  })

  it('parseGenesis: random JSON-ish values give InvalidGenesisError only', () => {
    const rand = prng(7)
    const good = JSON.parse(JSON.stringify(createGenesis({ networkId: 'n', validators: ids.slice(0, 4), admins: [ids[4]], createdAt: new Date(0) })))
    const junkValues = [null, 1, 'x', [], {}, true, -1, 1e308, { v: 2 }]
    for (let i = 0; i < 500; i++) {
      const g = { ...good }
      const keys = Object.keys(g)
      g[keys[Math.floor(rand() * keys.length)]] = junkValues[Math.floor(rand() * junkValues.length)]
      onlyNamed(() => parseGenesis(g), new Set(['InvalidGenesisError']), 'parseGenesis')
    }
  })

  it('consensus.receive never throws on decodable junk', async () => {
    const rand = prng(9)
    let accepted = 0
    for (let i = 0; i < 2000; i++) {
      let msg: BftMessage
      try { msg = decodeMessage(mutate(rand, samples[i % samples.length])) } catch { continue }
      accepted++
      await consensus.receive(ids[i % ids.length], msg)
    }
    await consensus.settled()
    assert.ok(accepted > 0)
    assert.equal(consensus.status().fault, null, 'junk from the network never halts consensus')
    // Junk commits nothing. A mutation can leave the valid commit sample
    // intact (a byte overwritten with its own value), and applying that
    // certificate is correct: the only block that may ever be in force is
    // the certified one.
    if (state.height() !== 0) {
      assert.equal(state.height(), 1)
      assert.deepEqual(state.lastHash(), blockHash(cert.block))
    }
  })
})
