/**
 * The membership feed of kad-dht's routing table (daemon/dht-membership.ts)
 * hands the table one update at a time, in membership's order, over
 * generated event sequences: kad-dht's table loses contacts when adds
 * overlap (concurrent bucket splits, a bounded contact-check queue), and a
 * join push-pull announces tens of members at once.
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import pino from 'pino'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { feedRoutingTable, type RoutingTableLike } from '../../daemon/dht-membership.js'
import type { Member } from '../../protocols/membership/types.js'

type Op = 'add' | 'remove'

/** A table whose updates take a macrotask each and that records overlaps and the final contents. */
class SlowTable implements RoutingTableLike {
  readonly done: Array<[Op, string]> = []
  readonly contents = new Set<string>()
  inFlight = 0
  maxInFlight = 0
  async add (peer: PeerId): Promise<void> { await this.run('add', peer) }
  async remove (peer: PeerId): Promise<void> { await this.run('remove', peer) }
  private async run (op: Op, peer: PeerId): Promise<void> {
    this.inFlight++
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight)
    await new Promise(resolve => setImmediate(resolve))
    const id = peer.toString()
    if (op === 'add') this.contents.add(id)
    else this.contents.delete(id)
    this.done.push([op, id])
    this.inFlight--
  }
}

class Events extends EventTarget {
  constructor (private readonly initial: string[]) { super() }
  alivePeers (): Member[] { return this.initial.map(peerId => ({ peerId }) as unknown as Member) }
}

describe('kad-dht routing table feed from membership', () => {
  const ids: string[] = []
  before(async () => {
    for (let i = 0; i < 12; i++) ids.push(peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString())
  })

  it('applies every update one at a time and in order; the table ends as membership\'s alive set', async () => {
    const kinds = ['member:join', 'member:alive', 'member:dead', 'member:left'] as const
    await fc.assert(fc.asyncProperty(
      fc.subarray([...Array(12).keys()]),
      fc.array(fc.tuple(fc.constantFrom(...kinds), fc.nat(11)), { maxLength: 40 }),
      async (initial, events) => {
        const table = new SlowTable()
        const membership = new Events(initial.map(i => ids[i]))
        const feed = feedRoutingTable(table, membership as never, pino({ level: 'silent' }))
        const expected: Array<[Op, string]> = initial.map(i => ['add', ids[i]])
        const alive = new Set(initial.map(i => ids[i]))
        // All at once, as a push-pull's merge announces them.
        for (const [kind, i] of events) {
          membership.dispatchEvent(new CustomEvent(kind, { detail: { peerId: ids[i] } }))
          const op: Op = kind === 'member:join' || kind === 'member:alive' ? 'add' : 'remove'
          expected.push([op, ids[i]])
          if (op === 'add') alive.add(ids[i])
          else alive.delete(ids[i])
        }
        await feed.settled()
        feed.stop()
        assert.ok(table.maxInFlight <= 1, `${table.maxInFlight} updates overlapped`)
        assert.deepEqual(table.done, expected)
        assert.deepEqual([...table.contents].sort(), [...alive].sort())
      }
    ), { numRuns: 50 })
  })

  it('stops: no update after stop reaches the table', async () => {
    const table = new SlowTable()
    const membership = new Events([])
    const feed = feedRoutingTable(table, membership as never, pino({ level: 'silent' }))
    feed.stop()
    membership.dispatchEvent(new CustomEvent('member:join', { detail: { peerId: ids[0] } }))
    await feed.settled()
    assert.deepEqual(table.done, [])
  })
})
