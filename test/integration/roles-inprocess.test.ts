/**
 * The whole roles component over real libp2p (TCP, gossipsub, kad-dht) with
 * four nodes in one process, two regions, and a scripted membership view
 * (so this test does not depend on SWIM timing): agreement on one holder per
 * (region, role), cross-region DHT resolution, fenced outputs delivered to the
 * region, a holder cut off by the test-only connection gater stops at its
 * lease lapse before the successor starts, and its stale-term action sent
 * after the heal is ignored.
 */
import { strict as assert } from 'node:assert'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { Registry } from 'prom-client'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { createNode, type MycelNode } from '../../daemon/node.js'
import { nodeDhtLocalRecords } from '../../daemon/dht-local-records.js'
import { libp2pTunables } from '../../daemon/profiles.js'
import { roles, leaseDhtSelectors, leaseDhtValidators, ROLE_NAMES, type Roles } from '../../managers/index.js'
import { PartitionControl } from '../../daemon/test-hooks.js'
import type { Member } from '../../protocols/membership/types.js'
import { waitFor } from '../../harness/agent-process.js'

const ROLES = [...ROLE_NAMES]
const ELECTION = { leaseMs: 4_000, renewIntervalMs: 1_000, contactLapseMs: 4_000, learnPeriodMs: 1_500, viewSettleMs: 0, claimSettleMs: 300, maxClockSkewMs: 200 }

interface Sim { id: string, region: string, node: MycelNode, roles: Roles, partition: PartitionControl, registry: Registry, dir: string, cut: boolean }

