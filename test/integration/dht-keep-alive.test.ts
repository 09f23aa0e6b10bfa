/**
 * kad-dht's closest-peer keep-alive is off in the daemon's node
 * (daemon/dht-keep-alive.ts), on real libp2p nodes over TCP on 127.0.0.1:
 * with the same contacts, a node whose tagger runs again (the control) tags
 * its closest peers `keep-alive-kad-dht` within one refresh, and the
 * daemon's node tags none over that time.
 */
import assert from 'node:assert/strict'
import type { MycelNode } from '../../daemon/node.js'
import { stopClosestPeerKeepAlive } from '../../daemon/dht-keep-alive.js'
import { loopbackNodes } from '../helpers/loopback-nodes.js'
import { waitFor } from '../../harness/agent-process.js'

interface Tagger { running: boolean, start: () => Promise<void> }
interface Table { find: (peer: MycelNode['peerId']) => Promise<unknown>, closestPeerTagger: Tagger }
const table = (n: MycelNode): Table => (n.services.dht as unknown as { routingTable: Table }).routingTable

async function keepAliveTagged (n: MycelNode, peers: MycelNode[]): Promise<string[]> {
  const out: string[] = []
  for (const p of peers) {
    const tags = (await n.peerStore.get(p.peerId)).tags
    if ([...tags.keys()].some(t => t.startsWith('keep-alive'))) out.push(p.peerId.toString())
  }
  return out
}

describe('no keep-alive to kad-dht\'s closest peers, over real libp2p nodes', function () {
  this.timeout(60_000)
  const nodes = loopbackNodes()
  after(async () => { await nodes.stopAll() })

  it('the daemon\'s node tags none of its contacts; the same node with kad-dht\'s tagger running tags them', async () => {
    const [node, control, ...others] = [await nodes.start(), await nodes.start(), await nodes.start(), await nodes.start()]
    assert.equal(table(node).closestPeerTagger.running, false, 'createNode stopped the tagger')
    assert.equal(stopClosestPeerKeepAlive(node), true, 'kad-dht still has the tagger this module stops')
    // The control: kad-dht's default behaviour, back on.
    await table(control).closestPeerTagger.start()
    for (const n of [node, control]) for (const o of others) await n.dial(o.getMultiaddrs()[0])
    // Both routing tables take the contacts (kad-dht pings each first: the tagger's input).
    await waitFor(async () => (await Promise.all([node, control].flatMap(n => others.map(async o => await table(n).find(o.peerId))))).every(x => x !== undefined), 20_000, 'both routing tables to hold the others')
    // The control's tagger refreshes every 5 s: its tags show the check can see them.
    await waitFor(async () => (await keepAliveTagged(control, others)).length === others.length, 20_000, 'the control to tag its closest peers keep-alive')
    assert.deepEqual(await keepAliveTagged(node, others), [], 'the daemon\'s node tagged none in the same time')
  })
})
