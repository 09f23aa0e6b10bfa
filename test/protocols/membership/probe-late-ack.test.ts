/**
 * A direct ack that comes after the probe timeout but within the probe round is an answer
 * (protocols/membership/probe.ts; memberlist keeps its ack handler for the probe interval): the helpers are
 * asked meanwhile, and the target is not suspected. An ack later than the round is none, and the target is
 * suspected. A helper's ack ends the round at once, and a slow handshake is not a late answer. Checked on a real
 * Prober over a virtual clock, for generated ack delays.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { membershipConfig, PROBE_PROTOCOL, PROBE_REQ_PROTOCOL } from '../../../protocols/membership/constants.js'
import { decoders, encode, type Ack, type Ping, type ProbeRes } from '../../../protocols/membership/messages.js'
import { Prober } from '../../../protocols/membership/probe.js'
import { VirtualClock } from '../../sim/clock.js'
import { aliveTable, proberBase } from './fake-context.js'

describe('membership probe: a late direct ack within the round', () => {
  let ids: string[] = []
  before(async () => {
    ids = await Promise.all(Array.from({ length: 5 }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()))
  })

  /**
   * One probe round of `target`, whose ack comes `ackMs` after the ping. Helpers answer `helperAckMs` after
   * they are asked (never, if absent). Without a connection (`connectMs` given) the dial takes that long.
   */
  async function round (ackMs: number, o: { helperAckMs?: number, connectMs?: number } = {}): Promise<{ suspected: boolean, helpersAsked: number, elapsedMs: number, deltas: number[] }> {
    const cfg = membershipConfig('lan')
    const clock = new VirtualClock(0)
    const uninstall = clock.install()
    const [target, ...others] = ids
    let suspected = false
    let helpersAsked = 0
    const deltas: number[] = []
    let connected = o.connectMs === undefined
    const ctx = {
      ...proberBase(clock, 1),
      awareness: { scaleTimeout: (t: number) => t, applyDelta: (d: number) => { deltas.push(d) }, healthScore: () => 0 },
      table: aliveTable([target, ...others]),
      peers: {
        getConnections: (p: PeerId) => p.toString() !== target || connected ? [{}] : [],
        dial: async () => { await new Promise(resolve => setTimeout(resolve, o.connectMs)); connected = true }
      },
      suspect: async () => { suspected = true },
      transport: {
        request: async (_peer: PeerId, protocol: string, body: Uint8Array, opts: { signal: AbortSignal }) => {
          if (protocol === PROBE_REQ_PROTOCOL) {
            helpersAsked++
            const req = decoders(cfg).probeReq(body)
            return await new Promise((resolve, reject) => {
              const t = o.helperAckMs === undefined ? undefined : setTimeout(() => { resolve(encode({ v: 1, t: 'pres', seq: req.seq, ok: true, refused: false } satisfies ProbeRes)) }, o.helperAckMs)
              opts.signal.addEventListener('abort', () => { clearTimeout(t); reject(opts.signal.reason) }, { once: true })
            })
          }
          assert.equal(protocol, PROBE_PROTOCOL)
          const ping = decoders(cfg).ping(body) as Ping
          return await new Promise((resolve, reject) => {
            const t = setTimeout(() => { resolve(encode({ v: 1, t: 'ack', seq: ping.seq, u: [] } satisfies Ack)) }, ackMs)
            opts.signal.addEventListener('abort', () => { clearTimeout(t); reject(opts.signal.reason) }, { once: true })
          })
        }
      }
    }
    try {
      const started = clock.now()
      let ended = -1
      const done = new Prober(ctx as any).probe(target).then(() => { ended = clock.now() })
      await clock.tickAsync(20_000)
      await done
      return { suspected, helpersAsked, elapsedMs: ended - started, deltas }
    } finally {
      uninstall()
    }
  }

  it('an ack after the timeout but within the round: the helpers were asked, nobody is suspected', async () => {
    const cfg = membershipConfig('lan')
    const r = await round(cfg.probeTimeoutMs + 200)
    assert.equal(r.suspected, false)
    assert.equal(r.helpersAsked, Math.min(cfg.indirectChecks, ids.length - 1))
  })

  it('a helper\'s ack ends the round at once, while the direct ping is still waiting', async () => {
    const cfg = membershipConfig('lan')
    const roundMs = Math.max(cfg.probeIntervalMs, 2 * cfg.probeTimeoutMs)
    const r = await round(10 * roundMs, { helperAckMs: 100 })
    assert.equal(r.suspected, false)
    assert.ok(r.elapsedMs <= cfg.probeTimeoutMs + 100 + 50, `the round took ${r.elapsedMs} ms`)
  })

  it('a slow handshake is not a late answer: connected after 800 ms, acked at once, no helper asked, local health improves', async () => {
    const r = await round(10, { connectMs: 800 })
    assert.equal(r.suspected, false)
    assert.equal(r.helpersAsked, 0)
    assert.deepEqual(r.deltas, [-1])
  })

  it('over generated ack delays: suspected exactly when the ack comes after the round (interval, or twice the timeout)', async () => {
    const cfg = membershipConfig('lan')
    const roundMs = Math.max(cfg.probeIntervalMs, 2 * cfg.probeTimeoutMs)
    await fc.assert(fc.asyncProperty(
      // Away from the edges by a margin: the deadline's extra I/O turn is not what this checks.
      fc.oneof(
        fc.integer({ min: 0, max: cfg.probeTimeoutMs - 50 }),
        fc.integer({ min: cfg.probeTimeoutMs + 50, max: roundMs - 50 }),
        fc.integer({ min: roundMs + 50, max: 3 * roundMs })),
      async (ackMs) => {
        const r = await round(ackMs)
        assert.equal(r.suspected, ackMs > roundMs, `ack after ${ackMs} ms, round ${roundMs} ms`)
        assert.equal(r.helpersAsked > 0, ackMs > cfg.probeTimeoutMs, `helpers asked ${r.helpersAsked} times for an ack after ${ackMs} ms`)
      }), { numRuns: 40 })
  })
})
