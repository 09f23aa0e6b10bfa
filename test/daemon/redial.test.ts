/**
 * The redial loop's bootstrap status: an address whose peer we joined through
 * before the loop ran (libp2p's bootstrap module dials at start) is reported
 * `connected`, not `untried` (the flake in bootstrap-failures.test.ts).
 */
import { strict as assert } from 'node:assert'
import FakeTimers from '@sinonjs/fake-timers'
import pino from 'pino'
import { Redialer, type RedialInit } from '../../daemon/redial.js'
import type { MycelNode } from '../../daemon/node.js'
import { OPEN_ADMISSION, type PeerAdmission } from '../../lib/peer-admission.js'

const PEER = '12D3KooWGzBrsPDmbDGkTnmkuTAabkvz3DsJxTWmMvrNnTpb4c9w'
const ADDR = `/ip4/127.0.0.1/tcp/4001/p2p/${PEER}`

/** A node whose dials never return (the loop must not need one) and whose connections the test sets. */
const fakeNode = (connected: string[]): { node: MycelNode, dials: () => number } => {
  let dials = 0
  const node = {
    getConnections: () => connected.map(p => ({ remotePeer: { toString: () => p } })),
    dial: async (_ma: unknown, opts: { signal: AbortSignal }) => {
      dials++
      return await new Promise((_resolve, reject) => { opts.signal.addEventListener('abort', () => { reject(new Error('aborted')) }) })
    }
  }
  return { node: node as unknown as MycelNode, dials: () => dials }
}

const until = async (cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise(resolve => setTimeout(resolve, 5))
}

