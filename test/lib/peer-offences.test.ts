import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import { Registry } from 'prom-client'
import { REFUSAL_REASONS } from '../../lib/peer-admission.js'
import { attachOffences, offenceOfRefusal, offenceSink, OFFENCE_KINDS, offenceTunables, PeerOffences, NO_OFFENCES, type OffenceKind } from '../../lib/peer-offences.js'

const WINDOW = 1000

function table (maxPeers: number, registry?: Registry): { t: PeerOffences, clock: { now: number } } {
  const clock = { now: 0 }
  return { t: new PeerOffences({ maxPeers, windowMs: WINDOW }, registry, () => clock.now), clock }
}

type Step = { op: 'record', peer: number, kind: OffenceKind, n: number } | { op: 'advance', ms: number }

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('record' as const), peer: fc.integer({ min: 0, max: 20 }), kind: fc.constantFrom(...OFFENCE_KINDS), n: fc.integer({ min: 1, max: 5 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 2500 }) }) }
)

describe('lib/peer-offences', () => {
  it('counts per peer and kind over the current and the previous window, then forgets', () => {
    const { t, clock } = table(8)
    t.record('a', 'bad_signature')
    t.record('a', 'bad_signature', 2)
    t.record('a', 'replay')
    clock.now = 1500 // next window: the first one is the previous
    t.record('a', 'replay')
    assert.deepEqual(t.get('a'), { peer: 'a', kinds: { bad_signature: 3, replay: 2 }, total: 5, firstSeen: 0, lastSeen: 1500 })
    clock.now = 2100 // the first window is gone
    assert.deepEqual(t.get('a')?.kinds, { replay: 1 })
    clock.now = 5000 // quiet for more than a window: nothing left
    assert.equal(t.get('a'), undefined)
    assert.equal(t.size(), 0)
  })

  it('a full table evicts the peer with the fewest offences, and never the worst one', () => {
    const { t, clock } = table(2)
    t.record('worst', 'equivocation', 9)
    t.record('small', 'replay', 1)
    clock.now = 10
    t.record('new', 'replay', 1)
    assert.equal(t.size(), 2)
    assert.equal(t.get('small'), undefined)
    for (let i = 0; i < 50; i++) t.record(`sybil-${i}`, 'failed_handshake')
    assert.equal(t.get('worst')?.total, 9)
    assert.deepEqual(t.top(1).map(s => s.peer), ['worst'])
  })

  it('ignores counts that are not positive integers and kinds it does not know', () => {
    const { t } = table(4)
    t.record('a', 'replay', 0)
    t.record('a', 'replay', -1)
    t.record('a', 'replay', 1.5)
    t.record('a', 'nonsense' as OffenceKind)
    assert.equal(t.size(), 0)
  })

  it('property: at most maxPeers entries; counts never exceed what the peer did in the last two windows, and are exact while the table never filled', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 8 }), fc.array(step, { maxLength: 120 }), (maxPeers, steps) => {
      const { t, clock } = table(maxPeers)
      const events: Array<{ peer: string, kind: OffenceKind, n: number, at: number }> = []
      let everFull = false
      for (const s of steps) {
        if (s.op === 'advance') { clock.now += s.ms; continue }
        const peer = `p${s.peer}`
        if (t.get(peer) === undefined && t.size() >= maxPeers) everFull = true
        t.record(peer, s.kind, s.n)
        events.push({ peer, kind: s.kind, n: s.n, at: clock.now })
        assert.ok(t.size() <= maxPeers)
      }
      // Windows are aligned to the table's start (0): an event counts while it is in the current or the previous one.
      const current = Math.floor(clock.now / WINDOW)
      const truth = new Map<string, number>()
      for (const e of events) {
        if (Math.floor(e.at / WINDOW) >= current - 1) truth.set(`${e.peer}/${e.kind}`, (truth.get(`${e.peer}/${e.kind}`) ?? 0) + e.n)
      }
      const seen = t.top(maxPeers)
      assert.ok(seen.length <= maxPeers)
      for (const s of seen) {
        for (const k of OFFENCE_KINDS) {
          const counted = s.kinds[k] ?? 0
          const real = truth.get(`${s.peer}/${k}`) ?? 0
          assert.ok(counted <= real, `${s.peer} ${k}: counted ${counted} > done ${real}`)
          if (!everFull) assert.equal(counted, real)
        }
      }
      if (!everFull) {
        const peers = new Set([...truth.keys()].map(k => k.split('/')[0]))
        assert.equal(seen.length, peers.size)
      }
    }), { numRuns: 300 })
  })

  it('counts every offence in mycel_security_offences_total{kind}, with no peer label', async () => {
    const registry = new Registry()
    const { t } = table(1, registry)
    t.record('a', 'bad_signature', 2)
    t.record('b', 'bad_signature') // evicts a: the metric still counts it
    const text = await registry.getSingleMetricAsString('mycel_security_offences_total')
    assert.match(text, /mycel_security_offences_total\{kind="bad_signature"\} 3/)
    assert.doesNotMatch(text, /peer=/)
  })

  it('offenceSink finds the table attached to a registry, and drops offences without one', () => {
    const registry = new Registry()
    assert.equal(offenceSink(registry), NO_OFFENCES)
    assert.equal(offenceSink(undefined), NO_OFFENCES)
    const { t } = table(4)
    attachOffences(registry, t)
    offenceSink(registry).record('x', 'replay')
    assert.equal(t.get('x')?.total, 1)
  })

  it('maps every admission refusal to an offence: wrong network = failed handshake, a used-up token = replay, the rest = admission refusal', () => {
    const by = Object.fromEntries(REFUSAL_REASONS.map(r => [r, offenceOfRefusal(r)]))
    assert.deepEqual(by, {
      genesis_mismatch: 'failed_handshake', peer_without_genesis: 'failed_handshake', peer_has_genesis: 'failed_handshake', no_handshake: 'failed_handshake', bad_handshake: 'failed_handshake',
      not_allowed: 'admission_refusal', revoked: 'admission_refusal', token_expired: 'admission_refusal', token_used: 'replay', token_invalid: 'admission_refusal'
    })
  })

  it('every profile keeps a window and a peer bound', () => {
    for (const p of ['lan', 'wan', 'test'] as const) {
      const c = offenceTunables.defaults(p)
      assert.ok(c.maxPeers > 0 && c.windowMs > 0)
    }
  })
})
