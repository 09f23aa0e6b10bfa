import { expect } from 'chai'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { Registry } from 'prom-client'
import pino from 'pino'
import { encodeSignedReport, decodeSignedReport, Health, healthTunables, type HealthReport, type OffencesReport } from '../../../protocols/health/index.js'
import { MAX_REPORTED_OFFENDERS } from '../../../protocols/health/report.js'
import { OFFENCE_KINDS } from '../../../lib/peer-offences.js'

const logger = pino({ level: 'silent' })

async function keyAndId (): Promise<{ key: Awaited<ReturnType<typeof generateKeyPair>>, id: string }> {
  const key = await generateKeyPair('Ed25519')
  return { key, id: peerIdFromPrivateKey(key).toString() }
}

function worstCase (n: number, id: string): OffencesReport {
  return {
    windowMs: 900_000,
    peers: Array.from({ length: n }, (_, i) => ({
      peer: id.slice(0, -2) + String(i).padStart(2, '0'),
      kinds: Object.fromEntries(OFFENCE_KINDS.map(k => [k, Number.MAX_SAFE_INTEGER])),
      firstSeen: 8.64e15,
      lastSeen: 8.64e15
    }))
  }
}

describe('health report: offences (security monitoring)', () => {
  it('carries the most offenders a report may list, every kind at its largest count, in under 6 KiB', async () => {
    const { key, id } = await keyAndId()
    const report: HealthReport = {
      v: 1, peerId: id, region: 'eu', issuedAt: Date.now(), uptimeSeconds: 1, version: '0.1.0', roles: [], load: [0, 0, 0], cpus: 1,
      memory: { rssBytes: 1, heapUsedBytes: 1, totalBytes: 1, freeBytes: 1 }, diskFreeBytes: 1, checks: [],
      offences: worstCase(MAX_REPORTED_OFFENDERS, id)
    }
    const bytes = await encodeSignedReport(report, key)
    const plain = await encodeSignedReport({ ...report, offences: undefined }, key)
    expect(bytes.byteLength - plain.byteLength).to.be.below(6 * 1024)
    expect((await decodeSignedReport(bytes, 16 * 1024)).offences).to.deep.equal(report.offences)
  })

  it('refuses a report listing more offenders than the bound', async () => {
    const { key, id } = await keyAndId()
    const report = {
      v: 1, peerId: id, region: 'eu', issuedAt: Date.now(), uptimeSeconds: 1, version: '0.1.0', roles: [], load: [0, 0, 0], cpus: 1,
      memory: { rssBytes: 1, heapUsedBytes: 1, totalBytes: 1, freeBytes: 1 }, diskFreeBytes: 1, checks: [],
      offences: { windowMs: 1, peers: worstCase(MAX_REPORTED_OFFENDERS + 1, id).peers.map(p => ({ ...p, kinds: { replay: 1 } })) }
    } as unknown as HealthReport
    const bytes = await encodeSignedReport(report, key)
    let name = 'none'
    try { await decodeSignedReport(bytes, 16 * 1024) } catch (err) { name = (err as Error).name }
    expect(name).to.equal('MalformedMessageError')
  })

  it('a node puts its offenders in its report, and leaves the field out when it has none', async () => {
    const { key, id } = await keyAndId()
    let offences: OffencesReport | undefined
    const h = new Health({ config: healthTunables.defaults('test'), version: '0.1.0', roles: () => [], offences: () => offences }, {
      peerId: id, privateKey: key, region: 'eu', dataDir: '/nonexistent', logger, registry: new Registry(), pubsub: undefined as never
    })
    expect((await h.makeReport()).offences).to.equal(undefined)
    offences = { windowMs: 1000, peers: [] }
    expect('offences' in (await h.makeReport())).to.equal(false)
    offences = { windowMs: 1000, peers: [{ peer: 'x', kinds: { replay: 2 }, firstSeen: 1, lastSeen: 2 }] }
    expect((await h.makeReport()).offences).to.deep.equal(offences)
  })
})
