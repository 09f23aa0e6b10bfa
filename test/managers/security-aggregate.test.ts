import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import { aggregateOffences, offenceThresholds, effectiveThresholds, MAX_FINDING_REPORTERS, type ReporterOffences } from '../../managers/security-aggregate.js'
import { OFFENCE_KINDS, type OffenceKind } from '../../lib/peer-offences.js'

const T = offenceThresholds.defaults('test')

function report (reporter: string, peers: Array<{ peer: string, kinds: Record<string, number>, firstSeen?: number, lastSeen?: number }>): ReporterOffences {
  return { reporter, offences: { windowMs: 1000, peers: peers.map(p => ({ firstSeen: 10, lastSeen: 20, ...p })) } }
}

const reportsArb = fc.uniqueArray(fc.record({
  reporter: fc.constantFrom('r1', 'r2', 'r3', 'r4', 'r5'),
  peers: fc.uniqueArray(fc.record({
    peer: fc.constantFrom('a', 'b', 'c', 'r1'),
    kinds: fc.dictionary(fc.constantFrom<string>(...OFFENCE_KINDS, 'future_kind'), fc.integer({ min: 0, max: 4 }), { noNullPrototype: true }),
    firstSeen: fc.integer({ min: 0, max: 100 }),
    lastSeen: fc.integer({ min: 100, max: 200 })
  }), { selector: p => p.peer, maxLength: 4 })
}), { selector: r => r.reporter, maxLength: 5 }).map(rs => rs.map(r => ({ reporter: r.reporter, offences: { windowMs: 1000, peers: r.peers } })))

describe('managers/security-aggregate', () => {
  it('sums each kind over reporters; a kind at its threshold makes a finding naming the reporters and the time span', () => {
    const f = aggregateOffences([
      report('r1', [{ peer: 'x', kinds: { bad_signature: 1 }, firstSeen: 5, lastSeen: 30 }, { peer: 'y', kinds: { failed_handshake: 1 } }]),
      report('r2', [{ peer: 'x', kinds: { replay: 0, rejected_envelope: 2 }, firstSeen: 7, lastSeen: 50 }])
    ], { thresholds: T, minReporters: 1 })
    assert.deepEqual(f, [{ peer: 'x', kinds: { bad_signature: 1, rejected_envelope: 2 }, over: ['bad_signature'], reporters: ['r1', 'r2'], reporterCount: 2, firstSeen: 5, lastSeen: 50 }])
  })

  it('needs minReporters distinct reporters; ignores self-reports, a second report of one reporter and unknown kinds', () => {
    const rs = [
      report('r1', [{ peer: 'x', kinds: { equivocation: 5, future_kind: 99 } }, { peer: 'r1', kinds: { equivocation: 9 } }]),
      report('r1', [{ peer: 'y', kinds: { equivocation: 5 } }])
    ]
    assert.deepEqual(aggregateOffences(rs, { thresholds: T, minReporters: 2 }), [])
    const one = aggregateOffences(rs, { thresholds: T, minReporters: 1 })
    assert.deepEqual(one.map(f => [f.peer, f.kinds]), [['x', { equivocation: 5 }]])
  })

  it('names at most MAX_FINDING_REPORTERS reporters but counts them all; keeps the worst maxFindings', () => {
    const rs = Array.from({ length: 12 }, (_, i) => report(`r${String(i).padStart(2, '0')}`, [{ peer: 'x', kinds: { replay: 1 } }, { peer: `p${i}`, kinds: { replay: 1 } }]))
    const f = aggregateOffences(rs, { thresholds: T, minReporters: 1, maxFindings: 3 })
    assert.equal(f.length, 3)
    assert.equal(f[0].peer, 'x')
    assert.equal(f[0].reporters.length, MAX_FINDING_REPORTERS)
    assert.equal(f[0].reporterCount, 12)
  })

  it('property: a peer is a finding exactly when some kind reaches its threshold with enough reporters, whatever the order of reports', () => {
    fc.assert(fc.property(reportsArb, fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 6 }), (rs, minReporters, th) => {
      const thresholds = effectiveThresholds(T, Object.fromEntries(OFFENCE_KINDS.map(k => [k, th])) as Record<OffenceKind, number>)
      const f = aggregateOffences(rs, { thresholds, minReporters })
      assert.deepEqual(aggregateOffences([...rs].reverse(), { thresholds, minReporters }), f)
      const expected = new Set<string>()
      for (const peer of ['a', 'b', 'c', 'r1']) {
        const sums = new Map<string, number>()
        const reporters = new Set<string>()
        for (const r of rs) {
          for (const p of r.offences.peers) {
            if (p.peer !== peer || r.reporter === peer) continue
            let any = false
            for (const [k, n] of Object.entries(p.kinds)) {
              if (!(OFFENCE_KINDS as readonly string[]).includes(k) || n <= 0) continue
              sums.set(k, (sums.get(k) ?? 0) + n)
              any = true
            }
            if (any) reporters.add(r.reporter)
          }
        }
        if (reporters.size >= minReporters && [...sums.values()].some(n => n >= th)) expected.add(peer)
      }
      assert.deepEqual(new Set(f.map(x => x.peer)), expected)
      for (const x of f) assert.ok(x.over.length > 0 && x.over.every(k => (x.kinds[k] ?? 0) >= th))
    }), { numRuns: 300 })
  })

  it('every profile has a positive threshold for every kind, and equivocation is always one', () => {
    for (const p of ['lan', 'wan', 'test'] as const) {
      const t = offenceThresholds.defaults(p)
      for (const k of OFFENCE_KINDS) assert.ok(t[k] >= 1)
      assert.equal(t.equivocation, 1)
    }
  })
})
