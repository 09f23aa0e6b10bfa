/**
 * Who an indirect probe asks (protocols/membership/probe.ts, helpersFor):
 * the fewest handshakes first. When the helpers may dial the target (our own
 * dial was refused), connected members before the rest, and among each the
 * target's observers (they hold a link to the target). When they may not (our
 * ping timed out), only a link to the target lets a helper check it: every
 * observer first, connected ones before the others. Checked over generated
 * connection sets and observer sets on a real Prober whose direct ping fails.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { membershipConfig, PROBE_PROTOCOL, PROBE_REQ_PROTOCOL } from '../../../protocols/membership/constants.js'
import { Prober } from '../../../protocols/membership/probe.js'
import { VirtualClock } from '../../sim/clock.js'
import { aliveTable, proberBase } from './fake-context.js'


describe('membership indirect probe helpers', () => {
  let ids: string[] = []
  before(async () => {
    ids = await Promise.all(Array.from({ length: 12 }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()))
  })

  /** The helpers a Prober asks about `target` when its direct ping fails. */
  async function helpersAsked (target: string, others: string[], connected: Set<string>, observers: string[], seed: number, how: 'timeout' | 'refused' = 'timeout'): Promise<string[]> {
    const clock = new VirtualClock(0)
    const asked: string[] = []
    const ctx = {
      ...proberBase(clock, seed),
      table: aliveTable([target, ...others]),
      peers: {
        getConnections: (p: PeerId) => (p.toString() === target && how === 'timeout') || connected.has(p.toString()) ? [{}] : [],
        dial: async () => { throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:4001'), { code: 'ECONNREFUSED' }) }
      },
      observersOf: (id: string) => id === target ? observers : [],
      suspect: async () => {},
      transport: {
        request: async (peer: PeerId, protocol: string) => {
          if (protocol === PROBE_REQ_PROTOCOL) asked.push(peer.toString())
          else assert.equal(protocol, PROBE_PROTOCOL)
          throw Object.assign(new Error('no answer'), { name: 'TimeoutError' })
        }
      }
    }
    await new Prober(ctx as any).probe(target)
    return asked
  }

  /**
   * Over generated connection, observer and member sets: the helpers asked are `indirectChecks` distinct
   * members other than the target, and none left out ranks before one asked, by `rank` (lower first).
   */
  async function checkOrder (how: 'timeout' | 'refused', rank: (connected: boolean, observer: boolean) => number): Promise<void> {
    const cfg = membershipConfig('lan')
    await fc.assert(fc.asyncProperty(
      fc.subarray(ids.slice(1)), fc.subarray(ids.slice(1)), fc.subarray(ids.slice(1), { minLength: 1 }), fc.nat(),
      async (connectedList, observers, others, seed) => {
        const target = ids[0]
        const connected = new Set(connectedList)
        const tier = (h: string): number => rank(connected.has(h), observers.includes(h))
        const asked = await helpersAsked(target, others, connected, observers, seed, how)
        assert.equal(asked.length, Math.min(cfg.indirectChecks, others.length))
        assert.equal(new Set(asked).size, asked.length, 'no helper twice')
        assert.ok(!asked.includes(target))
        const worstAsked = Math.max(...asked.map(tier))
        for (const h of others.filter(x => !asked.includes(x))) {
          assert.ok(tier(h) >= worstAsked, `left out ${h} (tier ${tier(h)}) but asked one of tier ${worstAsked}`)
        }
      }), { numRuns: 100 })
  }

  it('our dial refused (helpers may dial): connected observers of the target first, then connected members, then observers, then anyone', async () => {
    await checkOrder('refused', (connected, observer) => (connected ? 0 : 2) + (observer ? 0 : 1))
  })

  it('our ping timed out (helpers may not dial): every observer of the target first, connected ones before the others, then connected members, then anyone', async () => {
    await checkOrder('timeout', (connected, observer) => (observer ? 0 : 2) + (connected ? 0 : 1))
  })

  it('asks no one when the target is the only other member', async () => {
    assert.deepEqual(await helpersAsked(ids[0], [], new Set(), [], 1), [])
  })
})
