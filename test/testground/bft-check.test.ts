/**
 * The testground `bft` case's judgements (testground/plans/mycel/lib/bft-check.js): every node's certified
 * chain against the others', the no-quorum window, the partition plan and the latency quantiles; and the
 * case's certificate replay (lib/bft-verify.js verifyChainWith) over mycel's sources, on a real chain and on
 * forgeries.
 */
import { strict as assert } from 'node:assert'
import { createRequire } from 'node:module'
import { mkdir, mkdtemp, realpath, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { summarize as runnerSummary } from '../../testground/runner/outcome.js'
import { CriticalState } from '../../protocols/bft/critical-state.js'
import { MemoryBlockStore } from '../../protocols/bft/block-store.js'
import { blockHash, ed25519Signer, ed25519Verifier, hex, signEntry, voteSignBytes, VOTE_DOMAIN, type BftSigner } from '../../protocols/bft/crypto.js'
import { createGenesis, genesisToJson, parseGenesis } from '../../protocols/bft/genesis.js'
import { decodeCertificate, encodeCertificate } from '../../protocols/bft/messages.js'
import { buildCertificate } from '../../protocols/bft/certificate.js'
import { POLICY_KEY_RULES } from '../../policy/key-rules.js'
import { admissionAuthority } from '../../policy/admission-authority.js'
import { PRECOMMIT, type Block, type Certificate, type Vote } from '../../protocols/bft/types.js'

interface ChainBlock { height: number, hash: string, prevHash: string, signers: string[] }
interface CertJson { height: number, blockHash: string, prevHash: string, precommits: Array<{ validator: string }> }
interface Report { seq: number, height: number, genesis: string, blocks: ChainBlock[], problems?: string[], verified?: { height: number, lastHash: string } | { error: string } }
type Verified = { height: number, lastHash: string, chain: string } | { error: string }

const require = createRequire(import.meta.url)
const check = require('../../testground/plans/mycel/lib/bft-check.js') as {
  nodeChain: (certs: CertJson[]) => { blocks: ChainBlock[], problems: string[] }
  chainProblems: (reports: Report[], oneDown?: { from: number, to: number, isolated: string[] }) => string[]
  windowProblems: (reports: Array<{ seq: number, windowMaxHeight?: number }>, base: number) => string[]
  latencySummary: (values: number[]) => { count: number, p50: number, p99: number, max: number } | undefined
  partitionPlan: (validators: number) => { quorum: number, tolerated: number, withQuorum: number[], withoutQuorum: number[] }
}
const verifier = require('../../testground/plans/mycel/lib/bft-verify.js') as {
  verifyChainWith: (m: unknown, genesisText: string, cbors: string[]) => Promise<Verified>
  mycelDist: () => string
}

const GENESIS = 'g'.repeat(64)
const hashOf = (h: number, salt = ''): string => `${salt}h${h}`.padEnd(64, '0')

/** A linked chain of `len` blocks, each signed by `signers`. */
function chain (len: number, signers = ['v1', 'v2', 'v3']): ChainBlock[] {
  return Array.from({ length: len }, (_, i) => ({ height: i + 1, hash: hashOf(i + 1), prevHash: i === 0 ? GENESIS : hashOf(i), signers }))
}
const report = (seq: number, blocks: ChainBlock[]): Report => ({
  seq, height: blocks.length, genesis: GENESIS, blocks, problems: [],
  verified: { height: blocks.length, lastHash: blocks.length === 0 ? GENESIS : blocks[blocks.length - 1].hash }
})

describe('testground bft case: checks', () => {
  it('reads one block per height from the certificates a node serves, and flags two blocks at one height', () => {
    const cert = (height: number, hash: string, signers = ['b', 'a']): CertJson => ({ height, blockHash: hash, prevHash: 'p', precommits: signers.map(validator => ({ validator })) })
    const c = check.nodeChain([cert(2, 'y'), cert(1, 'x'), cert(2, 'y')])
    assert.deepEqual(c.blocks.map(b => [b.height, b.hash, b.signers]), [[1, 'x', ['a', 'b']], [2, 'y', ['a', 'b']]])
    assert.deepEqual(c.problems, [])
    assert.match(check.nodeChain([cert(1, 'x'), cert(1, 'z')]).problems[0], /height 1 is served with two blocks/)
  })

  it('accepts identical chains on every node and finds any one node diverging (property)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 30 }), fc.integer({ min: 2, max: 8 }), fc.nat(), fc.nat(),
      fc.constantFrom('fork', 'short', 'gap', 'unlinked', 'unverified', 'network'), (len, nodes, pickNode, pickHeight, fault) => {
        const reports = Array.from({ length: nodes }, (_, i) => report(i + 1, chain(len)))
        assert.deepEqual(check.chainProblems(reports), [])
        const bad = reports[pickNode % nodes]
        const at = pickHeight % len
        if (fault === 'fork') {
          bad.blocks[at] = { ...bad.blocks[at], hash: hashOf(at + 1, 'x') }
          if (at + 1 < len) bad.blocks[at + 1] = { ...bad.blocks[at + 1], prevHash: hashOf(at + 1, 'x') }
          if (bad.verified !== undefined && 'lastHash' in bad.verified) bad.verified.lastHash = bad.blocks[len - 1].hash
        } else if (fault === 'short') {
          bad.blocks = bad.blocks.slice(0, at)
          bad.height = at
          bad.verified = { height: at, lastHash: at === 0 ? GENESIS : hashOf(at) }
        } else if (fault === 'gap') {
          bad.blocks.splice(at, 1)
        } else if (fault === 'unlinked') {
          bad.blocks[at] = { ...bad.blocks[at], prevHash: 'f'.repeat(64) }
        } else if (fault === 'unverified') {
          bad.verified = { error: 'InvalidCertificateError: bad signature' }
        } else {
          bad.genesis = 'e'.repeat(64)
        }
        assert.ok(check.chainProblems(reports).length > 0, fault)
      }))
  })

  it('names forks, heights, gaps and refused certificates', () => {
    const forked = chain(3)
    forked[2] = { ...forked[2], hash: hashOf(3, 'x') }
    const a = report(1, chain(3))
    const b = report(2, forked)
    const problems = check.chainProblems([a, b])
    assert.ok(problems.some(p => /^fork at height 3: /.test(p)), problems.join('\n'))
    assert.ok(check.chainProblems([report(1, chain(3)), report(2, chain(4))]).some(p => /different heights: 1:3 2:4/.test(p)))
    const gap = report(1, chain(4))
    gap.blocks.splice(1, 1)
    assert.ok(check.chainProblems([gap]).some(p => /no certificate exposed for height 2/.test(p)))
    const refused = report(1, chain(2))
    refused.verified = { error: 'InvalidCertificateError: certificate for height 2 has 2 precommits, needs 3' }
    assert.ok(check.chainProblems([refused]).some(p => /instance 1: its certificates do not verify: .*needs 3/.test(p)))
    const behind = report(1, chain(3))
    behind.verified = { height: 2, lastHash: hashOf(2) }
    assert.ok(check.chainProblems([behind]).some(p => /verify up to height 2, its API says 3/.test(p)))
    assert.deepEqual(check.chainProblems([]), ['no reports'])
  })

  it('refuses a block of the one-down phase that carries a partitioned validator\'s precommit', () => {
    const blocks = chain(6)
    blocks[3] = { ...blocks[3], signers: ['v1', 'v2', 'v4'] } // height 4
    const r = [report(1, blocks)]
    assert.deepEqual(check.chainProblems(r, { from: 4, to: 6, isolated: ['v4'] }), [])
    const leak = check.chainProblems(r, { from: 3, to: 6, isolated: ['v4'] })
    assert.equal(leak.length, 1)
    assert.match(leak[0], /block 4, committed while v4 was partitioned away, carries its precommit/)
  })

  it('finds any height above the base seen during the no-quorum window; a node behind is fine', () => {
    assert.deepEqual(check.windowProblems([{ seq: 1, windowMaxHeight: 21 }, { seq: 2, windowMaxHeight: 19 }], 21), [])
    assert.match(check.windowProblems([{ seq: 1, windowMaxHeight: 21 }, { seq: 2, windowMaxHeight: 22 }], 21)[0], /instance 2: height 22 committed during the window without a quorum/)
    assert.match(check.windowProblems([{ seq: 3 }], 21)[0], /instance 3: no height observed/)
  })

  it('partitions the last validators: the tolerated ones leave a quorum, one more does not, the admin never', () => {
    assert.deepEqual(check.partitionPlan(4), { quorum: 3, tolerated: 1, withQuorum: [4], withoutQuorum: [3, 4] })
    assert.deepEqual(check.partitionPlan(7), { quorum: 5, tolerated: 2, withQuorum: [6, 7], withoutQuorum: [5, 6, 7] })
    for (let n = 4; n <= 60; n++) {
      const p = check.partitionPlan(n)
      assert.ok(n - p.withQuorum.length >= p.quorum, `n=${n}`)
      assert.ok(n - p.withoutQuorum.length < p.quorum, `n=${n}`)
      assert.ok(!p.withoutQuorum.includes(1) && p.withoutQuorum.every(s => s >= 2 && s <= n))
    }
    assert.throws(() => check.partitionPlan(3), /at least 4/)
  })

  it('computes the runner\'s nearest-rank p50 and max, and p99 by the same rule', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 1e6 }), { minLength: 1, maxLength: 300 }), values => {
      const q = check.latencySummary(values)
      const r = runnerSummary(values)
      assert.ok(q !== undefined && r !== null)
      assert.deepEqual([q.count, q.p50, q.max], [r.count, r.p50, r.max])
      const sorted = [...values].sort((a, b) => a - b)
      assert.equal(q.p99, sorted[Math.ceil(0.99 * values.length) - 1])
      assert.ok(q.p50 <= q.p99 && q.p99 <= q.max)
    }))
    assert.equal(check.latencySummary([]), undefined)
  })
})

