/**
 * Leases that live while their holder is seen (constants.ts `contactLapseMs`)
 * on the election simulator: a lease three times the contact lapse, renewed
 * seldom, as `lan` runs it. The simulator's membership is a perfect failure
 * detector (a member is dead the moment it is unreachable), which is the
 * hardest case for the rule: readers declare a holder gone as early as
 * possible, so a holder that stopped late would overlap its successor.
 */
import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import { electionTunables, leaseEndSeen, type Lease } from '../../../protocols/election/index.js'
import { CFG, ROLES, SEEDS, assertNoOverlap, assertUniqueTerms, crashStorm, holderOf, useSimulation } from './sim.js'

/** lan's proportions on the simulator's scale: lease 3 renew intervals, contact lapse well under the lease. */
const SEEN = electionTunables.validate({ ...CFG, leaseMs: 15_000, renewIntervalMs: 5_000, contactLapseMs: 3_000 }, 'contact sim')

for (const seed of SEEDS) describe(`election: leases that live while their holder is seen${SEEDS.length > 1 ? `, seed ${seed}` : ''}`, function () {
  this.timeout(60_000)
  const sim = useSimulation(seed, SEEN)

  it('fails over after a crash within the contact lapse, long before the lease would have lapsed', async () => {
    const world = await sim.electedWorld(3)
    const { clock } = world
    const old = world.acting('network')[0]
    const oldLease = old.engine.book.get('eu', 'network')!.lease
    const crashAt = clock.now()
    await old.crash()
    await clock.tickAsync(SEEN.contactLapseMs + SEEN.maxClockSkewMs + SEEN.claimSettleMs + SEEN.viewSettleMs + 500)
    const acting = world.acting('network')
    assert.equal(acting.length, 1)
    assert.equal(acting[0].id, holderOf(world, 'network'))
    assert.equal(acting[0].engine.actingTerm('network'), oldLease.term + 1)
    const started = world.intervals.find(i => i.node === acting[0].id && i.role === 'network')!.start
    assert.ok(started >= crashAt + SEEN.contactLapseMs + SEEN.maxClockSkewMs, `successor started ${started - crashAt} ms after the crash, before the contact lapse`)
    assert.ok(started < oldLease.expiresAt, 'and before the old lease itself would have lapsed')
    assertNoOverlap(world)
    assertUniqueTerms(world)
  })

  it('holderless seconds count from the moment the lease stopped being in force in this view, however rarely they are read', async () => {
    const world = await sim.electedWorld(4)
    const { clock } = world
    // Held for a while with nobody asking (the gauge is read only when scraped).
    await clock.tickAsync(3 * SEEN.renewIntervalMs)
    const old = world.acting('network')[0]
    const other = [...world.nodes.values()].find(n => n !== old)!
    assert.equal(other.engine.holderlessSeconds('network'), 0)
    const crashAt = clock.now()
    await old.crash()
    // Declared dead at once (a perfect detector): the lease ends a contact lapse later, long before its expiry,
    // and before any successor's claim (it waits the skew margin past that).
    await clock.tickAsync(SEEN.contactLapseMs + 100)
    const seconds = other.engine.holderlessSeconds('network')
    const expected = (clock.now() - crashAt - SEEN.contactLapseMs) / 1000
    assert.ok(Math.abs(seconds - expected) < 0.05, `${seconds} s holderless, ${expected} s since the lease ended in this view`)
    assert.deepEqual(other.engine.holderless().find(h => h.role === 'network'), { region: 'eu', role: 'network', seconds })
  })

  it('a cut-off holder stops for lost contact before the others take over; its renewals that went out do not extend it', async () => {
    const world = await sim.electedWorld(4)
    const { clock } = world
    const old = world.acting('network')[0]
    const term = old.engine.actingTerm('network')!
    const demoted: string[] = []
    old.engine.addEventListener('role:demoted', (e) => { const d = (e as CustomEvent<{ role: string, reason: string }>).detail; if (d.role === 'network') demoted.push(d.reason) })
    old.group = 1
    world.changed()
    await clock.tickAsync(SEEN.contactLapseMs + 2 * SEEN.maxClockSkewMs + SEEN.claimSettleMs + SEEN.viewSettleMs + 500)
    assert.equal(old.engine.isActing('network'), false)
    assert.deepEqual(demoted, ['contact-lost'])
    const acting = world.acting('network')
    assert.equal(acting.length, 1)
    assert.ok(acting[0].engine.actingTerm('network')! > term)
    assertNoOverlap(world)
    // Healed, it hears the higher term and never acts on its old one again.
    old.group = 0
    world.changed()
    await clock.tickAsync(2 * SEEN.leaseMs)
    for (const role of ROLES) assert.equal(world.acting(role).length, 1)
    assertNoOverlap(world)
    assertUniqueTerms(world)
  })

  it('readers that wrongly believe a live holder dead while they still talk to it: never two actors at once', async () => {
    const world = await sim.electedWorld(3)
    const { clock } = world
    const holder = world.acting('network')[0]
    // Every other node is blind to the holder (believes it dead) while gossip still flows: a view
    // SWIM would correct within a gossip round or two (the holder refutes), kept wrong here for
    // four leases. A reader may then take over once the contact lapse has passed, and its claim
    // reaches the holder, which demotes before the claimer acts (claimSettleMs): fencing, not overlap.
    for (const n of world.nodes.values()) if (n !== holder) n.blind.add(holder.id)
    world.changed()
    await clock.tickAsync(4 * SEEN.leaseMs)
    assert.equal(world.acting('network').length, 1)
    assertNoOverlap(world)
    assertUniqueTerms(world)
  })

  it('seeded random crashes and restarts: never two actors at once, never one term for two holders', async () => {
    await crashStorm(await sim.makeWorld(5), 3 * SEEN.contactLapseMs)
  })
})

