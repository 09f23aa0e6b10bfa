import { expect } from 'chai'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { Registry } from 'prom-client'
import pino from 'pino'
import { Health, healthTunables, encodeSignedReport, type HealthConfig, type HealthReport } from '../../../protocols/health/index.js'
import { healthTopic } from '../../../protocols/health/constants.js'
import { HEALTH_SYNC_PROTOCOL } from '../../../protocols/health/sync.js'
import { handleRequests } from '../../../wire/rpc.js'
import { MemoryNetwork, type MemoryHost } from '../../helpers/memory-host.js'

const logger = pino({ level: 'silent' })

async function until (cond: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

interface Node { id: string, key: Awaited<ReturnType<typeof generateKeyPair>>, host: MemoryHost, health: Health, checks: Array<{ name: string, ok: boolean }> }

describe('health: publish on change, refresh by region size, sync at start', () => {
  let net: MemoryNetwork
  const nodes: Node[] = []
  beforeEach(() => { net = new MemoryNetwork() })
  afterEach(() => { for (const n of nodes.splice(0)) { n.health.stop(); n.host.stop() } })

  async function node (config: HealthConfig, peers: () => string[], region = 'eu'): Promise<Node> {
    const key = await generateKeyPair('Ed25519')
    const id = peerIdFromPrivateKey(key).toString()
    const host = net.host(id)
    const checks = [{ name: 'disk', ok: true }]
    const health = new Health({ config, version: '1.0.0', roles: () => [], checks: () => checks, regionPeers: peers, isMember: () => true },
      { peerId: id, privateKey: key, region, dataDir: '/nonexistent', logger, registry: new Registry(), pubsub: host.pubsub, rpc: host })
    const n = { id, key, host, health, checks }
    nodes.push(n)
    return n
  }

  it('in a large region publishes again only when something a reader acts on changed, and readers call it fresh for its announced period', async () => {
    // A 50 ms look, but a region so large that the refresh is the 10 s cap.
    const cfg: HealthConfig = { ...healthTunables.defaults('test'), publishIntervalMs: 50, regionReportsPerSecond: 0.001, maxRefreshMs: 10_000 }
    const many = Array.from({ length: 500 }, (_, i) => `peer-${i}`)
    const a = await node(cfg, () => many)
    const b = await node(cfg, () => many)
    a.host.connect(b.host)
    await b.health.start()
    await a.health.start()
    await until(() => b.health.get(a.id) !== undefined)
    const first = b.health.get(a.id)!.report
    expect(first.refreshMs).to.equal(10_000)
    // Several looks later nothing new reached b, while a's own view kept fresh gauges.
    await until(() => a.health.get(a.id)!.report.issuedAt > first.issuedAt + 200)
    expect(b.health.get(a.id)!.report.issuedAt).to.equal(first.issuedAt)
    expect(b.health.reports().find(r => r.report.peerId === a.id)?.stale).to.equal(false)
    // A failing check goes out at the next look.
    a.checks[0].ok = false
    await until(() => b.health.get(a.id)!.report.checks[0].ok === false, 2_000)
  })

  it('a starting node pulls every report a region member holds, and checks each as gossip is checked', async () => {
    const cfg = healthTunables.defaults('test')
    const a = await node(cfg, () => [])
    const b = await node(cfg, () => [])
    a.host.connect(b.host)
    await a.health.start()
    await b.health.start()
    await until(() => a.health.get(b.id) !== undefined && b.health.get(a.id) !== undefined)
    // c is not subscribed to gossip yet (no connection): only the sync can bring a's and b's reports.
    const c = await node(cfg, () => [a.id])
    await c.health.start()
    await until(() => c.health.get(a.id) !== undefined && c.health.get(b.id) !== undefined, 4_000)
    expect(c.health.get(b.id)!.report.peerId).to.equal(b.id)
  })

  it('keeps nothing from a member that serves a forged, altered, foreign-region or own report', async () => {
    const cfg = healthTunables.defaults('test')
    const c = await node(cfg, () => [])
    const liar = await node(cfg, () => [])
    const other = await node(cfg, () => [], 'us')
    const base: HealthReport = await c.health.makeReport()
    const about = (n: Node, over: Partial<HealthReport> = {}): HealthReport => ({ ...base, peerId: n.id, region: n === other ? 'us' : 'eu', issuedAt: Date.now(), ...over })
    const genuine = await encodeSignedReport(about(liar), liar.key)
    const altered = genuine.slice()
    altered[altered.length - 70] ^= 1
    const frames = [
      await encodeSignedReport(about(other), other.key), // another region's member
      await encodeSignedReport(about(c), c.key), // c's own, replayed to it
      await encodeSignedReport(about(other, { region: 'eu' }), liar.key), // signed by someone else than its subject
      altered
    ]
    await handleRequests(liar.host, HEALTH_SYNC_PROTOCOL, async (_req, _conn, reply) => { for (const f of frames) await reply(f) }, { timeoutMs: 2_000, maxBytes: 1024, onError: () => {} })
    let err: unknown
    const stored = await c.health.syncFrom(liar.id).catch((e: unknown) => { err = e; return -1 })
    expect(c.health.get(other.id)).to.equal(undefined)
    expect(c.health.get(c.id)).to.equal(undefined)
    // The forged frame ends the exchange with the wire's error; nothing after it is read.
    expect((err as Error)?.name).to.equal('InvalidSignatureError')
    expect(stored).to.equal(-1)
    expect(c.health.reports()).to.have.length(0)
  })

  it('the health topic and the sync carry the same bytes: a synced report is what its subject gossiped', async () => {
    const cfg = healthTunables.defaults('test')
    const a = await node(cfg, () => [])
    const seen: Uint8Array[] = []
    const b = await node(cfg, () => [])
    a.host.connect(b.host)
    b.host.pubsub.subscribe(healthTopic('eu'))
    b.host.pubsub.addEventListener('message', (evt) => { if (evt.detail.topic === healthTopic('eu')) seen.push(evt.detail.data) })
    await a.health.start()
    await until(() => seen.length > 0)
    const c = await node(cfg, () => [])
    await c.health.start()
    await c.health.syncFrom(a.id)
    const got = c.health.get(a.id)!.report
    expect(got.issuedAt).to.be.at.least(1)
    const d = await node(cfg, () => [c.id])
    // c serves what it pulled, unchanged: a third node verifies a's signature on it.
    await d.health.syncFrom(c.id)
    expect(d.health.get(a.id)!.report.issuedAt).to.equal(got.issuedAt)
  })
})
