/**
 * The role slot's state machine (protocols/election/slot.ts), one step at a
 * time against a scripted host: the transitions the simulators only see in
 * aggregate (a claim's retry term, the settle wait under wake-ups, a lapse
 * noticed by a step whose timer is late, the order of demotion and release).
 */
import { strict as assert } from 'node:assert'
import pino from 'pino'
import { LeaseBook, electionTunables, leaseEndSeen, type ElectionConfig, type Lease, type SignedLease } from '../../../protocols/election/index.js'
import { RoleSlot, type SlotHost } from '../../../protocols/election/slot.js'
import type { LeaseStatements } from '../../../protocols/election/lease-writer.js'
import { VirtualClock } from '../../sim/clock.js'
import { CFG } from './sim.js'

const START = 1_700_000_000_000
const SELF = 'self-peer'
const OTHER = 'other-peer'

const signed = (lease: Lease): SignedLease => ({ lease, record: new Uint8Array() })

/** A slot on a scripted host; `log` records what it signed, published and announced, in order. */
function scripted (cfg: ElectionConfig = CFG): {
  slot: RoleSlot
  clock: VirtualClock
  book: LeaseBook
  log: string[]
  set: (patch: { winner?: string, reaches?: boolean, lateBy?: number, contact?: number | 'live' | 'alone', gone?: [string, number], viewChange?: number }) => void
  /** What a connected member's book answers a claimant (lease sync), and how often it and the DHT were asked. */
  peer: { book: SignedLease[], asked: number, dhtReads: number }
  stop: () => Promise<void>
} {
  const clock = new VirtualClock(START)
  const uninstall = clock.install()
  const book = new LeaseBook()
  const controller = new AbortController()
  const log: string[] = []
  let winner = SELF
  let reaches = true
  // How late the timers run behind the clock (a blocked event loop).
  let lateBy = 0
  // When a member was last heard from: 'live' follows the clock (probes answered), 'alone' knows no member.
  let contact: number | 'live' | 'alone' = 'live'
  // When membership declared a member gone.
  const gone = new Map<string, number>()
  // When the region's candidate set last changed.
  let viewChange = START
  const peer = { book: [] as SignedLease[], asked: 0, dhtReads: 0 }
  const host: SlotHost = {
    config: cfg,
    region: 'eu',
    self: SELF,
    book,
    logger: pino({ level: 'silent' }),
    signal: controller.signal,
    learnUntil: START + CFG.learnPeriodMs,
    now: () => clock.now() + lateBy,
    lastViewChange: () => viewChange,
    lastContact: () => contact === 'live' ? clock.now() + lateBy : contact === 'alone' ? undefined : contact,
    inForceUntil: (lease) => leaseEndSeen(lease, cfg.maxClockSkewMs, cfg.contactLapseMs, gone.get(lease.holder)),
    winner: () => winner,
    fencedTerm: () => 0,
    holderlessSeconds: () => 0,
    askPeer: async () => { peer.asked++; for (const sl of peer.book) book.observe(sl) },
    resolve: async () => { peer.dhtReads++ },
    sign: async (lease) => {
      log.push(`sign t${lease.term}${lease.expiresAt === lease.issuedAt ? ' release' : ''}`)
      return signed(lease)
    },
    observe: (sl) => { book.observe(sl) },
    renewDelay: () => CFG.renewIntervalMs,
    unreachable: (_role, term) => { log.push(`unreachable t${term}`) },
    elected: (lease) => { log.push(`elected t${lease.term}`) },
    demoted: (_role, term, reason) => { log.push(`demoted t${term} ${reason}`) }
  }
  const writer: LeaseStatements = {
    publish: async (sl) => { log.push(`publish t${sl.lease.term} ${reaches ? 'reached' : 'reached nobody'}`); return reaches },
    release: async (sl) => { log.push(`release t${sl.lease.term}`) }
  }
  const slot = new RoleSlot('network', host, writer)
  return {
    slot,
    clock,
    book,
    log,
    set: (patch) => {
      winner = patch.winner ?? winner
      reaches = patch.reaches ?? reaches
      lateBy = patch.lateBy ?? lateBy
      contact = patch.contact ?? contact
      viewChange = patch.viewChange ?? viewChange
      if (patch.gone !== undefined) gone.set(...patch.gone)
    },
    peer,
    stop: async () => {
      await slot.halt()
      controller.abort()
      uninstall()
    }
  }
}