describe('roles component over real libp2p, 4 in-process nodes in 2 regions', function () {
  this.timeout(180_000)
  const sims: Sim[] = []

  const view = (me: Sim) => Object.assign(new EventTarget(), {
    self: (): Member => member(me, 'alive'),
    members: (): Member[] => sims.map(s => member(s, s === me || (!s.cut && !me.cut) ? 'alive' : 'dead'))
  })
  const member = (s: Sim, state: Member['state']): Member => ({ peerId: s.id, state, incarnation: 0, region: s.region, roles: ROLES, addrs: [], version: '0.1.0', lastSeen: Date.now() })
  const notify = (): void => { for (const s of sims) (s.roles as any).c.membership.dispatchEvent(new CustomEvent('member:update')) }
  const actingFor = (region: string, role: string): Sim[] => sims.filter(s => s.region === region && s.roles.election.isActing(role))
  const partitionRoute = (s: Sim) => s.partition.routes(() => s.node, () => (s.roles as any).c.membership, pino({ level: 'silent' }))[0]

  before(async () => {
    for (let i = 0; i < 4; i++) {
      const key = await generateKeyPair('Ed25519')
      const partition = new PartitionControl()
      const node = await createNode({ privateKey: key, listen: ['/ip4/127.0.0.1/tcp/0'], profile: libp2pTunables.defaults('test'), dhtValidators: leaseDhtValidators, dhtSelectors: leaseDhtSelectors, denyPeer: (p) => partition.denies(p) })
      const dir = await mkdtemp(join(tmpdir(), 'mycel-rip-'))
      const sim = { id: peerIdFromPrivateKey(key).toString(), region: i < 2 ? 'eu' : 'us', node, partition, registry: new Registry(), dir, cut: false } as Sim
      sims.push(sim)
      sim.roles = roles({ profile: 'test', eligible: ROLES, election: ELECTION, roleTunables: { network: { intervalMs: 500 } } })({
        pubsub: node.services.pubsub, dht: node.services.dht, dhtLocal: nodeDhtLocalRecords(node), peers: node, peerId: sim.id, privateKey: key, region: sim.region, dataDir: dir, logger: pino({ level: 'silent' }), registry: sim.registry,
        membership: view(sim) as any, health: { reports: () => [] }
      })
    }
    await Promise.all(sims.map(async s => { await s.node.start() }))
    for (let i = 1; i < sims.length; i++) for (let j = 0; j < i; j++) await sims[i].node.dial(sims[j].node.getMultiaddrs()[0])
    await waitFor(() => sims.every(s => (s.node.services.dht as unknown as { routingTable: { size: number } }).routingTable.size >= 3), 30_000, 'routing tables')
    await Promise.all(sims.map(async s => { await s.roles.start() }))
  })

  after(async () => {
    for (const s of sims) { await s.roles.stop(); await s.node.stop(); await rm(s.dir, { recursive: true, force: true }) }
  })

  it('agrees on exactly one acting holder per (region, role)', async () => {
    await waitFor(() => {
      for (const region of ['eu', 'us']) {
        for (const role of ROLES) {
          const acting = actingFor(region, role)
          if (acting.length !== 1) return false
          if (!sims.every(s => s.roles.election.view().find(v => v.region === region && v.role === role)?.holder === acting[0].id)) return false
        }
      }
      return true
    }, 60_000, 'one agreed holder per (region, role)', 200)
  })

  it('resolves the other region\'s holder through the DHT', async () => {
    const eu = sims[0]
    // Read the holder when the record is: under load a 4 s lease may lapse
    // and pass to the other member between two reads.
    const r = await waitFor(async () => {
      const acting = actingFor('us', 'network')
      if (acting.length !== 1) return false
      const res = await eu.roles.election.resolve('us', 'network')
      return res.records > 0 ? { res, holder: acting[0].id } : false
    }, 30_000, 'DHT resolution', 500)
    assert.equal(r.res.lease?.holder, r.holder)
  })

  it('delivers the holder\'s fenced outputs to the other member of its region', async () => {
    const holder = actingFor('eu', 'network')[0]
    const other = sims.find(s => s.region === 'eu' && s !== holder)!
    await waitFor(() => other.roles.actions.latest(60_000).some(o => o.kind === 'topology' && o.holder === holder.id), 30_000, 'topology output at the other member', 200)
  })

  it('a cut-off holder stops at its lease lapse, before its successor starts; its stale action is ignored after the heal', async () => {
    const old = actingFor('eu', 'monitoring')[0]
    const oldTerm = old.roles.election.actingTerm('monitoring')!
    const successor = sims.find(s => s.region === 'eu' && s !== old)!
    const events: Array<{ who: string, what: string, at: number }> = []
    old.roles.manager.addEventListener('role:deactivated', (e) => { if ((e as CustomEvent).detail.role === 'monitoring') events.push({ who: 'old', what: 'stop', at: Date.now() }) })
    successor.roles.manager.addEventListener('role:activated', (e) => { if ((e as CustomEvent).detail.role === 'monitoring') events.push({ who: 'new', what: 'start', at: Date.now() }) })

    old.cut = true
    await partitionRoute(old).handler({ body: { deny: 'all' } } as any)
    for (const s of sims) if (s !== old) await partitionRoute(s).handler({ body: { deny: [old.id] } } as any)
    notify()
    await waitFor(() => successor.roles.election.isActing('monitoring'), 30_000, 'successor acting', 100)
    assert.equal(old.roles.election.isActing('monitoring'), false)
    const stop = events.find(e => e.who === 'old')
    const start = events.find(e => e.who === 'new')
    assert.ok(stop !== undefined && start !== undefined && stop.at < start.at, `old stopped at ${stop?.at}, new started at ${start?.at}`)
    assert.ok(successor.roles.election.actingTerm('monitoring')! > oldTerm)

    // Heal, then replay the old term from the old holder over real gossip.
    old.cut = false
    for (const s of sims) await partitionRoute(s).handler({ body: { deny: [] } } as any)
    notify()
    const staleCount = async (): Promise<number> => {
      const m = /mycel_roles_actions_total\{role="monitoring",result="stale_term"\} (\d+)/.exec(await successor.registry.metrics())
      return m === null ? 0 : Number(m[1])
    }
    await waitFor(async () => {
      await old.roles.actions.emitStale('monitoring', 'stale-probe', { x: 1 }, oldTerm)
      return await staleCount() > 0
    }, 30_000, 'stale action counted at the successor', 500)
    assert.ok(!successor.roles.actions.latest(60_000).some(o => o.kind === 'stale-probe'))
  })
})
