/**
 * The testground `regions` case's judgements (testground/plans/mycel/lib/regions-check.js): when a round of
 * `/v1/roles` views agrees on one holder per (region, role), when two instances acted at once, when another
 * region's holder counts as resolved through the DHT, and the failover's verdict and numbers.
 */
import { strict as assert } from 'node:assert'
import { createRequire } from 'node:module'
import fc from 'fast-check'

interface Row { region: string, role: string, holder?: string, term?: number, status: string, expiresAt?: number }
interface Local { role: string, acting: boolean, term?: number, since?: number, winner?: string }
interface Obs { seq: number, peerId: string, region: string, t: number, tr?: number, rows: Row[], local: Local[], error?: string }
interface Interval { region: string, role: string, peerId: string, from: number, to: number }
interface Agreed { [key: string]: { holder: string, term: number } }
interface Seen { at?: number, holder?: string, term?: number, lastExpiry?: number }
interface Digest { seq: number, peerId: string, seen: Record<string, Seen>, intervals: Interval[] }
interface Kill { region: string, victim: string, killedAt: number, held: Record<string, number>, since: Record<string, number> }
interface Answer { holder?: string, term?: number, dhtRecords: number, dhtError?: string, copies: { gossip: unknown, dht: { holder: string, term: number } | null } }

const require = createRequire(import.meta.url)
const check = require('../../testground/plans/mycel/lib/regions-check.js') as {
  ROLES: string[]
  observation: (me: { seq: number, peerId: string, region: string }, view: unknown, t: number, tr?: number) => Obs
  judgeRound: (observations: Obs[], members: Record<string, string[]>) => { agreed: Agreed, problems: string[] }
  actingIntervals: (observations: Obs[], extra?: Interval[]) => Interval[]
  overlaps: (intervals: Interval[], toleranceMs?: number) => string[]
  resolutionProblem: (answer: Answer, want: { holder: string, term: number }, regionMembers: string[]) => string | undefined
  failoverSeen: (observations: Obs[], region: string, role: string, victim: string, oldTerm: number, killedAt: number) => Seen
  watchDigest: (me: { seq: number, peerId: string }, observations: Obs[], kill: Omit<Kill, 'since'>) => Digest
  judgeFailover: (kill: Kill, digests: Digest[], after: { agreed: Agreed, observations: Obs[] }, toleranceMs?: number) => { metrics: Record<string, number>, problems: string[] }
}
const { ROLES } = check

// Two regions of three: a1..a3 in ra, b1..b3 in rb; every role of ra held by a1 (term 2), of rb by b2 (term 1).
const MEMBERS = { ra: ['a1', 'a2', 'a3'], rb: ['b1', 'b2', 'b3'] }
const HOLDER: Record<string, { holder: string, term: number }> = { ra: { holder: 'a1', term: 2 }, rb: { holder: 'b2', term: 1 } }
const regionOf = (id: string): string => id.startsWith('a') ? 'ra' : 'rb'
const seqOf = (id: string): number => Object.values(MEMBERS).flat().indexOf(id) + 1

function obs (peerId: string, t: number, o: { rows?: (r: Row) => Row, acting?: string[], since?: number, term?: number, winner?: string } = {}): Obs {
  const region = regionOf(peerId)
  const rows = Object.keys(MEMBERS).flatMap(rg => ROLES.map(role => ({ region: rg, role, ...HOLDER[rg], status: 'active', expiresAt: t + 15_000 })))
  const acting = o.acting ?? (HOLDER[region].holder === peerId ? ROLES : [])
  const shown = o.rows !== undefined ? rows.map(o.rows) : rows
  // The winner in this member's view: the holder it sees, unless told otherwise.
  const winner = (role: string): string | undefined => o.winner ?? shown.find(r => r.region === region && r.role === role)?.holder
  return {
    seq: seqOf(peerId),
    peerId,
    region,
    t,
    rows: shown,
    local: ROLES.map(role => ({ ...(acting.includes(role) ? { role, acting: true, term: o.term ?? HOLDER[region].term, since: o.since ?? 1_000 } : { role, acting: false }), winner: winner(role) }))
  }
}
const round = (t = 50_000): Obs[] => Object.values(MEMBERS).flat().map(id => obs(id, t))

