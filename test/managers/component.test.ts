/**
 * The roles component wired end to end in one process: a one-member cluster
 * (in-memory lease transport, stub pubsub) elects itself for every role,
 * runs the duties, serves /v1/roles and /v1/roles/outputs, and hands
 * everything back (release) on stop.
 */
import { strict as assert } from 'node:assert'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { Registry } from 'prom-client'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { roles, ROLE_NAMES } from '../../managers/index.js'
import type { LeaseTransport, SignedLease } from '../../protocols/election/index.js'
import type { Member } from '../../protocols/membership/types.js'
import type { PubSubHost } from '../../wire/topic.js'
import type { ApiRequest } from '../../daemon/api/router.js'
import { routesOfRoles } from '../../daemon/api/routes/roles.js'

describe('roles component (one member, in-memory transport)', function () {
  this.timeout(20_000)
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'mycel-roles-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('elects itself for every role, runs the duties, serves the API and releases on stop', async () => {
    const key = await generateKeyPair('Ed25519')
    const peerId = peerIdFromPrivateKey(key).toString()
    const self: Member = { peerId, state: 'alive', incarnation: 0, region: 'eu', roles: [], addrs: [], version: '0.1.0', lastSeen: Date.now() }
    const membership = Object.assign(new EventTarget(), { self: () => self, members: () => [self] }) as any
    const published: SignedLease[] = []
    const transport: LeaseTransport = {
      start: () => {},
      stop: () => {},
      gossip: async (sl) => { published.push(sl); return 0 },
      put: async () => 0,
      get: async () => []
    }
    const pubsub: PubSubHost = {
      topicValidators: new Map(),
      subscribe: () => {},
      unsubscribe: () => {},
      publish: async () => ({ recipients: [] }),
      addEventListener: () => {},
      removeEventListener: () => {}
    }
    const registry = new Registry()
    const r = roles({
      profile: 'test',
      eligible: ROLE_NAMES,
      election: { learnPeriodMs: 50, viewSettleMs: 0, claimSettleMs: 20 },
      roleTunables: Object.fromEntries(ROLE_NAMES.map(r => [r, { intervalMs: 100 }]))
    })({ pubsub, peers: { getConnections: () => [] }, peerId, privateKey: key, region: 'eu', dataDir: dir, logger: pino({ level: 'silent' }), registry, membership, health: { reports: () => [] }, transport })
    await r.start()
    const deadline = Date.now() + 10_000
    while (Date.now() < deadline && !ROLE_NAMES.every(x => r.election.isActing(x))) await new Promise(res => setTimeout(res, 20))
    await new Promise(res => setTimeout(res, 300))

    const routes = routesOfRoles(r, { peerId, region: 'eu' })
    const call = async (path: string, params: Record<string, string> = {}): Promise<any> => {
      const route = routes.find(x => x.path === path)!
      const res = await route.handler({ method: 'GET', params, query: new URLSearchParams(), body: undefined, signal: AbortSignal.timeout(5000), raw: undefined as any } satisfies ApiRequest)
      return (res as { json: unknown }).json
    }
    const view = await call('/v1/roles')
    assert.deepEqual(view.local.filter((l: any) => l.acting).map((l: any) => l.role).sort(), ['config', 'monitoring', 'network', 'security', 'update'])
    assert.ok(view.regions[0].roles.every((x: any) => x.holder === peerId && x.term === 1 && x.status === 'active'))
    const outputs = await call('/v1/roles/outputs')
    assert.deepEqual(outputs.outputs.map((o: any) => o.kind).sort(), ['config-violations', 'region-metrics', 'security-findings', 'topology', 'update-status'])
    const resolved = await call('/v1/roles/:region/:role', { region: 'eu', role: 'network' })
    assert.equal(resolved.source, 'gossip')
    assert.equal(resolved.holder, peerId)
    assert.deepEqual(resolved.candidates, [peerId])
    const metrics = await registry.metrics()
    assert.match(metrics, /mycel_election_is_holder\{region="eu",role="network"\} 1/)
    assert.match(metrics, /mycel_region_members_reporting\{region="eu"\} 0/)

    await r.stop()
    await r.stop()
    assert.equal(r.election.isActing('network'), false)
    const releases = published.filter(sl => sl.lease.expiresAt === sl.lease.issuedAt)
    assert.equal(releases.length, 5, 'every role released on stop')
    assert.doesNotMatch(await registry.metrics(), /mycel_region_members_reporting\{/)
    // The fencing state survived on disk.
    const { FencingStore } = await import('../../protocols/election/index.js')
    const f = new FencingStore({ dataDir: dir })
    await f.load()
    assert.equal(f.highest('eu', 'network')?.term, 1)
  })
})
