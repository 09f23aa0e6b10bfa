/**
 * The election engine against the simulator of test/protocols/election/sim.ts: the shared
 * seeded network harness (test/sim), one virtual clock for every node.
 * ELECTION_SEED / ELECTION_SEEDS choose the seeds.
 */
import { strict as assert } from 'node:assert'
import { rankCandidates } from '../../../protocols/election/rule.js'
import { CFG, ELECTED_MS, ROLES, SEEDS, assertNoOverlap, assertUniqueTerms, crashStorm, holderOf, useSimulation } from './sim.js'

for (const seed of SEEDS) describe(`election engine (virtual clock, seeded in-memory network)${SEEDS.length > 1 ? `, seed ${seed}` : ''}`, function () {
  this.timeout(60_000)
  const sim = useSimulation(seed)

  it('elects exactly the closest candidate per role, term 1, after the learn period', async () => {
    const world = await sim.makeWorld(3)
    const { clock } = world
    await clock.tickAsync(CFG.learnPeriodMs - 100)
    assert.equal(world.acting('network').length, 0, 'nobody acts while learning')
    await clock.tickAsync(CFG.renewIntervalMs + CFG.claimSettleMs + 500)
    for (const role of ROLES) {
      const acting = world.acting(role)
      assert.equal(acting.length, 1, `${role}: ${acting.length} acting`)
      assert.equal(acting[0].id, holderOf(world, role))
      assert.equal(acting[0].engine.actingTerm(role), 1)
      for (const n of world.nodes.values()) assert.equal(n.engine.book.get('eu', role)?.lease.holder, acting[0].id)
      // A winner reads the term history from the DHT before its first term (mycel_election_dht_reads_total).
      const claimReads = (await acting[0].metrics.dhtReads.get()).values.find(v => v.labels.reason === 'claim')?.value ?? 0
      assert.ok(claimReads >= 1, `${role}: ${claimReads} claim reads`)
    }
    // Renewals keep it: still one holder, same term, many lease periods later.
    await clock.tickAsync(5 * CFG.leaseMs)
    for (const role of ROLES) {
      assert.equal(world.acting(role).length, 1)
      assert.equal(world.acting(role)[0].engine.actingTerm(role), 1)
    }
    assertNoOverlap(world)
  })

  for (const joins of [true, false]) {
    it(joins
      ? 'a node told to join claims nothing while it knows no member, then takes its roles once it has met them'
      : 'a node alone by design (no bootstrap peers) is a one-node cluster and claims every role', async () => {
      const world = await sim.electedWorld(3)
      const b = [...world.nodes.values()].find(n => ROLES.some(role => holderOf(world, role) === n.id))!
      await b.crash()
      await world.clock.tickAsync(CFG.contactLapseMs + CFG.maxClockSkewMs + ELECTED_MS)
      // b restarts with an empty view: its join has not gone through yet.
      b.joins = joins
      b.stranger = true
      b.group = 1
      const puts = b.puts
      await b.restart()
      await world.clock.tickAsync(CFG.learnPeriodMs + 3 * CFG.leaseMs)
      if (!joins) {
        for (const role of ROLES) assert.equal(b.engine.isActing(role), true, `${role}: alone by design, it holds the role`)
        return
      }
      for (const role of ROLES) assert.equal(b.engine.isActing(role), false, `${role}: no claim before the join`)
      assert.equal(b.puts, puts, 'no claim written to the DHT')
      // Its join goes through.
      b.stranger = false
      b.group = 0
      world.changed()
      await world.clock.tickAsync(CFG.handoverSettleMs + ELECTED_MS + CFG.leaseMs)
      for (const role of ROLES) {
        const acting = world.acting(role)
        assert.equal(acting.length, 1, `${role}: ${acting.length} acting`)
        assert.equal(acting[0].id, holderOf(world, role), `${role}: the winner holds it once the view is still`)
      }
      assert.ok(ROLES.some(role => b.engine.isActing(role)), 'b took back a role it is the winner of')
      assertNoOverlap(world)
      // Once it has met members, a node left alone (its peers gone and reaped) is a one-node cluster again.
      b.stranger = true
      b.group = 1
      await world.clock.tickAsync(CFG.contactLapseMs + 3 * CFG.leaseMs)
      for (const role of ROLES) assert.equal(b.engine.isActing(role), true, `${role}: alone after having joined, it holds the role`)
    })
  }

  it('lists any region\'s candidates from membership, ranked by the rule, the alive ones only, with no DHT lookup', async () => {
    const world = await sim.makeWorld(6, ['eu', 'us'])
    await world.clock.tickAsync(ELECTED_MS)
    const nodes = [...world.nodes.values()]
    const asker = nodes.find(n => n.region === 'eu')!
    const gets = asker.gets
    const us = nodes.filter(n => n.region === 'us')
    const expected = (role: string): string[] => rankCandidates('us', role, us.filter(n => n.up).map(n => ({ peerId: n.id, region: 'us', roles: ROLES })))
    for (const role of ROLES) {
      assert.deepEqual(asker.engine.candidates(role, 'us'), expected(role))
      // The first candidate is the holder the region elected, as the asker's book has it.
      assert.equal(asker.engine.candidates(role, 'us')[0], asker.engine.book.get('us', role)?.lease.holder)
      assert.ok(!asker.engine.candidates(role, 'us').includes(asker.id), 'never a candidate of another region')
      assert.ok(asker.engine.candidates(role).includes(asker.id), 'a candidate of its own region')
    }
    // A dead member is no candidate, in any asker's view.
    us[0].up = false
    for (const role of ROLES) assert.deepEqual(asker.engine.candidates(role, 'us'), expected(role))
    assert.equal(asker.engine.candidates('network', 'us').length, us.length - 1)
    assert.equal(asker.gets, gets, 'the DHT is not read')
  })

  it('steady state: renewals travel by gossip; the DHT is written per term and every dhtPutIntervalMs, read only when gossip goes quiet', async () => {
    const world = await sim.electedWorld(4)
    const { clock } = world
    for (const role of ROLES) assert.equal(world.acting(role).length, 1)
    for (const n of world.nodes.values()) { n.puts = 0; n.gets = 0 }
    const span = 3 * CFG.dhtPutIntervalMs
    await clock.tickAsync(span)
    const renewals = span / CFG.renewIntervalMs
    const puts = [...world.nodes.values()].reduce((a, n) => a + n.puts, 0)
    const gets = [...world.nodes.values()].reduce((a, n) => a + n.gets, 0)
    // One put per role per interval (+1 for the phase), instead of one per renewal.
    assert.ok(puts <= ROLES.length * (span / CFG.dhtPutIntervalMs + 1), `${puts} puts in ${span} ms (${renewals} renewals per role)`)
    assert.ok(puts >= ROLES.length * (span / CFG.dhtPutIntervalMs - 1), `${puts} puts: the record is still refreshed`)
    assert.equal(gets, 0, 'no DHT reads while gossip brings renewals')
    // A node that misses gossip repairs its book from the DHT.
    const deaf = [...world.nodes.values()].find(n => !ROLES.some(r => n.engine.isActing(r)))!
    const reads = async (reason: string): Promise<number> => (await deaf.metrics.dhtReads.get()).values.find(v => v.labels.reason === reason)?.value ?? 0
    const claimReads = await reads('claim')
    const upkeepReads = await reads('upkeep')
    const getsBefore = deaf.gets
    deaf.deaf = true
    await clock.tickAsync(2 * CFG.renewIntervalMs + 2 * CFG.dhtRefreshMs)
    assert.ok(deaf.gets > getsBefore, 'the deaf node read the DHT')
    // Counted by why (mycel_election_dht_reads_total): the quiet roles' upkeep, not a claim.
    assert.equal(await reads('upkeep') - upkeepReads, deaf.gets - getsBefore)
    assert.equal(await reads('claim'), claimReads)
    assert.equal([...world.nodes.values()].filter(n => n !== deaf).reduce((a, n) => a + n.gets, 0), 0)
    for (const role of ROLES) assert.equal(deaf.engine.book.get('eu', role)?.lease.holder, world.acting(role)[0].id)
    assertNoOverlap(world)
  })

  it('fails over after a crash: term + 1, not before the old lease lapsed, within a lease period', async () => {
    const world = await sim.electedWorld(3)
    const { clock } = world
    const old = world.acting('network')[0]
    const oldLease = old.engine.book.get('eu', 'network')!.lease
    const crashAt = clock.now()
    await old.crash()
    await clock.tickAsync(CFG.leaseMs + CFG.maxClockSkewMs + CFG.renewIntervalMs * 1.2 + CFG.claimSettleMs + 200)
    const acting = world.acting('network')
    assert.equal(acting.length, 1)
    assert.equal(acting[0].id, holderOf(world, 'network'))
    assert.equal(acting[0].engine.actingTerm('network'), oldLease.term + 1)
    const started = world.intervals.find(i => i.node === acting[0].id && i.role === 'network')!.start
    assert.ok(started >= oldLease.expiresAt + CFG.maxClockSkewMs, 'successor waited for the lapse')
    assert.ok(started - crashAt <= CFG.leaseMs + CFG.maxClockSkewMs + CFG.renewIntervalMs * 1.2 + CFG.claimSettleMs + 100, `failover took ${started - crashAt} ms`)
    assertNoOverlap(world)
    assertUniqueTerms(world)
  })

  it('hands over at once on a graceful stop (release), before the lease would have lapsed', async () => {
    const world = await sim.electedWorld(3)
    const { clock } = world
    const old = world.acting('network')[0]
    const expires = old.engine.book.get('eu', 'network')!.lease.expiresAt
    await old.engine.stop()
    old.up = false
    world.changed()
    await clock.tickAsync(CFG.viewSettleMs + CFG.claimSettleMs + 200)
    const acting = world.acting('network')
    assert.equal(acting.length, 1)
    assert.ok(clock.now() < expires, 'took over before the old lease expired')
    assertNoOverlap(world)
  })

  it('a cut-off holder stops when its lease lapses; the others take over only after; after healing its token is stale everywhere', async () => {
    const world = await sim.electedWorld(4)
    const { clock } = world
    const old = world.acting('network')[0]
    const oldToken = { term: old.engine.actingTerm('network')!, holder: old.id }
    old.group = 1
    world.changed()
    // Its renewals reach nobody: it keeps acting only until its last lease lapses.
    await clock.tickAsync(CFG.leaseMs + CFG.renewIntervalMs * 2 + CFG.claimSettleMs + 500)
    assert.equal(old.engine.isActing('network'), false)
    const acting = world.acting('network')
    assert.equal(acting.length, 1)
    assert.notEqual(acting[0].id, old.id)
    assert.ok(acting[0].engine.actingTerm('network')! > oldToken.term)
    assertNoOverlap(world)
    // Heal: the old holder may win the role back (it is the closest), but only with a higher term.
    old.group = 0
    world.changed()
    await clock.tickAsync(3 * CFG.leaseMs)
    const after = world.acting('network')
    assert.equal(after.length, 1)
    for (const n of world.nodes.values()) {
      assert.equal(n.fencing.check('eu', 'network', oldToken), 'stale', `${n.id.slice(-6)} would still accept the old holder`)
    }
    assertNoOverlap(world)
    assertUniqueTerms(world)
  })

  it('a node that sees a higher token stops acting at once (superseded)', async () => {
    const world = await sim.electedWorld(3)
    const { clock } = world
    const holder = world.acting('network')[0]
    const other = [...world.nodes.values()].find(n => n !== holder)!
    const { signLease } = await import('../../../protocols/election/index.js')
    const now = clock.now()
    const higher = await signLease({ v: 1, region: 'eu', role: 'network', holder: other.id, term: 99, issuedAt: now, expiresAt: now + CFG.leaseMs }, other.key)
    ;(holder.engine as any).observe(higher, 'gossip')
    assert.equal(holder.engine.isActing('network'), false)
    // And it then claims above it once that lease lapses (the other never acted for it).
    await clock.tickAsync(CFG.leaseMs + CFG.maxClockSkewMs + CFG.renewIntervalMs * 2 + CFG.claimSettleMs)
    assert.equal(world.acting('network').length, 1)
    assert.ok(world.acting('network')[0].engine.actingTerm('network')! > 99)
  })

  it('split views: two nodes that each believe they win claim concurrently; only one ever acts', async () => {
    const world = await sim.makeWorld(3)
    const { clock } = world
    const ranked = [...world.nodes.values()].sort((a, b) => (a.id === holderOf(world, 'network') ? -1 : b.id === holderOf(world, 'network') ? 1 : 0))
    const [first, second] = ranked
    second.blind.add(first.id) // second thinks the real winner is dead, yet they can talk
    await clock.tickAsync(ELECTED_MS)
    assert.equal(world.acting('network').length, 1)
    await clock.tickAsync(4 * CFG.leaseMs)
    assert.equal(world.acting('network').length, 1)
    assertNoOverlap(world)
    assertUniqueTerms(world)
  })

  it('seeded random crashes and restarts: never two actors at once, never one term for two holders', async () => {
    const world = await sim.makeWorld(5)
    await crashStorm(world, 3 * CFG.leaseMs)
    // Terms only grow along the history of each role.
    for (const role of ROLES) {
      const terms = world.intervals.filter(i => i.role === role).sort((a, b) => a.start - b.start).map(i => i.term)
      for (let i = 1; i < terms.length; i++) assert.ok(terms[i] > terms[i - 1], `terms not increasing: ${terms.join(',')}`)
    }
  })
})