describe('redial: bootstrap status', () => {
  it('marks an address connected when we joined through its peer before the loop dialed', async () => {
    const { node, dials } = fakeNode([PEER])
    const r = new Redialer({ bootstrap: [ADDR], minBackoffMs: 10, maxBackoffMs: 50, isJoined: () => true, admission: OPEN_ADMISSION }, node, pino({ level: 'silent' }))
    r.start()
    try {
      await until(() => r.status()[0].state === 'connected')
      assert.equal(r.status()[0].state, 'connected')
      assert.notEqual(r.status()[0].lastSuccessAt, null)
      assert.equal(dials(), 0)
    } finally { r.stop() }
  })

  /**
   * A joined loop on fake timers that listens to membership changes: `wake()`
   * is a change, `joined` and `turns` (looks) are the test's to set and read.
   */
  const onFakeTimers = (extra: Partial<RedialInit> = {}): { clock: ReturnType<typeof FakeTimers.install>, r: Redialer, dials: () => number, wake: () => void, subscribed: () => boolean, turns: () => number, setJoined: (j: boolean) => void } => {
    const clock = FakeTimers.install({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    let joined = true
    let turns = 0
    let wake: (() => void) | undefined
    const { node, dials } = fakeNode([])
    const r = new Redialer({
      bootstrap: [ADDR], minBackoffMs: 100, maxBackoffMs: 60_000,
      isJoined: () => { turns++; return joined },
      onChange: (w) => { wake = w; return () => { wake = undefined } },
      ...extra
    }, node, pino({ level: 'silent' }))
    return { clock, r, dials, wake: () => { wake?.() }, subscribed: () => wake !== undefined, turns: () => turns, setJoined: (j) => { joined = j } }
  }

  it('joined, it rests until membership changes instead of looking every backoff; isolated, it dials at once', async () => {
    const { clock, r, dials, wake, subscribed, turns, setJoined } = onFakeTimers()
    try {
      r.start()
      await clock.tickAsync(30_000)
      assert.equal(turns(), 1, 'no look in 30 s of rest: 300 backoffs, no membership change')
      assert.equal(dials(), 0)
      setJoined(false)
      wake()
      await clock.tickAsync(0)
      assert.ok(turns() >= 2)
      assert.equal(dials(), 1, 'the change that isolated it dials the bootstrap peer at once')
    } finally {
      r.stop()
      clock.uninstall()
    }
    assert.equal(subscribed(), false, 'stop unsubscribes')
  })

  it('joined, a burst of membership changes makes one look per gap, and a change inside a gap is not lost', async () => {
    const lookGapMs = 250
    // The bootstrap peer is a member: no dial while joined.
    const { clock, r, dials, wake, turns, setJoined } = onFakeTimers({ lookGapMs, isMember: () => true })
    try {
      r.start()
      await clock.tickAsync(1_000)
      assert.equal(turns(), 1)
      // A network forming: a change every 5 ms for 2 s (400 changes).
      for (let i = 0; i < 400; i++) {
        wake()
        await clock.tickAsync(5)
      }
      assert.ok(turns() >= 2 && turns() <= 1 + 2_000 / lookGapMs + 1, `${turns() - 1} looks for 400 changes in 2 s (one per ${lookGapMs} ms at most)`)
      // Quiet again: no look without a change.
      await clock.tickAsync(10_000)
      const rested = turns()
      await clock.tickAsync(30_000)
      assert.equal(turns(), rested, 'no look while nothing changes')
      // A change, then at once (inside the gap after its look) the one that isolates us.
      wake()
      await clock.tickAsync(0)
      setJoined(false)
      wake()
      await clock.tickAsync(0)
      assert.equal(dials(), 0, 'the gap runs first')
      await clock.tickAsync(lookGapMs - 1)
      assert.equal(dials(), 0, 'not before the gap has passed')
      await clock.tickAsync(1)
      assert.equal(dials(), 1, 'the change inside the gap made the next look, which dials')
    } finally {
      r.stop()
      clock.uninstall()
    }
  })

  it('does not call it connected while the connected peer is not admitted, or while we are connected to others only', async () => {
    const refused: PeerAdmission = { ...OPEN_ADMISSION, isAdmitted: () => false }
    // isJoined is asked once per loop turn: wait for a few turns, not for a time.
    let turnsA = 0
    let turnsB = 0
    const a = new Redialer({ bootstrap: [ADDR], minBackoffMs: 10, maxBackoffMs: 50, isJoined: () => ++turnsA > 0, admission: refused }, fakeNode([PEER]).node, pino({ level: 'silent' }))
    const b = new Redialer({ bootstrap: [ADDR], minBackoffMs: 10, maxBackoffMs: 50, isJoined: () => ++turnsB > 0 }, fakeNode(['12D3KooWSomeoneElse']).node, pino({ level: 'silent' }))
    a.start(); b.start()
    try {
      await until(() => turnsA >= 3 && turnsB >= 3)
      assert.ok(turnsA >= 3 && turnsB >= 3, 'the loops turned')
      assert.notEqual(a.status()[0].state, 'connected')
      assert.notEqual(b.status()[0].state, 'connected')
    } finally { a.stop(); b.stop() }
  })
})

const peerN = (i: number): string => `12D3KooWGzBrsPDmbDGkTnmkuTAabkvz3DsJxTWmMvrNnTpb4c${'abcdefghij'[i]}w`
const addrN = (i: number): string => `/ip4/127.0.0.1/tcp/${4001 + i}/p2p/${peerN(i)}`

/** Dials by address: `hang` until aborted, `fail` at once, `ok` at once (and the test decides when the join follows). */
const scriptedNode = (outcome: (addr: string) => 'hang' | 'fail' | 'ok'): { node: MycelNode, dialed: string[] } => {
  const dialed: string[] = []
  const node = {
    getConnections: () => [],
    dial: async (ma: { toString: () => string }, opts: { signal: AbortSignal }) => {
      const addr = ma.toString()
      dialed.push(addr)
      const how = outcome(addr)
      if (how === 'fail') throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })
      if (how === 'ok') return { remotePeer: { toString: () => addr.split('/p2p/')[1] } }
      return await new Promise((_resolve, reject) => { opts.signal.addEventListener('abort', () => { reject(new Error('aborted')) }) })
    }
  }
  return { node: node as unknown as MycelNode, dialed }
}

