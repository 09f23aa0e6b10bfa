/**
 * The small parts of membership: config profiles and validation, Lifeguard
 * awareness, the piggyback queue, the durable incarnation, refusal detection,
 * the backoff of maintenance dials.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { mkdtemp, rm, writeFile, mkdir, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { membershipConfig, membershipTunables, retransmitLimit, pushPullIntervalFor, suspicionTimeoutMs } from '../../../protocols/membership/constants.js'
import { Awareness } from '../../../protocols/membership/awareness.js'
import { BroadcastQueue } from '../../../protocols/membership/broadcast-queue.js'
import { fileIncarnationStore, RESERVE_BLOCK } from '../../../protocols/membership/incarnation-store.js'
import { isRefused, MemberConnections } from '../../../protocols/membership/connections.js'
import { PeerBackoff } from '../../../protocols/membership/peer-backoff.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import pino from 'pino'
import { VirtualClock } from '../../sim/clock.js'
import { swimClock } from './fake-context.js'
import { probeDeadline } from '../../../protocols/membership/deadline.js'
import { RttEstimator } from '../../../protocols/membership/rtt.js'
import type { SignedUpdate } from '../../../protocols/membership/messages.js'

const raw = (n: number, size = 100): SignedUpdate => ({ b: new Uint8Array(size).fill(n), s: new Uint8Array(64) })

describe('membership parts', () => {
  describe('config', () => {
    it('anchors lan on memberlist DefaultLANConfig', () => {
      const lan = membershipTunables.defaults('lan')
      assert.equal(lan.probeIntervalMs, 1_000)
      assert.equal(lan.probeTimeoutMs, 500)
      assert.equal(lan.indirectChecks, 3)
      assert.equal(lan.suspicionMult, 5, 'one above memberlist, see constants.ts')
      assert.equal(lan.suspicionMaxTimeoutMult, 6)
      assert.equal(lan.retransmitMult, 4)
      assert.equal(lan.pushPullIntervalMs, 30_000)
      assert.equal(lan.awarenessMaxMultiplier, 8)
    })

    it('test profile detects a silent member within ~3.5 s at small N', () => {
      const t = membershipConfig('test')
      const min = suspicionTimeoutMs(t.suspicionMult, 4, t.probeIntervalMs)
      assert.ok(t.probeIntervalMs + min * t.suspicionMaxTimeoutMult <= 3_500)
    })

    it('applies overrides and names the bad key', () => {
      assert.equal(membershipConfig('wan', { probeIntervalMs: 7_000 }).probeIntervalMs, 7_000)
      assert.throws(() => membershipConfig('lan', { indirectChecks: 0 }), { name: 'InvalidTunablesError', message: /indirectChecks/ })
      assert.throws(() => membershipConfig('lan', { probeTimeoutMs: 1.5 }), { name: 'InvalidTunablesError', message: /probeTimeoutMs/ })
      assert.throws(() => membershipConfig('lan', { probeTimeoutMs: 2_000 }), { name: 'InvalidTunablesError', message: /probeTimeoutMs/ })
      assert.throws(() => membershipConfig('nope' as 'lan'), { name: 'InvalidTunablesError' })
    })

    it('a refusal is the fast path to dead: shorter than any timeout-based suspicion', () => {
      // test: suspicionMult 3 × probeIntervalMs 500.
      assert.equal(membershipConfig('test', { refusedSuspicionMs: 1_499 }).refusedSuspicionMs, 1_499)
      assert.throws(() => membershipConfig('test', { refusedSuspicionMs: 1_500 }), { name: 'InvalidTunablesError', message: /refusedSuspicionMs \(1500\) must be below suspicionMult × probeIntervalMs \(1500\)/ })
      assert.throws(() => membershipConfig('lan', { suspicionMult: 1 }), { name: 'InvalidTunablesError', message: /lan: refusedSuspicionMs/ })
    })

    it('a suspect claim stays acceptable while a suspicion can run', () => {
      // lan: 6 × 5 × log10(4096) × 1 s ≈ 108 s.
      assert.throws(() => membershipConfig('lan', { suspectMaxAgeMs: 100_000 }), { name: 'InvalidTunablesError', message: /suspectMaxAgeMs \(100000\) must cover the longest suspicion/ })
      assert.throws(() => membershipConfig('test', { probeIntervalMs: 3_000 }), { name: 'InvalidTunablesError', message: /test: suspectMaxAgeMs/ })
    })

    it('updates fit probes and push-pull frames, with room for the probe fields', () => {
      assert.throws(() => membershipConfig('lan', { maxUpdateBytes: 65 * 1024 }), { name: 'InvalidTunablesError', message: /maxUpdateBytes .* <= maxProbeBytes/ })
      assert.throws(() => membershipConfig('lan', { piggybackMaxBytes: 64 * 1024 - 255 }), { name: 'InvalidTunablesError', message: /piggybackMaxBytes .* must leave 256 bytes/ })
    })

    it('retransmit limit and push-pull interval follow memberlist', () => {
      assert.equal(retransmitLimit(4, 1), 4)
      assert.equal(retransmitLimit(4, 9), 4)
      assert.equal(retransmitLimit(4, 10), 8)
      assert.equal(retransmitLimit(4, 100), 12)
      assert.equal(pushPullIntervalFor(30_000, 32), 30_000)
      assert.equal(pushPullIntervalFor(30_000, 64), 60_000)
      assert.equal(pushPullIntervalFor(30_000, 100), 90_000)
    })
  })

  describe('awareness', () => {
    it('scales timeouts by score + 1 and clamps to [0, max - 1]', () => {
      const seen: number[] = []
      const a = new Awareness(4, s => seen.push(s))
      assert.equal(a.scaleTimeout(500), 500)
      a.applyDelta(2)
      assert.equal(a.scaleTimeout(500), 1_500)
      a.applyDelta(10)
      assert.equal(a.healthScore(), 3)
      a.applyDelta(-10)
      assert.equal(a.healthScore(), 0)
      assert.deepEqual(seen, [2, 3, 0])
    })
  })

  describe('piggyback queue', () => {
    it('sends each update retransmitLimit times, least-sent first, within the byte budget', () => {
      const q = new BroadcastQueue(2, 100)
      q.enqueue('a', raw(1))
      q.enqueue('b', raw(2))
      // N = 5: limit = 2 × ceil(log10 6) = 2.
      const first = q.take(10_000, 5)
      assert.equal(first.length, 2)
      assert.equal(q.take(10_000, 5).length, 2)
      assert.equal(q.take(10_000, 5).length, 0)
      assert.equal(q.size, 0)
      q.enqueue('a', raw(1, 1000))
      q.enqueue('b', raw(2, 1000))
      assert.equal(q.take(1_200, 5).length, 1, 'byte budget bounds one message')
    })

    it('replaces an older update about the same member and evicts beyond the cap', () => {
      const q = new BroadcastQueue(4, 2)
      q.enqueue('a', raw(1))
      q.enqueue('a', raw(9))
      assert.equal(q.size, 1)
      assert.equal(q.take(10_000, 3)[0].b[0], 9)
      q.enqueue('b', raw(2))
      q.enqueue('c', raw(3))
      assert.equal(q.size, 2)
    })

    it('whenDriving: waits for the next driving update, not a timer or a riding one; at once when one is queued; ends on abort', async () => {
      const q = new BroadcastQueue(4, 10)
      const ac = new AbortController()
      let woke = false
      const waiting = q.whenDriving(ac.signal).then(() => { woke = true })
      await Promise.resolve()
      assert.equal(woke, false)
      q.enqueue('r', raw(7), false)
      await Promise.resolve(); await Promise.resolve()
      assert.equal(woke, false, 'an update that only rides along wakes no gossip round')
      assert.equal(q.size, 1)
      assert.equal(q.driving, 0)
      q.enqueue('a', raw(1))
      await waiting
      assert.equal(woke, true)
      await q.whenDriving(ac.signal) // queued: resolves at once
      q.take(10_000, 1); q.take(10_000, 1); q.take(10_000, 1); q.take(10_000, 1)
      assert.equal(q.size, 0)
      assert.equal(q.driving, 0)
      const aborted = q.whenDriving(ac.signal)
      ac.abort()
      await aborted
      // A wait that ended by abort leaves nothing behind for the next enqueue to call.
      q.enqueue('b', raw(2))
      assert.equal(q.size, 1)
    })

    it('puts driving updates first in a message, and a riding update that replaces a driving one stops driving', () => {
      const q = new BroadcastQueue(4, 10)
      q.enqueue('d', raw(1, 1000))
      q.enqueue('r1', raw(2, 1000), false)
      q.enqueue('r2', raw(3, 1000), false)
      // Fresher riding updates would go first by insertion order; the driving one still does.
      assert.deepEqual(q.take(1_200, 5).map(u => u.b[0]), [1])
      assert.equal(q.driving, 1)
      q.enqueue('d', raw(4), false)
      assert.equal(q.driving, 0)
      assert.equal(q.size, 3)
    })

    it('counts its driving updates right through any sequence of enqueues, sends, evictions and clears (property)', () => {
      // A model with an unbounded byte budget: every take sends each queued update once.
      type Op = { op: 'enqueue', member: number, drive: boolean } | { op: 'take', n: number } | { op: 'clear' }
      const opArb: fc.Arbitrary<Op> = fc.oneof(
        { weight: 5, arbitrary: fc.record({ op: fc.constant('enqueue' as const), member: fc.integer({ min: 0, max: 7 }), drive: fc.boolean() }) },
        { weight: 3, arbitrary: fc.record({ op: fc.constant('take' as const), n: fc.integer({ min: 1, max: 200 }) }) },
        { weight: 1, arbitrary: fc.record({ op: fc.constant('clear' as const) }) })
      fc.assert(fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 6 }), fc.array(opArb, { maxLength: 60 }), (mult, cap, ops) => {
        const q = new BroadcastQueue(mult, cap)
        let model: Array<{ member: number, drive: boolean, transmits: number, id: number }> = []
        let nextId = 0
        for (const o of ops) {
          if (o.op === 'enqueue') {
            model = model.filter(i => i.member !== o.member)
            model.push({ member: o.member, drive: o.drive, transmits: 0, id: nextId++ })
            if (model.length > cap) {
              const worst = model.reduce((w, i) => i.transmits > w.transmits || (i.transmits === w.transmits && i.id < w.id) ? i : w)
              model = model.filter(i => i !== worst)
            }
            q.enqueue(String(o.member), raw(o.member), o.drive)
          } else if (o.op === 'take') {
            const sent = q.take(1e9, o.n)
            assert.equal(sent.length, model.length)
            // Driving updates lead the message.
            const drives = model.filter(i => i.drive).length
            assert.deepEqual(new Set(sent.slice(0, drives).map(u => u.b[0])), new Set(model.filter(i => i.drive).map(i => i.member)))
            for (const i of model) i.transmits++
            model = model.filter(i => i.transmits < retransmitLimit(mult, o.n))
          } else {
            q.clear()
            model = []
          }
          assert.equal(q.size, model.length)
          assert.equal(q.driving, model.filter(i => i.drive).length)
        }
      }), { numRuns: 500 })
    })
  })

  describe('durable incarnation', () => {
    let dir: string
    beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'mycel-inc-')) })
    afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

    it('starts above every previous run and above anything it could have signed', () => {
      const first = fileIncarnationStore(dir).start()
      assert.equal(first, 0)
      const second = fileIncarnationStore(dir).start()
      assert.ok(second > first + RESERVE_BLOCK - 1, 'above the whole previous reservation')
      const s = fileIncarnationStore(dir)
      const third = s.start()
      assert.ok(third > second)
      // Bumps inside the reservation need no write; beyond it, a new reservation is written first.
      s.save(third + 5)
      s.save(third + RESERVE_BLOCK + 10)
      assert.ok(fileIncarnationStore(dir).start() > third + RESERVE_BLOCK + 10)
    })

    it('refuses a corrupt file instead of restarting at zero', async () => {
      await mkdir(join(dir, 'membership'), { recursive: true })
      await writeFile(join(dir, 'membership', 'incarnation'), 'garbage')
      assert.throws(() => fileIncarnationStore(dir).start(), { name: 'CorruptFileError' })
    })

    it('detects a damaged byte at every offset of the incarnation file', async () => {
      fileIncarnationStore(dir).start()
      const path = join(dir, 'membership', 'incarnation')
      const good = await readFile(path)
      for (let i = 0; i < good.length; i++) {
        for (const mask of [0x01, 0xff]) {
          const bad = Buffer.from(good)
          bad[i] ^= mask
          await writeFile(path, bad)
          assert.throws(() => fileIncarnationStore(dir).start(), { name: 'CorruptFileError' }, `byte ${i} ^ ${mask}`)
        }
      }
    })

    it('reads the old layout (a bare number) and continues above it', async () => {
      await mkdir(join(dir, 'membership'), { recursive: true })
      await writeFile(join(dir, 'membership', 'incarnation'), '700\n')
      assert.equal(fileIncarnationStore(dir).start(), 701)
      assert.ok(fileIncarnationStore(dir).start() > 701 + RESERVE_BLOCK)
    })
  })

  describe('refusal detection', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' })
    it('is true only when every dial error is ECONNREFUSED', () => {
      assert.equal(isRefused(refused), true)
      assert.equal(isRefused(new AggregateError([refused, refused])), true)
      assert.equal(isRefused(Object.assign(new Error('wrapped'), { cause: refused })), true)
      assert.equal(isRefused(new AggregateError([refused, new Error('timeout')])), false)
      assert.equal(isRefused(Object.assign(new Error('The operation was aborted'), { name: 'AbortError' })), false)
      assert.equal(isRefused(undefined), false)
    })
  })

  describe('probe deadline', () => {
    const busy = (ms: number): void => { const end = performance.now() + ms; while (performance.now() < end) { /* stall the loop */ } }

    it('expires after the timeout when the loop is healthy', async () => {
      const started = performance.now()
      const d = probeDeadline(60, new AbortController().signal)
      await new Promise(resolve => d.signal.addEventListener('abort', resolve))
      const took = performance.now() - started
      assert.ok(took >= 55 && took < 200, `took ${took}`)
      assert.equal((d.signal.reason as Error).name, 'TimeoutError')
    })

    it('extends by our own stall and reports it, instead of blaming the remote', async () => {
      const stalls: number[] = []
      const d = probeDeadline(60, new AbortController().signal, late => stalls.push(late))
      busy(300)
      await new Promise(resolve => setTimeout(resolve, 10))
      assert.equal(d.signal.aborted, false, 'a stall of ours must not expire the probe at once')
      assert.equal(stalls.length, 1)
      assert.ok(stalls[0] > 200)
      await new Promise(resolve => d.signal.addEventListener('abort', resolve))
      d.clear()
    })

    it('follows the parent signal and clears cleanly', () => {
      const parent = new AbortController()
      const d = probeDeadline(10_000, parent.signal)
      parent.abort(new Error('stop'))
      assert.equal(d.signal.aborted, true)
      d.clear()
      const d2 = probeDeadline(10_000, new AbortController().signal)
      d2.clear()
      assert.equal(d2.signal.aborted, false)
    })
  })

  describe('adaptive probe timeout', () => {
    it('stays at the configured floor on a fast network', () => {
      const r = new RttEstimator(500, 800)
      assert.equal(r.timeoutMs(), 500)
      for (let i = 0; i < 50; i++) r.sample(2 + (i % 3))
      assert.equal(r.timeoutMs(), 500)
    })

    it('follows slow round trips (srtt + 4 rttvar) up to the ceiling, and comes back down', () => {
      const r = new RttEstimator(100, 800)
      for (let i = 0; i < 50; i++) r.sample(i % 2 === 0 ? 150 : 250)
      const t = r.timeoutMs()
      assert.ok(t > 250 && t <= 800, `timeout ${t}`)
      for (let i = 0; i < 20; i++) r.sample(5_000)
      assert.equal(r.timeoutMs(), 800)
      for (let i = 0; i < 200; i++) r.sample(1)
      assert.equal(r.timeoutMs(), 100)
      r.sample(Number.NaN)
      assert.equal(r.timeoutMs(), 100)
    })
  })

  describe('peer backoff', () => {
    it('doubles the gap per failure from the first to the cap, and forgets what it is told to', () => {
      let now = 0
      const b = new PeerBackoff(1_000, 5_000, () => now)
      assert.equal(b.due('a'), true, 'never failed: due')
      const gaps: number[] = []
      for (let i = 0; i < 5; i++) {
        b.failed('a')
        const from = now
        while (!b.due('a')) now += 100
        gaps.push(now - from)
      }
      assert.deepEqual(gaps, [1_000, 2_000, 4_000, 5_000, 5_000])
      b.failed('a')
      b.failed('b')
      b.keepOnly(['b'])
      assert.equal(b.due('a'), true, 'a dropped from the tracked set is due again')
      assert.equal(b.due('b'), false)
      b.forget('b')
      assert.equal(b.due('b'), true)
      b.failed('b')
      now += 1_000
      assert.equal(b.due('b'), true, 'after forget the gap starts from the first again')
    })
  })

  describe('maintenance dials', () => {
    it('back off a subject whose dial fails, doubling to the reconnect interval; only a refusal probes it at once', async () => {
      const cfg = membershipConfig('lan')
      const clock = new VirtualClock(0)
      const subject = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
      const timedOut = Object.assign(new Error('handshake timed out'), { name: 'EncryptionFailedError' })
      const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:4100'), { code: 'ECONNREFUSED' })
      let failWith: Error = timedOut
      let connected = false
      const dials: number[] = []
      const probed: string[] = []
      const ctx = {
        signal: new AbortController().signal,
        cfg,
        clock: swimClock(clock),
        random: () => 0.5,
        log: pino({ level: 'silent' }),
        neighbours: () => ({ subjects: [subject], observers: [] }),
        table: { get: () => ({ state: 'alive' }) },
        peers: {
          getConnections: () => connected ? [{}] : [],
          dial: async (): Promise<void> => { dials.push(clock.now()); throw failWith }
        },
        probeSoon: (id: string) => { probed.push(id) }
      }
      const conns = new MemberConnections(ctx as any, {} as any)
      const tick = async (): Promise<void> => {
        conns.maintain()
        await new Promise(resolve => setImmediate(resolve))
        clock.tick(cfg.maintenanceIntervalMs)
      }
      const seconds = 120
      for (let t = 0; t < seconds; t++) await tick()
      // Gaps double from the maintenance interval up to the reconnect interval: not one dial a tick.
      const gaps = dials.slice(1).map((at, i) => at - dials[i])
      const want: number[] = []
      for (let g = cfg.maintenanceIntervalMs; want.length < gaps.length; g = Math.min(2 * g, cfg.reconnectIntervalMs)) want.push(g)
      assert.deepEqual(gaps, want)
      assert.equal(gaps.at(-1), cfg.reconnectIntervalMs, 'the backoff reaches its cap')
      assert.ok(dials.length < 12, `${dials.length} dials in ${seconds} s`)
      assert.deepEqual(probed, [], 'a timed-out handshake waits for the probe order')
      // A refusal is news about the member: probe it now.
      failWith = refused
      clock.tick(cfg.reconnectIntervalMs)
      await tick()
      assert.deepEqual(probed, [subject])
      // Once connected (by anyone), the backoff is forgotten.
      connected = true
      await tick()
      connected = false
      let before = dials.length
      await tick()
      assert.equal(dials.length, before + 1, 'dialed again at once after the connection closed')
      // A dial that succeeds forgets it too.
      ctx.peers.dial = async () => { dials.push(clock.now()) }
      clock.tick(cfg.reconnectIntervalMs)
      await tick()
      ctx.peers.dial = async () => { dials.push(clock.now()); throw timedOut }
      before = dials.length
      await tick()
      assert.equal(dials.length, before + 1, 'dialed again at once after a successful dial')
    })
  })
  describe('member addresses in the peer store', () => {
    it('stores a member\'s addresses once, again when they change, after it came back, and when the refresh is due', async () => {
      const clock = new VirtualClock(0)
      const member = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
      const merges: string[][] = []
      const ctx = {
        selfId: 'self',
        cfg: membershipConfig('lan'),
        clock: swimClock(clock),
        log: pino({ level: 'silent' }),
        peers: { peerStore: { merge: async (_id: unknown, data: { multiaddrs: Array<{ toString: () => string }> }) => { merges.push(data.multiaddrs.map(m => m.toString())) } } }
      }
      const conns = new MemberConnections(ctx as any, {} as any)
      const a = ['/ip4/10.0.0.1/tcp/4100']
      const b = ['/ip4/10.0.0.2/tcp/4100']
      await conns.learnAddrs(member, a)
      await conns.learnAddrs(member, a)
      await conns.learnAddrs(member, [...a])
      assert.equal(merges.length, 1, 'the same addresses again are not stored again')
      await conns.learnAddrs(member, b)
      assert.deepEqual(merges.at(-1), b, 'changed addresses are stored')
      conns.forgetAddrs(member)
      await conns.learnAddrs(member, b)
      assert.equal(merges.length, 3, 'a member that came back is stored again')
      clock.tick(10 * 60_000)
      await conns.learnAddrs(member, b)
      assert.equal(merges.length, 4, 'stored again once the refresh is due, inside the peer store\'s address age')
      await conns.learnAddrs('self', a)
      assert.equal(merges.length, 4, 'never our own')
    })
  })
})
