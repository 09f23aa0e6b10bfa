/**
 * The redial loop's bootstrap status: an address whose peer we joined through
 * before the loop ran (libp2p's bootstrap module dials at start) is reported
 * `connected`, not `untried` (the flake in bootstrap-failures.test.ts).
 */
import { strict as assert } from 'node:assert'
import FakeTimers from '@sinonjs/fake-timers'
import pino from 'pino'
import { Redialer } from '../../daemon/redial.js'
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

  it('joined, it rests until membership changes instead of looking every backoff; isolated, it dials at once', async () => {
    const clock = FakeTimers.install({ toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    let joined = true
    let turns = 0
    let wake: (() => void) | undefined
    const { node, dials } = fakeNode([])
    const r = new Redialer({
      bootstrap: [ADDR], minBackoffMs: 100, maxBackoffMs: 60_000,
      isJoined: () => { turns++; return joined },
      onChange: (w) => { wake = w; return () => { wake = undefined } }
    }, node, pino({ level: 'silent' }))
    try {
      r.start()
      await clock.tickAsync(30_000)
      assert.equal(turns, 1, 'no look in 30 s of rest: 300 backoffs, no membership change')
      assert.equal(dials(), 0)
      joined = false
      wake?.()
      await clock.tickAsync(0)
      assert.equal(turns, 2)
      assert.equal(dials(), 1, 'the change that isolated it dials the bootstrap peer at once')
    } finally {
      r.stop()
      clock.uninstall()
    }
    assert.equal(wake, undefined, 'stop unsubscribes')
  })

  it('keeps it untried while the connected peer is not admitted, or while we are connected to others only', async () => {
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
      assert.equal(a.status()[0].state, 'untried')
      assert.equal(b.status()[0].state, 'untried')
    } finally { a.stop(); b.stop() }
  })
})