describe('election: the contact rule over generated timings (lease.ts leaseEndSeen)', () => {
  const skew = SEEN.maxClockSkewMs
  const C = SEEN.contactLapseMs

  it('only ever shortens a lease, and a statement issued after the declaration restores its expiry', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 1e5 }), fc.integer({ min: -1e5, max: 2e5 }), (issuedAt, length, goneDelta) => {
      const lease: Lease = { v: 1, region: 'eu', role: 'network', holder: 'h', term: 1, issuedAt, expiresAt: issuedAt + length }
      const goneAt = issuedAt + goneDelta
      const end = leaseEndSeen(lease, skew, C, goneAt)
      assert.ok(end <= leaseEndSeen(lease, skew, C, undefined))
      if (issuedAt > goneAt + 2 * skew) assert.equal(end, lease.expiresAt + skew)
      else assert.equal(end, Math.min(lease.expiresAt + skew, goneAt + C + skew))
    }))
  })

  it('safety: a holder cut off at any moment stops, by its own clock, before any reader whose clock is within the skew sees its lease lapse', () => {
    // Real time: the holder is cut off at `cut`; it last heard a member at
    // `heard` <= cut and issued its last statement at `issued` <= cut; the
    // reader declares it gone at `gone` > cut. Clocks: holder = real + hs,
    // reader = real + rs, |hs|, |rs| <= skew.
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 0, max: 1e5 }), fc.integer({ min: 0, max: 1e5 }), fc.integer({ min: 1, max: 1e5 }),
      fc.integer({ min: -skew, max: skew }), fc.integer({ min: -skew, max: skew }),
      (cut, sinceHeard, sinceIssued, untilGone, hs, rs) => {
        const heard = cut - sinceHeard
        const issued = cut - sinceIssued
        const lease: Lease = { v: 1, region: 'eu', role: 'network', holder: 'h', term: 1, issuedAt: issued + hs, expiresAt: issued + hs + SEEN.leaseMs }
        // The holder acts while its own clock is before both of its ends (slot.ts actingLease).
        const holderStopsReal = Math.min(lease.expiresAt - skew, heard + hs + C - skew) - hs
        const readerEndReal = leaseEndSeen(lease, skew, C, cut + untilGone + rs) - rs
        assert.ok(holderStopsReal <= readerEndReal, `holder stops at ${holderStopsReal}, reader's lease ends at ${readerEndReal}`)
      }))
  })
})
