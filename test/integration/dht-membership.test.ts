/**
 * kad-dht's routing table kept by membership, not by walks
 * (daemon/dht-membership.ts), on real libp2p nodes over TCP on 127.0.0.1:
 *  - the daemon's node dials nobody its walks would find: connected to one
 *    peer that knows two more, it never dials them, while the same node with
 *    kad-dht's start-up self-query back on (the control) dials both;
 *  - membership's alive members enter the routing table without a dial, and
 *    leave it when they die or leave.
 */
import assert from 'node:assert/strict'
import pino from 'pino'
import type { MycelNode } from '../../daemon/node.js'
import { feedRoutingTable, routingTableOf, withoutTableRefresh, KadDhtShapeError } from '../../daemon/dht-membership.js'
import { libp2pTunables } from '../../daemon/profiles.js'
import type { Member } from '../../protocols/membership/types.js'
import { loopbackNodes } from '../helpers/loopback-nodes.js'
import { waitFor } from '../../harness/agent-process.js'

const connected = (n: MycelNode, to: MycelNode): boolean => n.getConnections(to.peerId).length > 0
const find = async (n: MycelNode, p: MycelNode): Promise<unknown> => await (n.services.dht as unknown as { routingTable: { find: (id: MycelNode['peerId']) => Promise<unknown> } }).routingTable.find(p.peerId)

/** A membership view of the members given, with the events the feed listens to. */
class FakeMembership extends EventTarget {
  readonly alive: Set<string>
  constructor (alive: string[]) { super(); this.alive = new Set(alive) }
  alivePeers (): Member[] { return [...this.alive].map(peerId => ({ peerId }) as unknown as Member) }
  emit (type: 'member:join' | 'member:alive' | 'member:dead' | 'member:left', peerId: string): void {
    if (type === 'member:join' || type === 'member:alive') this.alive.add(peerId)
    else this.alive.delete(peerId)
    this.dispatchEvent(new CustomEvent(type, { detail: { peerId } }))
  }
}

describe('kad-dht\'s routing table kept by membership, over real libp2p nodes', function () {
  this.timeout(60_000)
  const nodes = loopbackNodes()
  after(async () => { await nodes.stopAll() })

  it('the daemon\'s node dials none of the peers a walk would find; with the start-up self-query back on it dials them', async () => {
    const test = libp2pTunables.defaults('test')
    const [hub, c, d] = [await nodes.start(), await nodes.start(), await nodes.start()]
    for (const o of [c, d]) await hub.dial(o.getMultiaddrs()[0])
    const node = await nodes.start()
    // The control: kad-dht's own start-up walk, a self-query 200 ms after the start.
    const control = await nodes.start({ profile: { ...test, dht: { ...test.dht, selfQueryMs: 200 } } })
    for (const n of [node, control]) await n.dial(hub.getMultiaddrs()[0])
    await waitFor(async () => connected(control, c) && connected(control, d), 20_000, 'the control\'s self-query to dial the peers its hub knows')
    // A forced refresh walks nowhere either.
    await node.services.dht.refreshRoutingTable()
    assert.equal(connected(node, c) || connected(node, d), false, 'the daemon\'s node dialed a peer only a walk could have found')
  })

  it('alive members enter the routing table without a dial and leave it when they die or leave', async () => {
    const [node, a, b, late] = [await nodes.start(), await nodes.start(), await nodes.start(), await nodes.start()]
    // The members' addresses are in the peer store, as membership puts them (without connecting).
    for (const m of [a, b, late]) await node.peerStore.merge(m.peerId, { multiaddrs: m.getMultiaddrs() })
    const table = routingTableOf(node.services.dht)
    assert.ok(table !== undefined, 'the node\'s kad-dht has a routing table')
    const membership = new FakeMembership([a, b].map(m => m.peerId.toString()))
    // kad-dht checks a new contact with a ping, which membership answers, as in the agent (daemon/member-ping.ts).
    node.services.ping.bind(id => membership.alive.has(id))
    const stop = feedRoutingTable(table, membership, pino({ level: 'silent' }))
    await waitFor(async () => (await find(node, a)) !== undefined && (await find(node, b)) !== undefined, 10_000, 'the alive members in the table')
    assert.equal(await find(node, late), undefined, 'a peer membership has not named is not in the table')
    membership.emit('member:join', late.peerId.toString())
    await waitFor(async () => (await find(node, late)) !== undefined, 10_000, 'a joining member in the table')
    membership.emit('member:dead', a.peerId.toString())
    membership.emit('member:left', b.peerId.toString())
    await waitFor(async () => (await find(node, a)) === undefined && (await find(node, b)) === undefined, 10_000, 'dead and left members out of the table')
    membership.emit('member:alive', a.peerId.toString())
    await waitFor(async () => (await find(node, a)) !== undefined, 10_000, 'a member back alive in the table again')
    assert.equal([a, b, late].some(m => connected(node, m)), false, 'filling the table dialed a member')
    stop()
    membership.emit('member:dead', late.peerId.toString())
    assert.notEqual(await find(node, late), undefined, 'an event after the feed stopped changed the table')
  })

  it('fails at once on a kad-dht without the refresh it switches off', () => {
    assert.throws(() => withoutTableRefresh(() => ({ routingTable: {} }))(undefined), KadDhtShapeError)
  })
})
