/**
 * The node's ping service answered from membership (daemon/member-ping.ts),
 * on real libp2p nodes over TCP on 127.0.0.1: before it is bound the real
 * ping protocol answers; once bound, an alive member passes without a
 * connection and anyone else fails without one, and kad-dht's contact check
 * (which pings every new contact before its routing table takes it) follows.
 */
import assert from 'node:assert/strict'
import type { MycelNode } from '../../daemon/node.js'
import { loopbackNodes } from '../helpers/loopback-nodes.js'

interface RoutingTableInternals { add: (peer: MycelNode['peerId']) => Promise<void>, find: (peer: MycelNode['peerId']) => Promise<unknown> }

describe('ping answered from membership, over real libp2p nodes', function () {
  this.timeout(30_000)
  const nodes = loopbackNodes()
  after(async () => { await nodes.stopAll() })

  it('asks the network before binding and membership after, for peer ids only', async () => {
    const [a, b, member, stranger] = [await nodes.start(), await nodes.start(), await nodes.start(), await nodes.start()]
    // a knows every address, so a real ping of any of them would dial it.
    for (const n of [b, member, stranger]) await a.peerStore.merge(n.peerId, { multiaddrs: n.getMultiaddrs() })

    // Not bound: libp2p's ping protocol, over a new connection.
    const rtt = await a.services.ping.ping(b.peerId)
    assert.ok(rtt >= 0)
    assert.equal(a.getConnections(b.peerId).length, 1, 'the unbound ping dialed')

    a.services.ping.bind((id) => id === member.peerId.toString())
    assert.equal(await a.services.ping.ping(member.peerId), 0)
    assert.equal(a.getConnections(member.peerId).length, 0, 'an alive member is not dialed')
    await assert.rejects(a.services.ping.ping(stranger.peerId), { name: 'NotAliveMemberError' })
    assert.equal(a.getConnections(stranger.peerId).length, 0, 'a non-member is not dialed')
    // A multiaddr target still gets the real protocol.
    assert.ok(await a.services.ping.ping(stranger.getMultiaddrs()[0]) >= 0)
    await a.hangUp(stranger.peerId)

    // kad-dht pings a new contact before its routing table takes it: the
    // member goes in without a connection, the stranger stays out.
    const table = (a.services.dht as unknown as { routingTable: RoutingTableInternals }).routingTable
    await table.add(member.peerId)
    await table.add(stranger.peerId)
    assert.notEqual(await table.find(member.peerId), undefined, 'the alive member is in the routing table')
    assert.equal(await table.find(stranger.peerId), undefined, 'the non-member is not')
    assert.equal(a.getConnections(member.peerId).length, 0)
    assert.equal(a.getConnections(stranger.peerId).length, 0)
  })
})