/** Step until the slot holds (from a fresh slot, past the learn period). */
async function toHolding (s: ReturnType<typeof scripted>): Promise<void> {
  s.clock.tick(CFG.learnPeriodMs)
  await s.slot.step()
  s.clock.tick(CFG.claimSettleMs)
  await s.slot.step()
  assert.equal(s.slot.state, 'holding')
  s.log.length = 0
}

describe('election: role slot state machine', () => {
  let s: ReturnType<typeof scripted>
  beforeEach(() => { s = scripted() })
  afterEach(async () => { await s.stop() })

  it('learning: claims nothing before the learn period ends, even as the winner', async () => {
    s.clock.tick(CFG.learnPeriodMs - 1)
    // A step a millisecond early (the loop's monotonic timer ahead of the wall clock) comes back at the end, not a renew interval later.
    assert.equal(await s.slot.step(), 2)
    assert.equal(s.slot.state, 'learning')
    assert.deepEqual(s.log, [])
    s.clock.tick(1)
    assert.equal(await s.slot.step(), CFG.claimSettleMs)
    assert.equal(s.slot.state, 'claiming')
    assert.deepEqual(s.log, ['sign t1', 'publish t1 reached'])
  })

  it('a winner that knows no lease in force asks a connected member before the DHT, and claims nothing when the member knows one', async () => {
    s.peer.book = [signed({ v: 1, region: 'eu', role: 'network', holder: OTHER, term: 3, issuedAt: START, expiresAt: START + CFG.leaseMs })]
    s.clock.tick(CFG.learnPeriodMs)
    // The member's answer puts the other holder's lease in the book: no DHT walk, no claim; the next step is due
    // at its lapse if that comes before a renew interval.
    const lapse = START + CFG.leaseMs + CFG.maxClockSkewMs - s.clock.now()
    const next = await s.slot.step()
    assert.equal(s.peer.asked, 1)
    assert.equal(s.peer.dhtReads, 0)
    assert.deepEqual(s.log, [])
    assert.equal(s.slot.state, 'idle')
    assert.equal(next, lapse < CFG.renewIntervalMs ? lapse + 1 : undefined)
    // It lapses well within a lease period of the ask, and the member knows nothing newer: the DHT is still read
    // before the new term (a read stopped by the member's answer did not count as done).
    s.clock.tick(lapse + 1)
    await s.slot.step()
    assert.equal(s.peer.asked, 2)
    assert.equal(s.peer.dhtReads, 1)
    assert.deepEqual(s.log, ['sign t4', 'publish t4 reached'])
  })

  it('a claim that reaches no peer leaves no trace and is retried with the same term', async () => {
    s.book.observe(signed({ v: 1, region: 'eu', role: 'network', holder: OTHER, term: 4, issuedAt: START - 60_000, expiresAt: START - 50_000 }))
    s.clock.tick(CFG.learnPeriodMs)
    s.set({ reaches: false })
    for (let i = 0; i < 3; i++) {
      assert.equal(await s.slot.step(), undefined)
      assert.equal(s.slot.state, 'idle')
      s.clock.tick(CFG.renewIntervalMs)
    }
    assert.equal(s.slot.held, undefined)
    assert.equal(s.book.maxTerm('eu', 'network'), 4)
    s.set({ reaches: true })
    await s.slot.step()
    assert.deepEqual(s.log, [
      'sign t5', 'publish t5 reached nobody', 'unreachable t5',
      'sign t5', 'publish t5 reached nobody', 'unreachable t5',
      'sign t5', 'publish t5 reached nobody', 'unreachable t5',
      'sign t5', 'publish t5 reached'
    ])
    assert.equal(s.slot.state, 'claiming')
  })

  it('claiming decides only once claimSettleMs has passed, however often it is woken before', async () => {
    s.clock.tick(CFG.learnPeriodMs)
    await s.slot.step()
    for (const at of [0, 100, CFG.claimSettleMs - 1]) {
      s.clock.tick(at - (s.clock.now() - START - CFG.learnPeriodMs))
      assert.equal(await s.slot.step(), CFG.claimSettleMs - at, `woken ${at} ms into the settle`)
      assert.equal(s.slot.state, 'claiming')
      assert.equal(s.slot.acting, false)
    }
    s.clock.tick(1)
    assert.equal(await s.slot.step(), CFG.renewIntervalMs, 'the first renewal is a renew interval away')
    assert.equal(s.slot.state, 'holding')
    assert.equal(s.slot.acting, true)
    assert.deepEqual(s.log, ['sign t1', 'publish t1 reached', 'elected t1'])
  })

  it('holding: woken before the renewal is due, a step only checks; it renews once, when due', async () => {
    await toHolding(s)
    const tookRole = s.clock.now()
    // Membership changes wake the slot many times a second during a join.
    for (const at of [0, 1, 1_000, CFG.renewIntervalMs - 1]) {
      s.clock.tick(tookRole + at - s.clock.now())
      assert.equal(await s.slot.step(), CFG.renewIntervalMs - at, `woken ${at} ms after taking the role`)
      assert.equal(s.slot.acting, true)
    }
    assert.deepEqual(s.log, [], 'no renewal before it is due')
    s.clock.tick(1)
    assert.equal(await s.slot.step(), CFG.renewIntervalMs)
    assert.deepEqual(s.log, ['sign t1', 'publish t1 reached'])
    const renewed = s.slot.held!.lease
    assert.equal(renewed.issuedAt, s.clock.now())
    // The next renewal counts from this one.
    s.clock.tick(CFG.renewIntervalMs - 1)
    assert.equal(await s.slot.step(), 1)
    assert.equal(s.log.length, 2)
    // Checks still run on an early step: a holder that is no longer the winner
    // starts its handover wait there (the renewal, due first, is still asked for).
    s.set({ winner: OTHER })
    assert.equal(await s.slot.step(), 1)
    assert.equal(s.slot.state, 'holding')
    s.clock.tick(CFG.handoverSettleMs)
    await s.slot.step()
    assert.equal(s.slot.state, 'idle')
    assert.deepEqual(s.log.slice(2), ['demoted t1 not-winner', 'sign t1 release', 'release t1'])
  })

  it('a higher token that arrives while claiming: the claim is never acted on, and the slot waits for that lease', async () => {
    s.clock.tick(CFG.learnPeriodMs)
    await s.slot.step()
    const now = s.clock.now()
    s.book.observe(signed({ v: 1, region: 'eu', role: 'network', holder: OTHER, term: 2, issuedAt: now, expiresAt: now + CFG.leaseMs }))
    s.clock.tick(CFG.claimSettleMs)
    assert.equal(await s.slot.step(), undefined)
    assert.equal(s.slot.state, 'idle')
    assert.deepEqual(s.log, ['sign t1', 'publish t1 reached'])
  })

  it('holding: a lease past its end demotes on the next step even when the lapse timer is late', async () => {
    await toHolding(s)
    const held = s.slot.held!.lease
    // The event loop was blocked: the clock is past the holder's end of the lease, the timer has not fired.
    s.set({ lateBy: held.expiresAt - CFG.maxClockSkewMs - s.clock.now() })
    assert.equal(s.slot.acting, false, 'acting is checked against the clock, not left to the timer')
    s.set({ winner: OTHER })
    await s.slot.step()
    assert.equal(s.slot.state, 'idle')
    assert.deepEqual(s.log, ['demoted t1 lease-lapsed', 'sign t1 release', 'release t1'])
  })

  it('holding: the lapse timer demotes a holder whose renewals reach nobody, then wakes the slot', async () => {
    await toHolding(s)
    const end = s.slot.held!.lease.expiresAt - CFG.maxClockSkewMs
    s.set({ reaches: false })
    s.clock.tick(CFG.renewIntervalMs)
    await s.slot.step()
    assert.equal(s.slot.state, 'holding', 'one lost renewal does not demote')
    await s.clock.tickAsync(end - 1 - s.clock.now())
    assert.equal(s.slot.state, 'holding')
    await s.clock.tickAsync(1)
    assert.equal(s.slot.state, 'idle')
    // Woken by the lapse, the slot (still the winner) tries a new term at once; it reaches nobody either.
    assert.deepEqual(s.log, [
      'sign t1', 'publish t1 reached nobody', 'unreachable t1',
      'demoted t1 lease-lapsed',
      'sign t2', 'publish t2 reached nobody', 'unreachable t2'
    ])
  })

  it('holding: a lapse timer that fires a millisecond before the clock reaches the lapse still demotes at the lapse, not at the next step', async () => {
    await toHolding(s)
    const end = s.slot.held!.lease.expiresAt - CFG.maxClockSkewMs
    s.set({ reaches: false })
    s.clock.tick(CFG.renewIntervalMs)
    await s.slot.step()
    s.log.length = 0
    // The timers' clock runs a millisecond ahead of the holder's (Node: monotonic ms vs Date.now()).
    s.set({ lateBy: -1 })
    await s.clock.tickAsync(end - s.clock.now())
    assert.equal(s.slot.state, 'holding', 'the holder\'s clock has not reached the lapse yet')
    assert.equal(s.slot.acting, true)
    await s.clock.tickAsync(1)
    assert.equal(s.slot.acting, false)
    assert.equal(s.slot.state, 'idle', 'demoted as soon as the clock reached the lapse')
    assert.deepEqual(s.log.slice(0, 1), ['demoted t1 lease-lapsed'])
  })

  it('holding: no longer the winner demotes first, then releases in the same step', async () => {
    await toHolding(s)
    s.set({ winner: OTHER })
    await s.slot.step()
    s.clock.tick(CFG.handoverSettleMs)
    s.log.length = 0
    await s.slot.step()
    assert.equal(s.slot.state, 'idle')
    assert.deepEqual(s.log, ['demoted t1 not-winner', 'sign t1 release', 'release t1'])
    assert.equal(s.book.get('eu', 'network')?.lease.expiresAt, s.book.get('eu', 'network')?.lease.issuedAt, 'the book holds the release')
  })

  it('holding: no longer the winner, it keeps the role until the same member has been the winner for handoverSettleMs and the view is still', async () => {
    const { renewIntervalMs: renew, handoverSettleMs: settle, viewSettleMs: still } = CFG
    assert.ok(renew > settle && settle > still, 'the timeline below assumes renew > handover settle > view settle')
    await toHolding(s)
    const at = s.clock.now()
    const renewAt = at + renew
    const step = async (): Promise<number | undefined> => await s.slot.step()
    // A closer member joined a moment ago: the next step is the handover.
    s.set({ winner: OTHER, viewChange: at })
    assert.equal(await step(), settle + 1)
    assert.equal(s.slot.state, 'holding')
    assert.equal(s.slot.acting, true)
    assert.equal(s.log.length, 0, 'no release')
    // Others come and go, the winner stays: the wait goes on.
    s.clock.tick(settle / 2)
    s.set({ viewChange: s.clock.now() })
    assert.equal(await step(), settle / 2 + 1)
    // A still closer member: the wait starts again, for it (the renewal comes first).
    s.clock.tick(settle / 2)
    const third = s.clock.now()
    s.set({ winner: 'a-third-peer', viewChange: third })
    assert.equal(await step(), renewAt - third)
    assert.equal(s.slot.state, 'holding')
    // The renewal, under the same term; its step asks for the handover, not the next renewal.
    s.clock.tick(renewAt - s.clock.now())
    assert.equal(await step(), settle - (renewAt - third) + 1)
    assert.deepEqual(s.log, ['sign t1', 'publish t1 reached'])
    assert.equal(s.slot.held!.lease.term, 1)
    s.log.length = 0
    // The winner has been the same for the settle time, but the view moved a moment ago: it waits for a still view.
    s.clock.tick(third + settle - s.clock.now())
    s.set({ viewChange: s.clock.now() - 1 })
    assert.equal(await step(), still)
    assert.equal(s.slot.state, 'holding')
    s.clock.tick(still)
    await step()
    assert.equal(s.slot.state, 'idle')
    assert.deepEqual(s.log, ['demoted t1 not-winner', 'sign t1 release', 'release t1'])
  })

  it('idle: a lease of this node from before its restart, still in force, is released when another member is the winner', async () => {
    const now = s.clock.now()
    s.book.observe(signed({ v: 1, region: 'eu', role: 'network', holder: SELF, term: 4, issuedAt: now - 1_000, expiresAt: now - 1_000 + CFG.leaseMs }))
    s.set({ winner: OTHER })
    s.clock.tick(CFG.learnPeriodMs)
    await s.slot.step()
    assert.equal(s.slot.state, 'idle')
    assert.deepEqual(s.log, ['sign t4 release', 'release t4'])
    assert.equal(s.book.get('eu', 'network')?.lease.expiresAt, s.book.get('eu', 'network')?.lease.issuedAt, 'the book holds the release')
    // Once: the next step has nothing to release.
    s.clock.tick(CFG.renewIntervalMs)
    await s.slot.step()
    assert.equal(s.log.length, 2)
  })

  it('holding: the winner again before the handover is due, it never hands over', async () => {
    await toHolding(s)
    s.set({ winner: OTHER, viewChange: s.clock.now() })
    await s.slot.step()
    s.clock.tick(CFG.handoverSettleMs / 2)
    s.set({ winner: SELF, viewChange: s.clock.now() })
    await s.slot.step()
    for (let waited = 0; waited < 3 * CFG.handoverSettleMs; waited += CFG.renewIntervalMs) {
      s.clock.tick(CFG.renewIntervalMs)
      await s.slot.step()
    }
    assert.equal(s.slot.state, 'holding')
    assert.equal(s.slot.held!.lease.term, 1)
    assert.equal(s.slot.acting, true)
    assert.deepEqual(s.log.filter(l => l.startsWith('demoted') || l.startsWith('release')), [])
  })

  it('holding: a higher token demotes at once, without a step; a lower one does nothing', async () => {
    await toHolding(s)
    const now = s.clock.now()
    // Same term, lower holder id ('other-peer' < 'self-peer'): a lower token.
    s.slot.observed(signed({ v: 1, region: 'eu', role: 'network', holder: OTHER, term: 1, issuedAt: now, expiresAt: now + CFG.leaseMs }))
    assert.equal(s.slot.state, 'holding')
    s.slot.observed(signed({ v: 1, region: 'eu', role: 'network', holder: OTHER, term: 2, issuedAt: now, expiresAt: now + CFG.leaseMs }))
    assert.equal(s.slot.state, 'idle')
    assert.deepEqual(s.log, ['demoted t1 superseded'])
  })

  it('halt: a holder stops acting at once; its lease is then released', async () => {
    await toHolding(s)
    await s.slot.halt()
    assert.equal(s.slot.acting, false)
    await s.slot.releaseIfHeld()
    assert.deepEqual(s.log, ['demoted t1 stopping', 'sign t1 release', 'release t1'])
  })
})