describe('testground bft case: certificate replay with mycel\'s code', () => {
  const modules = {
    CriticalState, MemoryBlockStore, ed25519Verifier, hex, parseGenesis, decodeCertificate,
    keyRules: POLICY_KEY_RULES, authorities: [admissionAuthority]
  }
  let vals: BftSigner[]
  let genesisText: string
  let certs: Certificate[]

  before(async () => {
    vals = []
    for (let i = 0; i < 4; i++) {
      const key = await generateKeyPairFromSeed('Ed25519', new Uint8Array(32).fill(40 + i))
      vals.push(ed25519Signer(key, peerIdFromPrivateKey(key).toString()))
    }
    const genesis = createGenesis({ networkId: 'tg-bft-unit', validators: vals.map(v => v.id), admins: [vals[0].id], createdAt: new Date(0) })
    genesisText = genesisToJson(genesis)
    // Three blocks as the agents build them: one admin-signed entry each, precommits of three validators.
    const state = new CriticalState({ genesis, verify: ed25519Verifier(), store: new MemoryBlockStore() })
    certs = []
    for (let h = 1; h <= 3; h++) {
      const entry = await signEntry(vals[0], state.chain, { key: `tg-bft/all-up/00${h}`, value: 'v', nonce: new Uint8Array(16).fill(h), expiresAt: Date.now() + 60_000 })
      const block: Block = { v: 1, chain: state.chain, height: h, prevHash: state.lastHash(), validatorSetHash: state.validatorsAt(h).hash, time: h, entries: [entry] }
      const hash = blockHash(block)
      const precommits = await Promise.all(vals.slice(0, 3).map(async (s): Promise<Vote> => ({
        type: PRECOMMIT, height: h, round: 0, blockHash: hash, validator: s.id, signature: await s.sign(VOTE_DOMAIN, voteSignBytes(state.chain, PRECOMMIT, h, 0, hash))
      })))
      const cert = buildCertificate(block, 0, precommits)
      await state.commit(cert)
      certs.push(cert)
    }
  })

  it('finds the dist directory of the CLI the plan runs (MYCEL_CLI → dist/daemon/cli.js → dist), through a symlink', async () => {
    const root = await mkdtemp(join(tmpdir(), 'tg-bft-dist-'))
    const saved = process.env.MYCEL_CLI
    try {
      await mkdir(join(root, 'pkg', 'dist', 'daemon'), { recursive: true })
      await writeFile(join(root, 'pkg', 'dist', 'daemon', 'cli.js'), '')
      await symlink(join(root, 'pkg', 'dist', 'daemon', 'cli.js'), join(root, 'mycel'))
      process.env.MYCEL_CLI = join(root, 'mycel')
      assert.equal(verifier.mycelDist(), join(await realpath(root), 'pkg', 'dist'))
    } finally {
      if (saved === undefined) delete process.env.MYCEL_CLI
      else process.env.MYCEL_CLI = saved
      await rm(root, { recursive: true, force: true })
    }
  })

  const b64 = (c: Certificate): string => Buffer.from(encodeCertificate(c)).toString('base64')

  it('verifies a real chain and reports its height and last block', async () => {
    const r = await verifier.verifyChainWith(modules, genesisText, certs.map(b64))
    assert.ok(!('error' in r), JSON.stringify(r))
    assert.equal(r.height, 3)
    assert.equal(r.lastHash, hex(blockHash(certs[2].block)))
  })

  it('reports, never throws, what a receiver refuses: a forged precommit, too few, a gap, another genesis, garbage', async () => {
    const forged = { ...certs[1], precommits: certs[1].precommits.map((p, i) => i === 0 ? { ...p, signature: new Uint8Array(64) } : p) }
    const cases: Array<[string, string, string[], RegExp]> = [
      ['forged', genesisText, [b64(certs[0]), b64(forged)], /InvalidCertificateError: .*bad signature/],
      ['too few', genesisText, [b64({ ...certs[0], precommits: certs[0].precommits.slice(0, 2) })], /InvalidCertificateError: .*needs 3/],
      ['gap', genesisText, [b64(certs[0]), b64(certs[2])], /InvalidCertificateError: certificate for height 3, expected 2/],
      ['other genesis', genesisToJson(createGenesis({ networkId: 'other', validators: vals.map(v => v.id), admins: [vals[0].id], createdAt: new Date(0) })), [b64(certs[0])], /InvalidCertificateError/],
      ['garbage', genesisText, ['AAAA'], /Error/]
    ]
    for (const [name, g, cbors, expected] of cases) {
      const r = await verifier.verifyChainWith(modules, g, cbors)
      assert.ok('error' in r, name)
      assert.match(r.error, expected, name)
    }
  })
})
