/**
 * kad-dht's dials outlive the request that made them (daemon/dht-patient-dials.ts),
 * on real libp2p nodes over TCP on 127.0.0.1. A peer whose handshakes take
 * 1.5 s (its connection gater holds each inbound socket that long, as a
 * loaded host's event loop would) is the only contact of two nodes: the
 * daemon's node and a control with kad-dht as it comes. Both look a key up
 * with a 300 ms deadline, which ends both lookups mid-handshake. The
 * daemon's node is connected to the slow peer once its handshake is done;
 * the control's dial was aborted and it holds no connection.
 */
import assert from 'node:assert/strict'
import { setTimeout as delay } from 'node:timers/promises'
import { createLibp2p, type Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@libp2p/yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { memberPing, type MemberPing } from '../../daemon/member-ping.js'
import { kadDHT, passthroughMapper, type KadDHT } from '@libp2p/kad-dht'
import type { PeerId } from '@libp2p/interface'
import { DHT_PROTOCOL, PROTOCOL_PREFIX, type MycelNode } from '../../daemon/node.js'
import { loopbackNodes } from '../helpers/loopback-nodes.js'
import { waitFor } from '../../harness/agent-process.js'

const HANDSHAKE_DELAY_MS = 1_500
const LOOKUP_DEADLINE_MS = 300

interface Table { add: (peer: PeerId) => Promise<void> }
const tableOf = (dht: unknown): Table => (dht as { routingTable: Table }).routingTable

async function plainNode (slow: boolean): Promise<Libp2p<{ dht: KadDHT, ping: MemberPing }>> {
  return await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: {
      denyDialMultiaddr: async () => false,
      ...(slow ? { denyInboundConnection: async () => { await delay(HANDSHAKE_DELAY_MS); return false } } : {})
    },
    services: {
      identify: identify({ protocolPrefix: PROTOCOL_PREFIX }),
      ping: memberPing(ping({ protocolPrefix: PROTOCOL_PREFIX })),
      dht: kadDHT({ protocol: DHT_PROTOCOL, clientMode: false, peerInfoMapper: passthroughMapper, allowQueryWithZeroPeers: true })
    }
  })
}

/** Look `key` up with a deadline that ends the lookup; the events and the error do not matter here. */
async function lookUp (dht: KadDHT, key: Uint8Array): Promise<number> {
  const started = Date.now()
  try {
    for await (const _ of dht.get(key, { signal: AbortSignal.timeout(LOOKUP_DEADLINE_MS) })) { /* drain */ }
  } catch { /* aborted or not found */ }
  return Date.now() - started
}

describe('kad-dht patient dials, over real libp2p nodes', function () {
  this.timeout(60_000)
  const nodes = loopbackNodes()
  const plain: Libp2p[] = []
  after(async () => { await Promise.all([nodes.stopAll(), ...plain.map(async n => { await n.stop() })]) })

  it('a lookup that ends mid-handshake leaves the daemon\'s dial to finish, where kad-dht\'s own is aborted', async () => {
    const slow = await plainNode(true)
    const control = await plainNode(false)
    plain.push(slow, control)
    const daemon: MycelNode = await nodes.start()
    for (const n of [daemon, control] as Array<Libp2p<{ dht: KadDHT, ping: MemberPing }>>) {
      // kad-dht checks a new contact with a ping; answered here as membership answers it in the daemon,
      // so that no dial but the lookup's reaches the slow peer.
      n.services.ping.bind(() => true)
      await n.peerStore.merge(slow.peerId, { multiaddrs: slow.getMultiaddrs() })
      await tableOf(n.services.dht).add(slow.peerId)
    }
    const key = new TextEncoder().encode('/mycel/test/patient-dials')
    const [daemonMs, controlMs] = await Promise.all([lookUp(daemon.services.dht, key), lookUp(control.services.dht, key)])
    for (const ms of [daemonMs, controlMs]) assert.ok(ms < HANDSHAKE_DELAY_MS, `the lookup ended at its deadline (${ms} ms), before the handshake could`)
    await waitFor(() => daemon.getConnections(slow.peerId).length > 0, 10_000, 'the daemon\'s node to finish its handshake with the slow peer')
    // The control's dial started with the daemon's; had it not been aborted it would have finished by now too.
    await delay(500)
    assert.equal(control.getConnections(slow.peerId).length, 0, 'kad-dht\'s own dial was aborted with its lookup')
  })
})
