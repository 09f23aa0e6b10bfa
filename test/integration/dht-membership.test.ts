/**
 * kad-dht's routing table kept by membership, not by walks
 * (daemon/dht-membership.ts), on real libp2p nodes over TCP on 127.0.0.1:
 *  - the daemon's node starts no walk, at its start or on a forced refresh,
 *    and so never dials the two peers its one contact knows, while the same
 *    node with kad-dht's start-up self-query, or its refresh, back on walks
 *    to both;
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

/** Counts kad-dht's walks of `n` from now on: the self-query and the refresh both go through getClosestPeers. */
function countWalks (n: MycelNode): () => number {
  const routing = (n.services.dht as unknown as { peerRouting: { getClosestPeers: (...args: unknown[]) => unknown } }).peerRouting
  const inner = routing.getClosestPeers.bind(routing)
  let walks = 0
  routing.getClosestPeers = (...args: unknown[]) => { walks++; return inner(...args) }
  return () => walks
}
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

  it('the daemon\'s node walks nowhere, at its start or on a forced refresh; kad-dht\'s own self-query and refresh walk and dial', async () => {
    const test = libp2pTunables.defaults('test')
    const [hub, c, d] = [await nodes.start(), await nodes.start(), await nodes.start()]
    for (const o of [c, d]) await hub.dial(o.getMultiaddrs()[0])
    const node = await nodes.start()
    const walks = countWalks(node)
    // Controls: kad-dht's start-up self-query back (200 ms after the start), and its refresh back.
    const selfQuerying = await nodes.start({ profile: { ...test, dht: { ...test.dht, selfQueryMs: 200 } } })
    const refreshing = await nodes.start()
    const started = Date.now()
    for (const n of [node, selfQuerying, refreshing]) await n.dial(hub.getMultiaddrs()[0])
    // Each table holds the hub (the connection's topology) before a forced refresh is worth asking for.
    await waitFor(async () => (await find(node, hub)) !== undefined && (await find(refreshing, hub)) !== undefined, 10_000, 'the hub in both tables')
    await node.services.dht.refreshRoutingTable()
    // kad-dht's own refresh, run once on the control. Called on the instance, so
    // the timer it re-arms when done takes the instance's (no-op) refreshTable:
    // putting kad-dht's back would leave a live refresh timer that fires minutes
    // later, after the node stopped, with no `this` (it did, in a later test).
    const refresh = (refreshing.services.dht as unknown as { routingTableRefresh: object }).routingTableRefresh
    const stock = (Object.getPrototypeOf(refresh) as { refreshTable: (force: boolean) => void }).refreshTable
    stock.call(refresh, true)
    await waitFor(async () => [selfQuerying, refreshing].every(n => connected(n, c) && connected(n, d)), 20_000, 'both controls to walk to the peers their hub knows')
    // kad-dht's own first self-query would come 1 s after the start: give the node that and more.
    await waitFor(async () => Date.now() - started > 2_000, 5_000, 'two seconds since the start')
    assert.equal(walks(), 0, 'the daemon\'s node started a walk (getClosestPeers)')
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
    const feed = feedRoutingTable(table, membership, pino({ level: 'silent' }))
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
    feed.stop()
    membership.emit('member:dead', late.peerId.toString())
    await feed.settled()
    assert.notEqual(await find(node, late), undefined, 'an event after the feed stopped changed the table')
  })

  it('fails at once on a kad-dht without the refresh it switches off', () => {
    assert.throws(() => withoutTableRefresh(() => ({ routingTable: {} }))(undefined), KadDhtShapeError)
  })
})
