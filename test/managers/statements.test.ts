/**
 * Periodic role statements (managers/actions.ts `state`, role.ts `State`):
 * an unchanged statement is sent again only after `statementRefreshMs`, a
 * changed one at most every `statementMinGapMs`; a new term always sends;
 * the holder's own view is current either way. Clock injected.
 */
import { strict as assert } from 'node:assert'
import pino from 'pino'
import fc from 'fast-check'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { FencedActions, statementContent } from '../../managers/actions.js'
import { rolesMetrics } from '../../managers/metrics.js'
import { rolesTunables } from '../../managers/constants.js'
import { FencingStore, LeaseBook, signLease, type ElectionEngine, type RoleAction } from '../../protocols/election/index.js'
import { MemoryNetwork } from '../helpers/memory-host.js'
import { InvalidTunablesError } from '../../lib/tunables.js'
import { waitFor } from '../../harness/agent-process.js'

const logger = pino({ level: 'silent' })

const until = async (cond: () => boolean): Promise<void> => { await waitFor(cond, 5_000, 'condition', 10) }

describe('roles: periodic statements', () => {
  it('sends a statement when it is new, changed past the minimum gap, or due for refresh; otherwise applies it only locally', async () => {
    const keyA = await generateKeyPair('Ed25519')
    const keyB = await generateKeyPair('Ed25519')
    const a = peerIdFromPrivateKey(keyA).toString()
    const b = peerIdFromPrivateKey(keyB).toString()
    const net = new MemoryNetwork()
    const hostA = net.host(a)
    const hostB = net.host(b)
    hostA.connect(hostB)
    const start = Date.now()
    let term = 1
    const leases = [1, 2].map(async t => await signLease({ v: 1, region: 'eu', role: 'monitoring', holder: a, term: t, issuedAt: start, expiresAt: start + 600_000 }, keyA))
    const [lease1, lease2] = await Promise.all(leases)
    let clock = 1_000_000
    const local: RoleAction[] = []
    const remote: RoleAction[] = []
    const make = (peerId: string, key: typeof keyA, host: typeof hostA, dispatch: (x: RoleAction) => void): { fa: FencedActions, book: LeaseBook } => {
      const book = new LeaseBook()
      book.observe(lease1)
      const election = { book, actingTerm: (role: string) => peerId === a && role === 'monitoring' ? term : undefined } as unknown as ElectionEngine
      const fa = new FencedActions({ pubsub: host.pubsub, peerId, privateKey: key, region: 'eu', logger, fencing: new FencingStore(), election, metrics: rolesMetrics(), dispatch, statements: { statementRefreshMs: 120_000, statementMinGapMs: 60_000 }, now: () => clock })
      return { fa, book }
    }
    const holder = make(a, keyA, hostA, (x) => { local.push(x) })
    const receiver = make(b, keyB, hostB, (x) => { remote.push(x) })
    holder.fa.start()
    receiver.fa.start()
    const say = async (body: unknown, expectSent: boolean): Promise<void> => {
      const before = remote.length
      assert.equal(await holder.fa.state('monitoring', 'region-metrics', body), true)
      assert.deepEqual(holder.fa.latest(600_000).filter(o => o.kind === 'region-metrics').map(o => o.body), [body], 'the holder sees its latest statement at once')
      if (expectSent) await until(() => remote.length === before + 1)
      else {
        // A marker sent after it arrives after it (one ordered link): nothing in between means nothing was sent.
        await holder.fa.emit('monitoring', 'marker', null)
        await until(() => remote.length > before)
        assert.equal(remote[before].kind, 'marker', `statement ${JSON.stringify(body)} was sent`)
        remote.pop()
      }
    }
    try {
      await until(() => hostA.pubsub.getSubscribers('mycel/role-actions/eu/1').length === 1)
      await say({ at: 1, load: 1 }, true) // the first of the term
      clock += 10_000
      await say({ at: 2, load: 1 }, false) // unchanged (`at` is no change)
      clock += 10_000
      await say({ at: 3, load: 2 }, false) // changed, but 20 s < the 60 s minimum gap
      clock += 40_000
      await say({ at: 4, load: 3 }, true) // changed, 60 s after the last one sent
      clock += 119_000
      await say({ at: 5, load: 3 }, false) // unchanged, 119 s
      clock += 1_000
      await say({ at: 6, load: 3 }, true) // unchanged, refresh due at 120 s
      term = 2
      holder.book.observe(lease2)
      receiver.book.observe(lease2)
      await say({ at: 7, load: 3 }, true) // a new term starts over
      assert.deepEqual(remote.filter(x => x.kind === 'region-metrics').map(x => x.term), [1, 1, 1, 2])
    } finally {
      holder.fa.stop()
      receiver.fa.stop()
      hostA.stop()
      hostB.stop()
    }
  })

  it('`at` at the top level is not a change; anything else is', () => {
    fc.assert(fc.property(fc.dictionary(fc.string().filter(k => k !== 'at' && k !== '__proto__'), fc.jsonValue()), fc.integer(), fc.integer(), (rest, at1, at2) => {
      assert.equal(statementContent({ ...rest, at: at1 }), statementContent({ ...rest, at: at2 }))
      assert.notEqual(statementContent({ ...rest, at: at1 }), statementContent({ ...rest, at: at1, changed: true }))
    }))
  })

  it('refuses a refresh that would let one lost restatement drop a live holder output, or a gap above the refresh', () => {
    assert.throws(() => rolesTunables.create('lan', { reportTtlMs: 60_000, statementRefreshMs: 40_000, statementMinGapMs: 10_000 }), InvalidTunablesError)
    assert.throws(() => rolesTunables.create('lan', { statementMinGapMs: 200_000 }), /statementMinGapMs/)
  })
})
