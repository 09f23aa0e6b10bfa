/**
 * docs/wire.md rule 1 for BFT: a newer node's entry, block, vote, proposal
 * and certificate (fields this release does not know, the trace context
 * `tc`, at every level) decode, verify (entry signatures and block hashes
 * over every field, vote and proposal signatures over their fixed fields),
 * and are relayed, logged and stored byte for byte.
 */
import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { decodeCertificate, decodeMessage, encodeCertificate, encodeMessage } from '../../../protocols/bft/messages.js'
import { decodeWalRecord, encodeWalRecord } from '../../../protocols/bft/wal.js'
import { createGenesis } from '../../../protocols/bft/genesis.js'
import { CriticalState } from '../../../protocols/bft/critical-state.js'
import { MemoryBlockStore } from '../../../protocols/bft/block-store.js'
import {
  blockHash, ed25519Signer, ed25519Verifier, entrySignBytes, proposalSignBytes, voteSignBytes,
  ENTRY_DOMAIN, PROPOSAL_DOMAIN, VOTE_DOMAIN, type BftSigner
} from '../../../protocols/bft/crypto.js'
import type { BftMessage, Block, Certificate, Entry, Proposal, Vote } from '../../../protocols/bft/types.js'
import { extraFields, PROPERTY_RUNS, sameBytes, withFields } from '../../helpers/wire-evolution.js'

type Extra = Array<[string, unknown]>
const extra = {
  entry: extraFields(['key', 'value', 'admin', 'nonce', 'expiresAt', 'signature', 'chain']),
  block: extraFields(['v', 'chain', 'height', 'prevHash', 'validatorSetHash', 'time', 'entries']),
  vote: extraFields(['type', 'height', 'round', 'blockHash', 'validator', 'signature']),
  proposal: extraFields(['height', 'round', 'validRound', 'block', 'proposer', 'signature']),
  certificate: extraFields(['v', 'block', 'round', 'precommits']),
  precommit: extraFields(['validator', 'signature']),
  message: extraFields(['v', 'kind', 'proposal', 'vote', 'certificate', 'entry', 'from'])
}

describe('bft: wire evolution', () => {
  let signers: BftSigner[]
  let state: CriticalState
  const verify = ed25519Verifier()

  before(async () => {
    const keys = await Promise.all([1, 2, 3, 4, 5].map(async i => await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(70 + i))))
    signers = keys.map(k => ed25519Signer(k, peerIdFromPrivateKey(k).toString()))
    const genesis = createGenesis({ networkId: 'evolution', validators: signers.slice(0, 4).map(s => s.id), admins: [signers[4].id], createdAt: new Date(0) })
    state = new CriticalState({ genesis, verify, store: new MemoryBlockStore() })
  })

  /** What a newer release would send: today's fields, signed as today, plus `x`'s fields at each level. */
  async function newer (x: Record<keyof typeof extra, Extra>): Promise<{ entry: Entry, block: Block, votes: Vote[], proposal: Proposal, cert: Certificate }> {
    const chain = state.chain
    const admin = signers[4]
    const unsigned = withFields({ key: 'k', value: 'v', admin: admin.id, nonce: new Uint8Array(16).fill(1), expiresAt: Date.now() + 60_000 }, x.entry)
    const entry: Entry = { ...unsigned, signature: await admin.sign(ENTRY_DOMAIN, entrySignBytes(chain, unsigned)) }
    const block = withFields<Block>({ v: 1, chain, height: 1, prevHash: state.lastHash(), validatorSetHash: state.validatorsAt(1).hash, time: 1, entries: [entry] }, x.block)
    const hash = blockHash(block)
    const votes = await Promise.all(signers.slice(0, 3).map(async s => withFields<Vote>({
      type: 2, height: 1, round: 0, blockHash: hash, validator: s.id, signature: await s.sign(VOTE_DOMAIN, voteSignBytes(chain, 2, 1, 0, hash))
    }, x.vote)))
    const proposal = withFields<Proposal>({
      height: 1, round: 0, validRound: -1, block, proposer: signers[1].id, signature: await signers[1].sign(PROPOSAL_DOMAIN, proposalSignBytes(chain, 1, 0, -1, hash))
    }, x.proposal)
    const cert = withFields<Certificate>({ v: 1, block, round: 0, precommits: votes.map(v => withFields({ validator: v.validator, signature: v.signature }, x.precommit)) }, x.certificate)
    return { entry, block, votes, proposal, cert }
  }

  it('every message kind is accepted, verified and relayed byte-identical (property)', async () => {
    await fc.assert(fc.asyncProperty(fc.record(extra), async (x) => {
      const { entry, block, votes, proposal, cert } = await newer(x)
      const messages: BftMessage[] = [
        { v: 1, kind: 'submit', entry },
        { v: 1, kind: 'vote', vote: votes[0] },
        { v: 1, kind: 'proposal', proposal },
        { v: 1, kind: 'commit', certificate: cert },
        { v: 1, kind: 'sync', from: 1 }
      ]
      for (const m of messages) {
        const received = encodeMessage(withFields(m, x.message))
        const decoded = decodeMessage(received)
        assert.ok(sameBytes(encodeMessage(decoded), received), `${m.kind} relayed as received`)
        switch (decoded.kind) {
          case 'submit': await state.validateEntry(decoded.entry, 1); break
          case 'vote': {
            const v = decoded.vote
            assert.ok(await verify(v.validator, VOTE_DOMAIN, voteSignBytes(state.chain, v.type, v.height, v.round, v.blockHash), v.signature))
            break
          }
          case 'proposal': {
            const p = decoded.proposal
            assert.deepEqual(blockHash(p.block), blockHash(block), 'the block hash covers the unknown fields as the proposer had them')
            assert.ok(await verify(p.proposer, PROPOSAL_DOMAIN, proposalSignBytes(state.chain, p.height, p.round, p.validRound, blockHash(p.block)), p.signature))
            break
          }
          case 'commit': await state.verifyNext(decoded.certificate); break
        }
      }
      // Stored (block store, WAL) and served on (catch-up) as received.
      const certBytes = encodeCertificate(cert)
      assert.ok(sameBytes(encodeCertificate(decodeCertificate(certBytes)), certBytes))
      const wal = encodeWalRecord({ kind: 'vote', vote: votes[0], block, polka: votes })
      assert.ok(sameBytes(encodeWalRecord(decodeWalRecord(wal)), wal))
      const walProposal = encodeWalRecord({ kind: 'proposal', proposal })
      assert.ok(sameBytes(encodeWalRecord(decodeWalRecord(walProposal)), walProposal))
    }), { numRuns: Math.min(PROPERTY_RUNS, 100) })
  })

  it('an entry\'s signature and a block\'s hash cover the unknown fields: changing one is caught', async () => {
    const later: Extra = [['later', 1], ['tc', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01']]
    const { entry, cert } = await newer({ entry: later, block: later, vote: [], proposal: [], certificate: [], precommit: [], message: [] })
    await state.validateEntry(entry, 1)
    await assert.rejects(state.validateEntry({ ...entry, later: 2 } as Entry, 1), { name: 'InvalidEntryError' })
    await state.verifyNext(cert)
    await assert.rejects(state.verifyNext({ ...cert, block: { ...cert.block, later: 2 } as Block }), { name: 'InvalidCertificateError' })
  })
})