describe('redial: one bootstrap peer at a time', () => {
  let clock: ReturnType<typeof FakeTimers.install>
  beforeEach(() => { clock = FakeTimers.install({ toFake: ['setTimeout', 'clearTimeout', 'Date'] }) })
  afterEach(() => { clock.uninstall() })

  it('starts the next address only when the one before has not let us in within staggerMs', async () => {
    const { node, dialed } = scriptedNode(() => 'hang')
    const r = new Redialer({ bootstrap: [addrN(0), addrN(1), addrN(2)], minBackoffMs: 100, maxBackoffMs: 60_000, staggerMs: 2_000, isJoined: () => false }, node, pino({ level: 'silent' }))
    r.start()
    try {
      await clock.tickAsync(0)
      assert.equal(dialed.length, 1, 'one dial at first')
      await clock.tickAsync(1_999)
      assert.equal(dialed.length, 1)
      await clock.tickAsync(1)
      assert.equal(dialed.length, 2, 'the second after the stagger')
      await clock.tickAsync(2_000)
      assert.equal(dialed.length, 3)
      assert.deepEqual([...dialed].sort(), [addrN(0), addrN(1), addrN(2)].sort(), 'each address once per round')
    } finally { r.stop() }
  })

  it('moves to the next address at once when a dial fails', async () => {
    const { node, dialed } = scriptedNode(addr => addr === addrN(2) ? 'hang' : 'fail')
    // Math.random near 1: the shuffle keeps the listed order, so both failing addresses come before the hanging one.
    const random = Math.random
    Math.random = () => 0.999
    const r = new Redialer({ bootstrap: [addrN(0), addrN(1), addrN(2)], minBackoffMs: 100, maxBackoffMs: 60_000, staggerMs: 2_000, isJoined: () => false }, node, pino({ level: 'silent' }))
    try {
      r.start()
      await clock.tickAsync(0)
      assert.deepEqual(dialed, [addrN(0), addrN(1), addrN(2)], 'no stagger after a failed dial')
      assert.equal(r.status().filter(s => s.state === 'failing').length, 2)
    } finally {
      Math.random = random
      r.stop()
    }
  })

  it('dials no other address once one let us in and the join followed', async () => {
    let joined = false
    let wake: (() => void) | undefined
    const { node, dialed } = scriptedNode(() => 'ok')
    const r = new Redialer({
      bootstrap: [addrN(0), addrN(1), addrN(2)], minBackoffMs: 100, maxBackoffMs: 60_000, staggerMs: 2_000,
      isJoined: () => joined,
      isMember: (peer) => joined && [peerN(0), peerN(1), peerN(2)].includes(peer),
      onChange: (w) => { wake = w; return () => { wake = undefined } }
    }, node, pino({ level: 'silent' }))
    r.start()
    try {
      await clock.tickAsync(0)
      assert.equal(dialed.length, 1)
      await clock.tickAsync(500)
      // The join exchange brings the membership: every bootstrap peer is a member now.
      joined = true
      wake?.()
      await clock.tickAsync(60_000)
      assert.equal(dialed.length, 1, 'one connection to one bootstrap peer is the whole join')
      assert.deepEqual(r.status().map(s => s.state).sort(), ['connected', 'member', 'member'])
    } finally { r.stop() }
  })

  it('joined, dials once a bootstrap peer that is no member we know (clusters that formed apart merge)', async () => {
    let wake: (() => void) | undefined
    const { node, dialed } = scriptedNode(() => 'ok')
    const r = new Redialer({
      bootstrap: [addrN(0), addrN(1)], minBackoffMs: 100, maxBackoffMs: 60_000, staggerMs: 2_000,
      isJoined: () => true,
      isMember: (peer) => peer === peerN(0),
      onChange: (w) => { wake = w; return () => { wake = undefined } }
    }, node, pino({ level: 'silent' }))
    r.start()
    try {
      await clock.tickAsync(1_000)
      assert.equal(dialed.length, 0, 'not before the join exchange had staggerMs to bring the members')
      wake?.()
      await clock.tickAsync(1_000)
      wake?.()
      await clock.tickAsync(0)
      assert.deepEqual(dialed, [addrN(1)])
      wake?.()
      await clock.tickAsync(120_000)
      assert.deepEqual(dialed, [addrN(1)], 'once')
      assert.deepEqual(r.status().map(s => s.state), ['member', 'connected'])
    } finally { r.stop() }
  })
})
