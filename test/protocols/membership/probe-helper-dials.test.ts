/**
 * An indirect probe's helper dials the target only to confirm a refusal (protocols/membership/probe.ts). A
 * direct ping that merely timed out says the target is slow or cut off: a handshake with it is the last thing
 * it needs, so the prober sends `dial: false` and a helper without a link to the target answers a nack at once.
 * A refused dial says the process is gone: the helpers dial to confirm it (the RST costs nothing), and the
 * refused fast path to dead still works. A request without the field (an older prober) dials as before.
 * Checked on real Probers: the prober's request as sent, and the helper's answer to it.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { membershipConfig, PROBE_PROTOCOL, PROBE_REQ_PROTOCOL } from '../../../protocols/membership/constants.js'
import { decoders, encode, type Ack, type Ping, type ProbeReq, type ProbeRes } from '../../../protocols/membership/messages.js'
import { Prober } from '../../../protocols/membership/probe.js'
import { VirtualClock } from '../../sim/clock.js'
import { aliveTable, proberBase } from './fake-context.js'

const refusedError = (): Error => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4001'), { code: 'ECONNREFUSED' })

describe('membership probe: helpers dial the target only to confirm a refusal', () => {
  let ids: string[] = []
  before(async () => {
    ids = await Promise.all(Array.from({ length: 5 }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()))
  })

  /** The probe requests a prober sends when its direct attempt on the target is `how`. */
  async function requestsSent (how: 'timeout' | 'refused'): Promise<{ reqs: ProbeReq[], suspected: Array<{ refused: boolean }> }> {
    const cfg = membershipConfig('lan')
    const codec = decoders(cfg)
    const clock = new VirtualClock(0)
    const uninstall = clock.install()
    const [target, ...helpers] = ids
    const reqs: ProbeReq[] = []
    const suspected: Array<{ refused: boolean }> = []
    const ctx = {
      ...proberBase(clock, 1),
      table: aliveTable([target, ...helpers]),
      peers: {
        // Connected to the helpers; to the target only when its direct ping is to time out.
        getConnections: (p: PeerId) => p.toString() !== target || how === 'timeout' ? [{}] : [],
        dial: async () => { throw refusedError() }
      },
      suspect: async (_id: string, _inc: number, refused: boolean) => { suspected.push({ refused }) },
      transport: {
        request: async (_peer: PeerId, protocol: string, body: Uint8Array, opts: { signal: AbortSignal }) => {
          if (protocol === PROBE_REQ_PROTOCOL) {
            const req = codec.probeReq(body)
            reqs.push(req)
            // A helper that confirms the refusal (it was asked to dial), or a nack.
            return encode({ v: 1, t: 'pres', seq: req.seq, ok: false, refused: req.dial !== false } satisfies ProbeRes)
          }
          assert.equal(protocol, PROBE_PROTOCOL)
          return await new Promise((_resolve, reject) => { opts.signal.addEventListener('abort', () => { reject(opts.signal.reason) }, { once: true }) })
        }
      }
    }
    try {
      const done = new Prober(ctx as any).probe(target)
      await clock.tickAsync(20_000)
      await done
      return { reqs, suspected }
    } finally {
      uninstall()
    }
  }

  it('a direct ping that timed out asks the helpers not to dial', async () => {
    const cfg = membershipConfig('lan')
    const { reqs, suspected } = await requestsSent('timeout')
    assert.equal(reqs.length, Math.min(cfg.indirectChecks, ids.length - 1))
    for (const r of reqs) assert.equal(r.dial, false)
    assert.deepEqual(suspected, [{ refused: false }])
  })

  it('a refused dial asks the helpers to dial, and their refusals make the fast path', async () => {
    const { reqs, suspected } = await requestsSent('refused')
    assert.ok(reqs.length > 0)
    for (const r of reqs) assert.equal(r.dial, undefined, 'dial is the default, so the field is left out')
    assert.deepEqual(suspected, [{ refused: true }])
  })

  /** A helper's answer to a probe request about `target`, and whether it dialed. */
  async function helperAnswer (o: { linked: boolean, dial: boolean | undefined, targetUp: boolean }): Promise<{ res: ProbeRes, dialed: boolean, elapsedMs: number }> {
    const cfg = membershipConfig('lan')
    const codec = decoders(cfg)
    const clock = new VirtualClock(0)
    const uninstall = clock.install()
    const [target, requester] = ids
    let dialed = false
    let linked = o.linked
    let handler: ((req: Uint8Array, conn: unknown, reply: (frame: Uint8Array) => Promise<void>) => Promise<void>) | undefined
    const abort = new AbortController()
    const ctx = {
      ...proberBase(clock, 2, 'helper', abort.signal),
      table: aliveTable([target, requester]),
      peers: {
        getConnections: (p: PeerId) => p.toString() === target && !linked ? [] : [{}],
        dial: async () => {
          dialed = true
          if (!o.targetUp) throw refusedError()
          linked = true
        }
      },
      suspect: async () => {},
      neighbours: () => ({ subjects: [], observers: [] }),
      transport: {
        handle: async (protocol: string, h: typeof handler) => { if (protocol === PROBE_REQ_PROTOCOL) handler = h },
        unhandle: async () => {},
        request: async (_peer: PeerId, protocol: string, body: Uint8Array) => {
          assert.equal(protocol, PROBE_PROTOCOL)
          const ping = codec.ping(body) as Ping
          return encode({ v: 1, t: 'ack', seq: ping.seq, u: [] } satisfies Ack)
        }
      }
    }
    const prober = new Prober(ctx as any)
    try {
      await prober.start()
      assert.ok(handler !== undefined)
      const req = encode({ v: 1, t: 'preq', seq: 7, target, timeoutMs: 500, ...(o.dial === undefined ? {} : { dial: o.dial }) } satisfies ProbeReq)
      let res: ProbeRes | undefined
      const started = clock.now()
      let elapsedMs = -1
      const answered = handler(req, {}, async (frame) => { res = codec.probeRes(frame); elapsedMs = clock.now() - started })
      await clock.tickAsync(2_000)
      await answered
      assert.ok(res !== undefined, 'answered')
      assert.equal(res.seq, 7)
      return { res, dialed, elapsedMs }
    } finally {
      abort.abort()
      await clock.tickAsync(2_000)
      await prober.stop()
      uninstall()
    }
  }

  it('without a link and told not to dial: a nack at once, no dial', async () => {
    const a = await helperAnswer({ linked: false, dial: false, targetUp: true })
    assert.equal(a.dialed, false)
    assert.equal(a.res.ok, false)
    assert.equal(a.res.refused, false)
    assert.equal(a.elapsedMs, 0)
  })

  it('over generated cases: a helper dials exactly when it holds no link and may dial, and acks when the target answers', async () => {
    await fc.assert(fc.asyncProperty(fc.boolean(), fc.constantFrom(true, false, undefined), fc.boolean(), async (linked, dial, targetUp) => {
      const a = await helperAnswer({ linked, dial, targetUp })
      assert.equal(a.dialed, !linked && dial !== false)
      const reaches = linked || (dial !== false && targetUp)
      assert.equal(a.res.ok, reaches)
      assert.equal(a.res.refused, !linked && dial !== false && !targetUp)
    }), { numRuns: 40 })
  })
})
