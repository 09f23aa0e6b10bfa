/**
 * Lease sync at start (protocols/election/lease-sync.ts, start-sync.ts): the
 * transport over in-memory streams (a pull returns every lease the member
 * holds, each checked as gossip is; a forged or altered record ends the
 * exchange), and the engine's driver (whom it asks, when it retries, when it
 * stops).
 */
import { strict as assert } from 'node:assert'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import pino from 'pino'
import { Libp2pLeaseTransport, electionMetrics, signLease, type DhtHost, type SignedLease } from '../../../protocols/election/index.js'
import { LEASE_SYNC_PROTOCOL } from '../../../protocols/election/lease-sync.js'
import { StartSync } from '../../../protocols/election/start-sync.js'
import { handleRequests } from '../../../wire/rpc.js'
import type { Member } from '../../../protocols/membership/types.js'
import { MemoryNetwork } from '../../helpers/memory-host.js'
import { VirtualClock } from '../../sim/clock.js'

const logger = pino({ level: 'silent' })
const noDht: DhtHost = { put: async function * () {}, get: async function * () {} }

async function holder (role: string, term: number): Promise<SignedLease> {
  const key = await generateKeyPair('Ed25519')
  const now = Date.now()
  return await signLease({ v: 1, region: 'eu', role, holder: peerIdFromPrivateKey(key).toString(), term, issuedAt: now, expiresAt: now + 45_000 }, key)
}

async function peer (net: MemoryNetwork): Promise<{ id: string, host: ReturnType<MemoryNetwork['host']> }> {
  const id = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
  return { id, host: net.host(id) }
}

describe('election: lease sync at start', () => {
  it('a pull returns every lease the member holds, each as its holder signed it', async () => {
    const net = new MemoryNetwork()
    const a = await peer(net)
    const b = await peer(net)
    const held = [await holder('network', 3), await holder('monitoring', 1)]
    const serving = new Libp2pLeaseTransport({ pubsub: a.host.pubsub, dht: noDht, rpc: a.host, logger, metrics: electionMetrics() })
    await serving.serve(() => held.map(sl => sl.record))
    const pulling = new Libp2pLeaseTransport({ pubsub: b.host.pubsub, dht: noDht, rpc: b.host, logger, metrics: electionMetrics() })
    const got = await pulling.pull(a.id, AbortSignal.timeout(5_000))
    assert.deepEqual(got.map(sl => [sl.lease.role, sl.lease.term, sl.lease.holder]), held.map(sl => [sl.lease.role, sl.lease.term, sl.lease.holder]))
    serving.stop()
    a.host.stop()
    b.host.stop()
  })

  it('a forged or altered record ends the exchange with an error and is counted, whatever came before it', async () => {
    const net = new MemoryNetwork()
    const liar = await peer(net)
    const b = await peer(net)
    const genuine = await holder('network', 2)
    const altered = Uint8Array.from(genuine.record)
    altered[altered.length - 10] ^= 1
    let frames: Uint8Array[] = []
    await handleRequests(liar.host, LEASE_SYNC_PROTOCOL, async (_req, _conn, reply) => { for (const f of frames) await reply(f) }, { timeoutMs: 2_000, maxBytes: 256, onError: () => {} })
    const metrics = electionMetrics()
    const pulling = new Libp2pLeaseTransport({ pubsub: b.host.pubsub, dht: noDht, rpc: b.host, logger, metrics })
    const outcome = async (): Promise<string> => await pulling.pull(liar.id, AbortSignal.timeout(5_000)).then(r => `${r.length} leases`, (e: unknown) => (e as Error).name)
    frames = [genuine.record, altered]
    assert.match(await outcome(), /InvalidSignatureError|MalformedMessageError/)
    frames = [new Uint8Array([1, 2, 3])]
    assert.match(await outcome(), /MalformedMessageError|InvalidLeaseError/)
    const rejected = (await metrics.leasesRejected.get()).values.filter(v => v.labels.source === 'sync').reduce((n, v) => n + v.value, 0)
    assert.equal(rejected, 2)
    frames = [genuine.record]
    assert.equal(await outcome(), '1 leases')
    liar.host.stop()
    b.host.stop()
  })

  describe('the driver (start-sync.ts)', () => {
    const member = (peerId: string, region: string, state: Member['state'] = 'alive'): Member => ({ peerId, state, incarnation: 0, region, roles: [], addrs: [], version: '1', lastSeen: 0 })

    function driver (members: Member[], pull: (peer: string) => Promise<SignedLease[]>): { sync: StartSync, taken: SignedLease[][], asked: string[] } {
      const taken: SignedLease[][] = []
      const asked: string[] = []
      const sync = new StartSync({
        pull: async (p) => { asked.push(p); return await pull(p) },
        membership: { members: () => members },
        connected: () => members.map(m => m.peerId).filter(id => id !== 'unconnected'),
        self: 'self',
        region: 'eu',
        maxBackoffMs: 4_000,
        random: () => 0.99,
        take: (l) => { taken.push(l) },
        logger,
        metrics: electionMetrics()
      })
      return { sync, taken, asked }
    }
    // The driver's retry timers run on a virtual clock: the tests step it instead of sleeping.
    let clock: VirtualClock
    let uninstall: () => void
    beforeEach(() => { clock = new VirtualClock(1_700_000_000_000); uninstall = clock.install() })
    afterEach(() => { uninstall() })
    const tick = async (): Promise<void> => { await clock.tickAsync(0) }

    it('asks nobody while no other alive member is connected (it never dials one), then a connected one of its own region; an answer without a lease of its region is asked again later, one with one ends it', async () => {
      const members = [member('self', 'eu'), member('x', 'eu', 'dead'), member('unconnected', 'eu')]
      let answer: SignedLease[] = []
      const d = driver(members, async () => answer)
      const signal = new AbortController().signal
      d.sync.poke(signal)
      assert.deepEqual(d.asked, [])
      members.push(member('us1', 'us'), member('eu1', 'eu'))
      d.sync.poke(signal)
      await tick()
      assert.deepEqual(d.asked, ['eu1'])
      assert.equal(d.taken.length, 1)
      assert.equal(d.taken[0].length, 0)
      d.sync.poke(signal)
      await tick()
      assert.deepEqual(d.asked, ['eu1'], 'an empty answer is retried on a timer, not at every poke')
      answer = [await holder('network', 1)]
      await clock.tickAsync(1_000)
      assert.deepEqual(d.asked, ['eu1', 'eu1'])
      assert.equal(d.taken[1][0].lease.role, 'network')
      d.sync.poke(signal)
      await clock.tickAsync(2_000)
      assert.equal(d.asked.length, 2, 'done after an answer with a lease of its region')
      d.sync.stop()
    })

    it('after a failed pull it retries on a timer, not on every membership change, and stops when stopped', async () => {
      const lease = await holder('network', 1)
      let fail = true
      const d = driver([member('us1', 'us')], async () => { if (fail) throw new Error('refused'); return [lease] })
      const controller = new AbortController()
      d.sync.poke(controller.signal)
      await tick()
      assert.deepEqual(d.asked, ['us1'], 'another region\'s member when the own region has none')
      d.sync.poke(controller.signal)
      await tick()
      assert.equal(d.asked.length, 1, 'a retry is scheduled: pokes wait for it')
      fail = false
      await clock.tickAsync(1_000)
      assert.equal(d.asked.length, 2)
      assert.deepEqual(d.taken, [[lease]])
      d.sync.stop()
    })
  })
})