describe('testground regions case: checks', () => {
  it('trims a /v1/roles answer to its rows and local view', () => {
    const view = {
      peerId: 'a1',
      region: 'ra',
      regions: [{ region: 'ra', roles: [{ region: 'ra', role: 'network', holder: 'a1', term: 2, status: 'active', expiresAt: 9, expiresInMs: 1, self: true }] }],
      local: [{ role: 'network', eligible: true, acting: true, term: 2, since: 5, winner: 'a1', candidates: 3, active: true, activations: 1 }]
    }
    assert.deepEqual(check.observation({ seq: 1, peerId: 'a1', region: 'ra' }, view, 100, 120), {
      seq: 1,
      peerId: 'a1',
      region: 'ra',
      t: 100,
      tr: 120,
      rows: [{ region: 'ra', role: 'network', holder: 'a1', term: 2, status: 'active', expiresAt: 9 }],
      local: [{ role: 'network', acting: true, term: 2, since: 5, winner: 'a1' }]
    })
  })

  it('does not agree while the holder is not the winner in the view of a member of its region (a handover is due)', () => {
    const observations = round().map(o => o.peerId === 'a3' ? obs('a3', 50_000, { winner: 'a2' }) : o)
    const v = check.judgeRound(observations, MEMBERS)
    assert.deepEqual(v.agreed, {})
    assert.ok(v.problems.some(p => /^ra\/network: holder a1 is not the winner for instance 3 \(a2\): a handover is due$/.test(p)), v.problems.join('; '))
    // An observer of another region has no say: its view of ra has no winner.
    assert.deepEqual(Object.keys(check.judgeRound(round(), MEMBERS).agreed).length, 2 * ROLES.length)
  })

  it('agrees when every instance sees the same active holder and term, a member of the region, and only it acts', () => {
    const v = check.judgeRound(round(), MEMBERS)
    assert.deepEqual(v.problems, [])
    assert.equal(Object.keys(v.agreed).length, 2 * ROLES.length)
    assert.deepEqual(v.agreed['rb/config'], { holder: 'b2', term: 1 })
  })

  it('does not agree on a differing view, a lease not active, a holder outside the region, the wrong acting set, or a failed read', () => {
    const spoil = (i: number, o: Obs): Obs[] => { const r = round(); r[i] = o; return r }
    const otherHolder = (r: Row): Row => r.region === 'rb' && r.role === 'update' ? { ...r, holder: 'b3' } : r
    const cases: Array<[string, Obs[], Record<string, string[]>, RegExp]> = [
      ['another holder in one view (another region\'s observer)', spoil(0, obs('a1', 1, { rows: otherHolder })), MEMBERS, /rb\/update: views differ: b3 t1 active \(instance 1\); b2 t1 active \(instances 2, 3, 4, 5, 6\)/],
      ['another term in one view', spoil(4, obs('b2', 1, { rows: r => r.region === 'ra' && r.role === 'network' ? { ...r, term: 3 } : r })), MEMBERS, /ra\/network: views differ: .*a1 t3 active \(instance 5\)/],
      ['an expired lease in one view', spoil(5, obs('b3', 1, { rows: r => r.region === 'rb' && r.role === 'security' ? { ...r, status: 'expired' } : r })), MEMBERS, /rb\/security: views differ: .*b2 t1 expired \(instance 6\)/],
      ['a lease missing from the first view', spoil(0, obs('a1', 1, { rows: r => r.role === 'config' ? { ...r, status: 'none', holder: undefined, term: undefined } : r })), MEMBERS, /ra\/config: instance 1 sees status none/],
      ['the holder is not a live member of its region', round(), { ...MEMBERS, ra: ['a2', 'a3'] }, /ra\/network: holder a1 is not a live member of ra/],
      ['a second member of the region acts', spoil(1, obs('a2', 1, { acting: ['monitoring'] })), MEMBERS, /ra\/monitoring: acting \[a1 t2, a2 t2\]/],
      ['nobody acts', spoil(4, obs('b2', 1, { acting: [] })), MEMBERS, /rb\/network: acting \[\], holder b2 t1/],
      ['the holder acts in another term', spoil(0, obs('a1', 1, { term: 1 })), MEMBERS, /ra\/network: acting \[a1 t1\], holder a1 t2/],
      ['a read failed', spoil(2, { ...obs('a3', 1), error: 'timeout' }), MEMBERS, /instance 3: timeout/]
    ]
    for (const [what, observations, members, problem] of cases) {
      const v = check.judgeRound(observations, members)
      assert.deepEqual(v.agreed, {}, what)
      assert.ok(v.problems.some(p => problem.test(p)), `${what}: ${v.problems.join(' | ')}`)
    }
    assert.deepEqual(check.judgeRound([], MEMBERS).problems, ['no observations'])
  })

  it('merges observations of one activation into one acting interval, and finds two instances acting at once', () => {
    const a = [obs('a1', 2_000, { since: 1_000 }), obs('a1', 3_000, { since: 1_000 })]
    const iv = check.actingIntervals(a).filter(i => i.role === 'network')
    assert.deepEqual(iv, [{ region: 'ra', role: 'network', peerId: 'a1', from: 1_000, to: 3_000 }])
    // a2 activated at 2.5 s, while a1 was seen acting until 3 s: 500 ms at once.
    const both = check.actingIntervals([...a, obs('a2', 4_000, { acting: ['network'], since: 2_500 })])
    assert.deepEqual(check.overlaps(both), ['ra/network: a1 acted 1000..3000 and a2 2500..4000 (500 ms at once)'])
    assert.deepEqual(check.overlaps(both, 500), [], 'within the clock tolerance')
    // Activated after a1's last observation: no proof they overlapped.
    assert.deepEqual(check.overlaps(check.actingIntervals([...a, obs('a2', 4_000, { acting: ['network'], since: 3_001 })])), [])
    // No activation time: acting only at the observation.
    const noSince = obs('a2', 4_000, { acting: ['update'] })
    assert.deepEqual(check.actingIntervals([{ ...noSince, local: noSince.local.map(l => ({ ...l, since: undefined })) }]).filter(i => i.role === 'update'),
      [{ region: 'ra', role: 'update', peerId: 'a2', from: 4_000, to: 4_000 }])
    // Other roles, other regions and failed reads do not count.
    assert.deepEqual(check.overlaps([
      { region: 'ra', role: 'network', peerId: 'a1', from: 0, to: 10 },
      { region: 'ra', role: 'update', peerId: 'a2', from: 0, to: 10 },
      { region: 'rb', role: 'network', peerId: 'b1', from: 0, to: 10 }
    ]), [])
    assert.deepEqual(check.actingIntervals([{ ...obs('a1', 5), error: 'x' }]), [])
  })

  it('property: observations of one holder at a time never show an overlap; two holders seen acting at one instant always do', () => {
    // A timeline of activations of one role, each ending before the next starts (handovers), sampled by
    // observers at random instants: what `overlaps` must accept. Then a second instance acting during one
    // of them, observed inside the shared stretch: what it must catch.
    const timeline = fc.array(fc.record({ peer: fc.constantFrom('a1', 'a2', 'a3'), gap: fc.integer({ min: 0, max: 3_000 }), len: fc.integer({ min: 1, max: 20_000 }) }), { minLength: 1, maxLength: 8 })
    fc.assert(fc.property(timeline, fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 40 }), (steps, picks) => {
      let at = 0
      const acts = steps.map(s => { const from = at + s.gap + 1; at = from + s.len; return { peer: s.peer, from, to: at } })
      const observations = picks.map(x => {
        const t = Math.floor(x * at)
        const who = acts.find(a => a.from <= t && t < a.to)
        return who === undefined ? obs('a1', t, { acting: [] }) : obs(who.peer, t, { acting: ['network'], since: who.from })
      })
      assert.deepEqual(check.overlaps(check.actingIntervals(observations)), [])
    }))
    fc.assert(fc.property(fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 1, max: 10_000 }), (s1, d, late) => {
      const s2 = s1 + d // a2 activates while a1 still acts; both are seen acting after s2
      const t = s2 + late
      const found = check.overlaps(check.actingIntervals([obs('a1', t, { acting: ['network'], since: s1 }), obs('a2', t + 1, { acting: ['network'], since: s2 })]))
      assert.equal(found.length, 1)
    }))
  })

  it('counts another region\'s holder resolved only with a DHT copy, the agreed holder and term, and a DHT copy from that region', () => {
    const want = { holder: 'b2', term: 3 }
    const answer = (o: Partial<Answer> = {}, dht: { holder: string, term: number } | null = { holder: 'b2', term: 3 }): Answer =>
      ({ holder: 'b2', term: 3, dhtRecords: 2, copies: { gossip: {}, dht }, ...o })
    assert.equal(check.resolutionProblem(answer(), want, MEMBERS.rb), undefined)
    // The DHT copy may trail the gossiped renewals: an older term of the region is fine.
    assert.equal(check.resolutionProblem(answer({}, { holder: 'b1', term: 2 }), want, MEMBERS.rb), undefined)
    assert.match(check.resolutionProblem(answer({}, null), want, MEMBERS.rb) ?? '', /no DHT copy/)
    assert.match(check.resolutionProblem(answer({ dhtRecords: 0, dhtError: 'timeout' }), want, MEMBERS.rb) ?? '', /no DHT copy \(timeout\)/)
    assert.match(check.resolutionProblem(answer({ holder: 'b3' }), want, MEMBERS.rb) ?? '', /resolved b3 t3/)
    assert.match(check.resolutionProblem(answer({ term: 2 }), want, MEMBERS.rb) ?? '', /resolved b2 t2, the region agreed on b2 t3/)
    assert.match(check.resolutionProblem(answer({}, { holder: 'a1', term: 3 }), want, MEMBERS.rb) ?? '', /not a member of the region/)
    assert.match(check.resolutionProblem(answer({}, { holder: 'b2', term: 4 }), want, MEMBERS.rb) ?? '', /term 4, above the agreed 3/)
  })

  describe('failover', () => {
    // a1 held every role of ra in term 2 and is killed at 10 s; a2 takes them over in term 3 at 26 s.
    const KILLED = 10_000
    const held = Object.fromEntries(ROLES.map(r => [r, 2]))
    const kill: Kill = { region: 'ra', victim: 'a1', killedAt: KILLED, held, since: Object.fromEntries(ROLES.map(r => [r, 1_000])) }
    const newRows = (term: number, holder: string) => (r: Row): Row => r.region === 'ra' ? { ...r, holder, term, expiresAt: 40_000 } : r
    const oldRows = (r: Row): Row => r.region === 'ra' ? { ...r, expiresAt: 24_000 } : r
    /** A survivor's watch: the old lease until `seenAt`, then a2's term 3; a2 acting from `since`. */
    function watch (peerId: string, seenAt: number, since = 26_000): Obs[] {
      const out: Obs[] = []
      for (let t = 9_000; t <= seenAt + 1_000; t += 1_000) {
        const fresh = t >= seenAt
        const o = obs(peerId, t, { rows: fresh ? newRows(3, 'a2') : oldRows, acting: peerId === 'a2' && fresh ? ROLES : [], since, term: 3 })
        out.push({ ...o, tr: t + 50 })
      }
      return out
    }
    const afterRound = (since = 26_000): { agreed: Agreed, observations: Obs[] } => {
      const observations = ['a2', 'a3', 'b1', 'b2', 'b3'].map(id => obs(id, 30_000, { rows: newRows(3, 'a2'), acting: id === 'a2' ? ROLES : undefined, since: id === 'a2' ? since : undefined, term: id === 'a2' ? 3 : undefined }))
      const v = check.judgeRound(observations, { ra: ['a2', 'a3'], rb: MEMBERS.rb })
      assert.deepEqual(v.problems, [])
      return { agreed: v.agreed, observations }
    }
    const digests = (a2: Obs[] = watch('a2', 26_000), a3: Obs[] = watch('a3', 27_000)): Digest[] => [check.watchDigest({ seq: 2, peerId: 'a2' }, a2, kill), check.watchDigest({ seq: 3, peerId: 'a3' }, a3, kill)]

    it('sees the successor at the first answer after the kill with another holder, active, in a higher term', () => {
      const s = check.failoverSeen(watch('a3', 27_000), 'ra', 'network', 'a1', 2, KILLED)
      assert.deepEqual(s, { at: 27_050, holder: 'a2', term: 3, lastExpiry: 24_000 })
      // A higher term seen before the kill is not the failover (the kill time anchors it).
      assert.equal(check.failoverSeen(watch('a3', 5_000).map(o => ({ ...o, t: o.t - 20_000, tr: o.t - 20_000 })), 'ra', 'network', 'a1', 2, KILLED).at, undefined)
      // The same term again, or the victim itself, is not a successor.
      assert.equal(check.failoverSeen([obs('a3', 20_000, { rows: newRows(2, 'a2') })], 'ra', 'network', 'a1', 2, KILLED).at, undefined)
      assert.equal(check.failoverSeen([obs('a3', 20_000, { rows: newRows(3, 'a1') })], 'ra', 'network', 'a1', 2, KILLED).at, undefined)
      assert.equal(check.failoverSeen([obs('a3', 20_000, { rows: r => ({ ...newRows(3, 'a2')(r), status: 'expired' }) })], 'ra', 'network', 'a1', 2, KILLED).at, undefined)
    })

    it('measures every role the victim held and passes a clean failover', () => {
      const v = check.judgeFailover(kill, digests(), afterRound())
      assert.deepEqual(v.problems, [])
      assert.deepEqual(v.metrics, { ...Object.fromEntries(ROLES.flatMap(r => [[`failover_${r}_ms`, 17_050], [`acting_${r}_ms`, 16_000]])), failover_max_ms: 17_050 })
    })

    it('fails when a survivor never saw a successor, the successor is not a survivor or not in a higher term, or reports no activation', () => {
      const stuck = watch('a3', 99_000).filter(o => o.t < 60_000)
      assert.match(check.judgeFailover(kill, digests(undefined, stuck), afterRound()).problems.join(' | '), /ra\/network: instance\(s\) 3 never saw a holder after a1 t2/)
      const noAgreement = { agreed: {}, observations: afterRound().observations }
      assert.match(check.judgeFailover(kill, digests(), noAgreement).problems.join(' | '), /ra\/update: no agreed holder after the kill/)
      const wrong = afterRound()
      wrong.agreed['ra/network'] = { holder: 'b1', term: 3 }
      assert.match(check.judgeFailover(kill, digests(), wrong).problems.join(' | '), /ra\/network: after the kill the region agreed on b1 t3/)
      const same = afterRound()
      same.agreed['ra/update'] = { holder: 'a2', term: 2 }
      assert.match(check.judgeFailover(kill, digests(), same).problems.join(' | '), /ra\/update: after the kill the region agreed on a2 t2/)
      const noSince = afterRound()
      noSince.observations = noSince.observations.map(o => ({ ...o, local: o.local.map(l => ({ ...l, since: undefined })) }))
      assert.match(check.judgeFailover(kill, digests(), noSince).problems.join(' | '), /the successor a2 reports no activation time/)
    })

    it('fails when the successor acted before the killed holder\'s lease expired in its own view', () => {
      const v = check.judgeFailover(kill, digests(watch('a2', 26_000, 23_000)), afterRound(23_000))
      assert.match(v.problems.join(' | '), /ra\/network: the successor a2 acted from 23000, before the killed holder's lease expired in its own view \(24000\)/)
    })

    it('fails when the successor acted while the victim still did (before the kill)', () => {
      const v = check.judgeFailover(kill, digests(watch('a2', 26_000, 9_500)), afterRound(9_500), 0)
      assert.ok(v.problems.some(p => /^ra\/network: .*a1 (acted )?1000\.\.10000.* \(500 ms at once\)$/.test(p)), v.problems.join(' | '))
      // Without the victim's activation times, nothing proves it acted then.
      assert.ok(!check.judgeFailover({ ...kill, since: {} }, digests(watch('a2', 26_000, 9_500)), afterRound(9_500)).problems.some(p => /at once/.test(p)))
    })

    it('fails when two survivors acted at once', () => {
      const a3 = watch('a3', 27_000).map(o => o.t >= 28_000 ? { ...o, local: o.local.map(l => l.role === 'network' ? { role: 'network', acting: true, term: 3, since: 27_500 } : l) } : o)
      assert.match(check.judgeFailover(kill, digests(undefined, a3), afterRound()).problems.join(' | '), /ra\/network: a2 acted 26000\.\.30000 and a3 27500\.\.28000 \(500 ms at once\)/)
    })
  })
})
