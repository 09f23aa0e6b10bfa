import { expect } from 'chai'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { Registry } from 'prom-client'
import pino from 'pino'
import { Health, healthTunables, encodeSignedReport, type HealthConfig, type HealthReport } from '../../../protocols/health/index.js'
import { healthTopic } from '../../../protocols/health/constants.js'
import { HEALTH_SYNC_PROTOCOL, pullHealth } from '../../../protocols/health/sync.js'
import { handleRequests } from '../../../wire/rpc.js'
import { decodeCborTrusted } from '../../../wire/codec.js'
import { MemoryNetwork, type MemoryHost } from '../../helpers/memory-host.js'

const logger = pino({ level: 'silent' })

async function until (cond: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

interface Node { id: string, key: Awaited<ReturnType<typeof generateKeyPair>>, host: MemoryHost, health: Health, checks: Array<{ name: string, ok: boolean }>, registry: Registry }

describe('health: publish on change, refresh by region size, sync at start', () => {
  let net: MemoryNetwork
  const nodes: Node[] = []
  beforeEach(() => { net = new MemoryNetwork() })
  afterEach(() => { for (const n of nodes.splice(0)) { n.health.stop(); n.host.stop() } })

  /** Who the nodes' membership knows (everyone unless a test says otherwise). */
  let members: Set<string> & { all?: boolean }
  beforeEach(() => { members = Object.assign(new Set<string>(), { all: true }) })
  const isMember = (id: string): boolean => members.all === true ? true : members.has(id)

  async function node (config: HealthConfig, peers: () => string[], region = 'eu', connected?: () => string[]): Promise<Node> {
    const key = await generateKeyPair('Ed25519')
    const id = peerIdFromPrivateKey(key).toString()
    const host = net.host(id)
    const checks = [{ name: 'disk', ok: true }]
    const registry = new Registry()
    const health = new Health({ config, version: '1.0.0', roles: () => [], checks: () => checks, regionPeers: peers, isMember, connected },
      { peerId: id, privateKey: key, region, dataDir: '/nonexistent', logger, registry, pubsub: host.pubsub, rpc: host })
    const n = { id, key, host, health, checks, registry }
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
    // Looks later, past the stale bound of the base period (5 × 50 ms), nothing new reached b, while a's own
    // view kept fresh gauges; b still calls a's report fresh: a announced 10 s.
    await until(() => a.health.get(a.id)!.report.issuedAt > first.issuedAt + 400)
    expect(b.health.get(a.id)!.report.issuedAt).to.equal(first.issuedAt)
    expect(Date.now() - first.issuedAt).to.be.above(5 * 50)
    expect(b.health.reports().find(r => r.report.peerId === a.id)?.stale).to.equal(false)
    // A failing check goes out at the next look.
    a.checks[0].ok = false
    await until(() => b.health.get(a.id)!.report.checks[0].ok === false, 2_000)
  })

  it('a region that grows after a report does not make it stale: the next one comes within the period it announced', async () => {
    // 20 reports a second: alone, the 50 ms base; at 500 members, the 10 s cap.
    const cfg: HealthConfig = { ...healthTunables.defaults('test'), publishIntervalMs: 50, regionReportsPerSecond: 20, maxRefreshMs: 10_000 }
    let peers: string[] = []
    const a = await node(cfg, () => peers)
    const b = await node(cfg, () => [])
    a.host.connect(b.host)
    await b.health.start()
    await a.health.start()
    await until(() => b.health.get(a.id) !== undefined)
    expect(b.health.get(a.id)!.report.refreshMs).to.equal(50)
    const grewAt = Date.now()
    peers = Array.from({ length: 500 }, (_, i) => `peer-${i}`)
    // The first report after the growth comes within the 50 ms a announced, and announces the new period.
    await until(() => b.health.get(a.id)!.report.issuedAt > grewAt, 2_000)
    await until(() => b.health.get(a.id)!.report.refreshMs === 10_000, 2_000)
    expect(b.health.reports().find(r => r.report.peerId === a.id)?.stale).to.equal(false)
  })

  it('keeps the base period while a region member it knows reports without refreshMs (an older release)', async () => {
    const cfg: HealthConfig = { ...healthTunables.defaults('test'), publishIntervalMs: 50, regionReportsPerSecond: 0.001, maxRefreshMs: 10_000 }
    const old = await node(cfg, () => [])
    const c = await node(cfg, () => [old.id])
    const oldReport = { ...await old.health.makeReport(), issuedAt: Date.now() }
    delete oldReport.refreshMs
    const frames = [await encodeSignedReport(oldReport, old.key)]
    await handleRequests(old.host, HEALTH_SYNC_PROTOCOL, async (_req, _conn, reply) => { for (const f of frames) await reply(f) }, { timeoutMs: 2_000, maxBytes: 1024, onError: () => {} })
    expect(c.health.refreshMs()).to.equal(10_000)
    await c.health.syncFrom(old.id)
    expect(c.health.refreshMs()).to.equal(50)
    // Upgraded: its next report carries the field, and the period stretches.
    frames[0] = await encodeSignedReport({ ...oldReport, issuedAt: Date.now() + 1, refreshMs: 10_000 }, old.key)
    await c.health.syncFrom(old.id)
    expect(c.health.refreshMs()).to.equal(10_000)
  })

  it('a report sent to nobody (no region peer connected yet) is sent again at the next look, not after the refresh', async () => {
    const cfg: HealthConfig = { ...healthTunables.defaults('test'), publishIntervalMs: 50, regionReportsPerSecond: 0.001, maxRefreshMs: 10_000 }
    const many = Array.from({ length: 500 }, (_, i) => `peer-${i}`)
    const a = await node(cfg, () => many)
    const b = await node(cfg, () => many)
    await b.health.start()
    await a.health.start()
    await until(() => a.health.get(a.id) !== undefined)
    await new Promise(resolve => setTimeout(resolve, 120))
    a.host.connect(b.host)
    await until(() => b.health.get(a.id) !== undefined, 2_000)
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

  it('a starting node pulls from a region member it is connected to, not from one it would have to dial', async () => {
    const cfg = healthTunables.defaults('test')
    const a = await node(cfg, () => [])
    await a.health.start()
    await until(() => a.health.get(a.id) !== undefined)
    // 49 region members that nobody can reach (a dial would fail), and a, the one c is connected to.
    const ghosts = Array.from({ length: 49 }, (_, i) => `ghost-${i}`)
    const c = await node(cfg, () => [...ghosts, a.id], 'eu', () => ['not-a-member', a.id])
    await c.health.start()
    await until(() => c.health.get(a.id) !== undefined, 4_000)
    const syncs = await c.registry.getSingleMetricAsString('mycel_health_syncs_total')
    expect(syncs).to.match(/result="ok"} 1/)
    expect(syncs).not.to.match(/result="failed"} [1-9]/)
  })

  it('keeps nothing from a member that serves a forged, altered, foreign-region or own report', async () => {
    const cfg = healthTunables.defaults('test')
    const c = await node(cfg, () => [])
    const liar = await node(cfg, () => [])
    const other = await node(cfg, () => [], 'us')
    members.all = false
    members.add(c.id)
    members.add(other.id)
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
    const outcome = async (): Promise<string> => await c.health.syncFrom(liar.id).then(r => `stored ${r.stored} of ${r.frames}`, (e: unknown) => (e as Error).name)
    // The forged frame ends the exchange with the wire's error; nothing after it is read.
    expect(await outcome()).to.equal('InvalidSignatureError')
    expect(c.health.get(other.id)).to.equal(undefined)
    expect(c.health.get(c.id)).to.equal(undefined)
    expect(c.health.reports()).to.have.length(0)
    // An altered copy of a genuine report is refused the same way.
    frames.splice(0, frames.length, altered)
    expect(await outcome()).to.be.oneOf(['InvalidSignatureError', 'MalformedMessageError'])
    // Genuine: a non-member's report is not kept, a member's is.
    frames.splice(0, frames.length, genuine)
    members.delete(liar.id)
    expect(await outcome()).to.equal('stored 0 of 1')
    members.add(liar.id)
    expect(await outcome()).to.equal('stored 1 of 1')
    expect(c.health.get(liar.id)?.report.peerId).to.equal(liar.id)
  })

  it('the health topic and the sync carry the same bytes: a synced report is what its subject gossiped, relayed unchanged', async () => {
    const cfg = healthTunables.defaults('test')
    const a = await node(cfg, () => [])
    const seen: Uint8Array[] = []
    const b = await node(cfg, () => [])
    a.host.connect(b.host)
    b.host.pubsub.subscribe(healthTopic('eu'))
    b.host.pubsub.addEventListener('message', (evt) => { if (evt.detail.topic === healthTopic('eu')) seen.push(evt.detail.data) })
    await a.health.start()
    await until(() => seen.length > 0)
    // c pulls from a, then a stops: what c serves next is its relay of a's report.
    const c = await node(cfg, () => [])
    await c.health.start()
    await c.health.syncFrom(a.id)
    a.health.stop()
    const held = c.health.get(a.id)!.report.issuedAt
    const gossiped = seen.find(f => c.health.get(a.id) !== undefined && decodeIssuedAt(f) === held)
    expect(gossiped, 'the report c holds was gossiped by a').to.not.equal(undefined)
    const d = await node(cfg, () => [])
    const served: Uint8Array[] = []
    await pullHealth(d.host, c.id, { timeoutMs: 2_000, maxReportBytes: 16 * 1024, accept: async (raw) => { served.push(raw) } })
    expect(served.some(f => Buffer.from(f).equals(Buffer.from(gossiped!)))).to.equal(true)
    // A third node verifies a's signature on the relayed copy.
    await d.health.start()
    await d.health.syncFrom(c.id)
    expect(d.health.get(a.id)?.report.issuedAt).to.equal(held)
  })
})

/** The issuedAt of a signed report's bytes (decoded the way every receiver does). */
function decodeIssuedAt (bytes: Uint8Array): number | undefined {
  const outer = decodeCborTrusted(bytes) as { report: Uint8Array }
  return (decodeCborTrusted(outer.report) as { issuedAt?: number }).issuedAt
}
