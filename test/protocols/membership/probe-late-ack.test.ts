/**
 * A direct ack that comes after the probe timeout but within the probe round is an answer
 * (protocols/membership/probe.ts; memberlist keeps its ack handler for the probe interval): the helpers are
 * asked meanwhile, and the target is not suspected. An ack later than the round is none, and the target is
 * suspected. Checked on a real Prober over a virtual clock, for generated ack delays.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import pino from 'pino'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { membershipConfig, PROBE_PROTOCOL, PROBE_REQ_PROTOCOL } from '../../../protocols/membership/constants.js'
import { decoders, encode, type Ack, type Ping } from '../../../protocols/membership/messages.js'
import { Prober } from '../../../protocols/membership/probe.js'
import { VirtualClock } from '../../sim/clock.js'
import { prng } from '../../../harness/prng.js'
import { ignoreCalls, swimClock } from './fake-context.js'

describe('membership probe: a late direct ack within the round', () => {
  let ids: string[] = []
  before(async () => {
    ids = await Promise.all(Array.from({ length: 5 }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()))
  })

  /** One probe round of `target`, whose ack comes `ackMs` after the ping; helpers never answer. */
  async function round (ackMs: number): Promise<{ suspected: boolean, helpersAsked: number, elapsedMs: number }> {
    const cfg = membershipConfig('lan')
    const clock = new VirtualClock(0)
    const uninstall = clock.install()
    const [target, ...others] = ids
    let suspected = false
    let helpersAsked = 0
    const ctx = {
      cfg,
      selfId: 'self',
      signal: new AbortController().signal,
      clock: swimClock(clock),
      random: prng(1),
      log: pino({ level: 'silent' }),
      metrics: ignoreCalls,
      awareness: { scaleTimeout: (t: number) => t, applyDelta: () => {}, healthScore: () => 0 },
      codec: decoders(cfg),
      table: {
        get: () => ({ state: 'alive', incarnation: 1 }),
        ids: () => [target, ...others],
        claimOf: () => undefined,
        inJoinGrace: () => false,
        markSeen: () => {},
        markContact: () => {}
      },
      peers: { getConnections: () => [{}] },
      observersOf: () => [],
      piggyback: () => [],
      ingest: async () => {},
      suspect: async () => { suspected = true },
      transport: {
        request: async (_peer: PeerId, protocol: string, body: Uint8Array, opts: { signal: AbortSignal }) => {
          if (protocol === PROBE_REQ_PROTOCOL) {
            helpersAsked++
            return await new Promise((_resolve, reject) => { opts.signal.addEventListener('abort', () => { reject(opts.signal.reason) }, { once: true }) })
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
      const done = new Prober(ctx as any).probe(target)
      await clock.tickAsync(20_000)
      await done
      return { suspected, helpersAsked, elapsedMs: clock.now() - started }
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