describe('election: role slot with a contact lapse shorter than the lease', () => {
  const SHORT = electionTunables.validate({ ...CFG, contactLapseMs: 3_000 }, 'short contact')
  let c: ReturnType<typeof scripted>
  beforeEach(() => { c = scripted(SHORT) })
  afterEach(async () => { await c.stop() })

  /** One renewal step after `ms` of virtual time (the scripted slot runs no loop of its own). */
  const renewAfter = async (ms: number): Promise<void> => { await c.clock.tickAsync(ms); await c.slot.step() }

  it('holding: hearing from no member for contactLapseMs stops a holder whose renewals still go out, before its lease lapses', async () => {
    await toHolding(c)
    const heard = c.clock.now()
    c.set({ contact: heard })
    await renewAfter(SHORT.renewIntervalMs)
    assert.deepEqual(c.log, ['sign t1', 'publish t1 reached'], 'it renewed meanwhile')
    const end = heard + SHORT.contactLapseMs - SHORT.maxClockSkewMs
    assert.ok(end < c.slot.held!.lease.expiresAt - SHORT.maxClockSkewMs, 'the contact runs out first')
    await c.clock.tickAsync(end - 1 - c.clock.now())
    assert.equal(c.slot.state, 'holding')
    await c.clock.tickAsync(1)
    assert.equal(c.slot.state, 'idle', 'the lapse timer demoted it')
    assert.equal(c.slot.acting, false)
    assert.deepEqual(c.log.slice(2), ['demoted t1 contact-lost'])
    // Cut off, it claims no new term (one it could not act on).
    c.log.length = 0
    assert.equal(await c.slot.step(), SHORT.claimSettleMs, 'it looks again at the settle pace')
    assert.deepEqual(c.log, [])
    // Heard from again: it claims the next term and acts.
    c.set({ contact: 'live' })
    await c.slot.step()
    c.clock.tick(SHORT.claimSettleMs)
    await c.slot.step()
    assert.equal(c.slot.state, 'holding')
    assert.deepEqual(c.log, ['sign t2', 'publish t2 reached', 'elected t2'])
  })

  it('holding: while members keep answering, the lapse timer re-arms and the holder acts past many contact lapses', async () => {
    await toHolding(c)
    for (let i = 0; i < 10; i++) await renewAfter(SHORT.renewIntervalMs)
    assert.ok(10 * SHORT.renewIntervalMs > 5 * SHORT.contactLapseMs)
    assert.equal(c.slot.state, 'holding')
    assert.equal(c.slot.acting, true)
    assert.ok(!c.log.some(l => l.startsWith('demoted')), c.log.join(', '))
  })

  it('holding: a holder paused past its contact deadline stays stopped, whatever contact is stamped after it (latched)', async () => {
    await toHolding(c)
    const heard = c.clock.now()
    c.set({ contact: heard })
    assert.equal(c.slot.acting, true)
    const deadline = heard + SHORT.contactLapseMs - SHORT.maxClockSkewMs
    // Paused: the clock jumps past the deadline before any timer runs, and
    // the first thing handled is the answer to a probe sent after the pause.
    c.set({ lateBy: deadline + 500 - c.clock.now(), contact: deadline + 400 })
    assert.equal(c.slot.acting, false)
    await c.slot.step()
    assert.equal(c.slot.state !== 'holding' || c.slot.held!.lease.term > 1, true)
    assert.deepEqual(c.log.slice(0, 1), ['demoted t1 contact-lost'])
  })

  it('a one-node holder that comes to know members gets a whole contact lapse from then to hear from one', async () => {
    c.set({ contact: 'alone' })
    await toHolding(c)
    await c.clock.tickAsync(2 * SHORT.contactLapseMs)
    assert.equal(c.slot.acting, true)
    // Members appear; none has answered a probe of ours yet.
    const knew = c.clock.now()
    c.set({ contact: 0 })
    assert.equal(c.slot.acting, true, 'not stopped at once for contact it could not have had')
    c.clock.tick(SHORT.contactLapseMs - SHORT.maxClockSkewMs - 1)
    assert.equal(c.slot.acting, true)
    c.clock.tick(1)
    assert.equal(c.clock.now(), knew + SHORT.contactLapseMs - SHORT.maxClockSkewMs)
    assert.equal(c.slot.acting, false, 'no answer within the lapse: stopped')
  })

  it('a node that knows no other member needs no contact', async () => {
    c.set({ contact: 'alone' })
    await toHolding(c)
    for (let i = 0; i < 10; i++) await renewAfter(SHORT.renewIntervalMs)
    assert.equal(c.slot.acting, true)
    assert.ok(!c.log.some(l => l.startsWith('demoted')), c.log.join(', '))
  })

  it('idle: another holder\'s lease stops counting contactLapseMs after membership declared the holder gone, and the winner claims', async () => {
    c.clock.tick(SHORT.learnPeriodMs)
    const now = c.clock.now()
    c.book.observe(signed({ v: 1, region: 'eu', role: 'network', holder: OTHER, term: 4, issuedAt: now, expiresAt: now + SHORT.leaseMs }))
    // Declared gone after the lease's issue.
    c.set({ gone: [OTHER, now + 500] })
    await c.slot.step()
    assert.equal(c.slot.state, 'idle')
    assert.deepEqual(c.log, [], 'the lease is in force: no claim')
    c.clock.tick(500 + SHORT.contactLapseMs + SHORT.maxClockSkewMs - 1)
    await c.slot.step()
    assert.deepEqual(c.log, [], 'one millisecond before the contact lapse ends')
    c.clock.tick(1)
    assert.ok(c.clock.now() < now + SHORT.leaseMs, 'well before the lease itself would lapse')
    await c.slot.step()
    assert.deepEqual(c.log, ['sign t5', 'publish t5 reached'])
  })
})
