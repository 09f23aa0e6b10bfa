/**
 * The lease transport over real libp2p nodes in one process (loopback TCP):
 * kad-dht with our validator and selector stores, finds and orders lease
 * records; forged records are refused by the storing peers; gossip delivers
 * leases to every node.
 */
import { strict as assert } from 'node:assert'
import pino from 'pino'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { createNode, type MycelNode } from '../../daemon/node.js'
import { nodeDhtLocalRecords } from '../../daemon/dht-local-records.js'
import { Record as DhtRecord } from '@libp2p/kad-dht'
import { libp2pTunables } from '../../daemon/profiles.js'
import {
  Libp2pLeaseTransport, electionMetrics, leaseDhtSelectors, leaseDhtValidators, leaseKey, signLease, decodeLease, type Lease, type SignedLease
} from '../../protocols/election/index.js'
import { waitFor } from '../../harness/agent-process.js'

const logger = pino({ level: 'silent' })

describe('lease records over a real kad-dht (4 in-process nodes)', function () {
  this.timeout(120_000)
  const nodes: MycelNode[] = []
  const keys: PrivateKey[] = []
  const transports: Libp2pLeaseTransport[] = []
  const received: SignedLease[][] = []

  before(async () => {
    for (let i = 0; i < 4; i++) {
      const key = await generateKeyPair('Ed25519')
      keys.push(key)
      const node = await createNode({
        privateKey: key,
        listen: ['/ip4/127.0.0.1/tcp/0'],
        profile: libp2pTunables.defaults('test'),
        dhtValidators: leaseDhtValidators,
        dhtSelectors: leaseDhtSelectors
      })
      await node.start()
      nodes.push(node)
      const t = new Libp2pLeaseTransport({ pubsub: node.services.pubsub, dht: node.services.dht, logger, metrics: electionMetrics() })
      const box: SignedLease[] = []
      received.push(box)
      t.start((sl) => { box.push(sl) })
      transports.push(t)
    }
    // A full mesh of connections, then wait for every DHT routing table to hold the others.
    for (let i = 1; i < nodes.length; i++) {
      for (let j = 0; j < i; j++) await nodes[i].dial(nodes[j].getMultiaddrs()[0])
    }
    await waitFor(() => nodes.every(n => (n.services.dht as unknown as { routingTable: { size: number } }).routingTable.size >= nodes.length - 1), 30_000, 'routing tables')
  })

  after(async () => {
    for (const t of transports) t.stop()
    await Promise.all(nodes.map(async n => { await n.stop() }))
  })

  it('stores a lease at remote peers and reads every copy back from another node', async () => {
    const holder = peerIdFromPrivateKey(keys[0]).toString()
    const now = Date.now()
    const sl = await signLease({ v: 1, region: 'eu', role: 'network', holder, term: 3, issuedAt: now, expiresAt: now + 10_000 }, keys[0])
    const acks = await transports[0].put(sl, AbortSignal.timeout(10_000))
    assert.ok(acks >= 1, `put reached ${acks} peers`)
    const found = await transports[3].get('eu', 'network', AbortSignal.timeout(10_000))
    assert.ok(found.length >= 1)
    assert.ok(found.every(f => f.lease.term === 3 && f.lease.holder === holder))
  })

  it('the selector makes a higher term win over an older record, from any reader', async () => {
    const a = peerIdFromPrivateKey(keys[1]).toString()
    const now = Date.now()
    const old = await signLease({ v: 1, region: 'us', role: 'config', holder: a, term: 1, issuedAt: now, expiresAt: now + 10_000 }, keys[1])
    const newer = await signLease({ v: 1, region: 'us', role: 'config', holder: a, term: 2, issuedAt: now + 1, expiresAt: now + 10_001 }, keys[1])
    await transports[1].put(old, AbortSignal.timeout(10_000))
    await transports[2].put(newer, AbortSignal.timeout(10_000))
    const found = await transports[0].get('us', 'config', AbortSignal.timeout(10_000))
    assert.ok(found.some(f => f.lease.term === 2))
    // kad-dht's own pick (the value `get` ends with) follows our selector.
    let best: Uint8Array | undefined
    for await (const ev of nodes[3].services.dht.get(leaseKey('us', 'config'), { signal: AbortSignal.timeout(10_000) })) {
      if (ev.name === 'VALUE') best = ev.value
    }
    assert.ok(best !== undefined)
    assert.equal((await decodeLease(best)).lease.term, 2)
  })

  it('storing peers refuse a forged lease (signed by someone else than its holder)', async () => {
    const victim = peerIdFromPrivateKey(keys[2]).toString()
    const now = Date.now()
    const forged = await signLease({ v: 1, region: 'ap', role: 'security', holder: victim, term: 99, issuedAt: now, expiresAt: now + 10_000 }, keys[3])
    const acks = await transports[3].put(forged, AbortSignal.timeout(10_000)).catch(() => 0)
    assert.equal(acks, 0, 'no peer accepted the forged record')
    const found = await transports[0].get('ap', 'security', AbortSignal.timeout(10_000)).catch(() => [])
    assert.equal(found.length, 0)
  })

  it('a provisional put no peer took is taken out of the own store again (what kad-dht serves to readers); one that was taken stays', async () => {
    // A node with no peers at all: every put lands in its own store only (and
    // waits for its signal: there is nobody to ask).
    const LONE_MS = 1_000
    const key = await generateKeyPair('Ed25519')
    const lone = await createNode({ privateKey: key, listen: ['/ip4/127.0.0.1/tcp/0'], profile: libp2pTunables.defaults('test'), dhtValidators: leaseDhtValidators, dhtSelectors: leaseDhtSelectors })
    await lone.start()
    try {
      const local = nodeDhtLocalRecords(lone)
      const t = new Libp2pLeaseTransport({ pubsub: lone.services.pubsub, dht: lone.services.dht, local, logger, metrics: electionMetrics() })
      const holder = peerIdFromPrivateKey(key).toString()
      const now = Date.now()
      const lease = (term: number): Lease => ({ v: 1, region: 'eu', role: 'config', holder, term, issuedAt: now + term, expiresAt: now + term + 10_000 })
      // The term of the record the own store holds for eu/config (what kad-dht serves to a reader), if any.
      const own = async (): Promise<number | undefined> => {
        const raw = await local.snapshot(leaseKey('eu', 'config'))
        return raw === undefined ? undefined : (await decodeLease(DhtRecord.deserialize(raw).value)).lease.term
      }
      // Not provisional: kad-dht keeps it in the own store.
      assert.equal(await t.put(await signLease(lease(1), key), AbortSignal.timeout(LONE_MS)).catch(() => 0), 0)
      assert.equal(await own(), 1)
      // Provisional, taken by nobody: the store gets back what it held.
      assert.equal(await t.put(await signLease(lease(2), key), AbortSignal.timeout(LONE_MS), { provisional: true }).catch(() => 0), 0)
      assert.equal(await own(), 1, 'a term nobody took stays in the own store')
      // Nothing before: the entry goes.
      const other = await signLease({ ...lease(1), role: 'security' }, key)
      assert.equal(await t.put(other, AbortSignal.timeout(LONE_MS), { provisional: true }).catch(() => 0), 0)
      assert.equal(await local.snapshot(leaseKey('eu', 'security')), undefined)
    } finally {
      await lone.stop()
    }
    // Taken by a peer: a provisional put stays in the own store.
    const holder = peerIdFromPrivateKey(keys[1]).toString()
    const now = Date.now()
    const taken = await signLease({ v: 1, region: 'eu', role: 'security', holder, term: 7, issuedAt: now, expiresAt: now + 10_000 }, keys[1])
    const local1 = nodeDhtLocalRecords(nodes[1])
    const t1 = new Libp2pLeaseTransport({ pubsub: nodes[1].services.pubsub, dht: nodes[1].services.dht, local: local1, logger, metrics: electionMetrics() })
    assert.ok(await t1.put(taken, AbortSignal.timeout(10_000), { provisional: true }) >= 1)
    assert.ok(await local1.snapshot(leaseKey('eu', 'security')) !== undefined)
  })

  it('gossips leases to every other node', async () => {
    const holder = peerIdFromPrivateKey(keys[0]).toString()
    const now = Date.now()
    const sl = await signLease({ v: 1, region: 'eu', role: 'update', holder, term: 1, issuedAt: now, expiresAt: now + 10_000 }, keys[0])
    await waitFor(async () => {
      await transports[0].gossip(await signLease({ ...sl.lease, issuedAt: Date.now() }, keys[0])).catch(() => 0)
      return received.slice(1).every(box => box.some(r => r.lease.role === 'update'))
    }, 30_000, 'gossiped lease everywhere', 500)
  })
})
