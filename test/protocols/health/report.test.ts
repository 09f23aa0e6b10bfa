import { expect } from 'chai'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { encodeSignedReport, decodeSignedReport, type HealthReport } from '../../../protocols/health/index.js'
import { checkOrigin } from '../../../protocols/health/report.js'
import { encodeCbor, decodeCbor } from '../../../wire/codec.js'
import fc from 'fast-check'
import { z } from 'zod'
import { prng, randomBytes, mutate } from '../../helpers/prng.js'
import { extraFields, PROPERTY_RUNS, sameBytes, withFields } from '../../helpers/wire-evolution.js'

const WIRE_ERRORS = ['MalformedMessageError', 'OversizedMessageError', 'UnsupportedVersionError', 'InvalidSignatureError']

async function fixture (): Promise<{ report: HealthReport, key: Awaited<ReturnType<typeof generateKeyPair>> }> {
  const key = await generateKeyPair('Ed25519')
  const report: HealthReport = {
    v: 1,
    peerId: peerIdFromPrivateKey(key).toString(),
    region: 'eu',
    issuedAt: Date.now(),
    uptimeSeconds: 12,
    version: '0.1.0',
    roles: ['network'],
    load: [0.1, 0.2, 0.3],
    cpus: 2,
    memory: { rssBytes: 1, heapUsedBytes: 2, totalBytes: 3, freeBytes: 4 },
    diskFreeBytes: 5,
    checks: [{ name: 'disk', ok: true }]
  }
  return { report, key }
}

async function errorName (p: Promise<unknown>): Promise<string> {
  try { await p } catch (err) { return (err as Error).name }
  return 'none'
}

describe('health report', () => {
  it('round-trips a signed report', async () => {
    const { report, key } = await fixture()
    const back = await decodeSignedReport(await encodeSignedReport(report, key), 16384)
    expect(back).to.deep.equal(report)
  })

  it('rejects a report signed by someone other than its subject', async () => {
    const { report } = await fixture()
    const other = await generateKeyPair('Ed25519')
    expect(await errorName(decodeSignedReport(await encodeSignedReport(report, other), 16384))).to.equal('InvalidSignatureError')
  })

  it('rejects a tampered report', async () => {
    const { report, key } = await fixture()
    const outer = decodeCbor(await encodeSignedReport(report, key), (await import('zod')).z.any()) as { v: 1, report: Uint8Array, sig: Uint8Array }
    const tampered = encodeCbor({ ...report, diskFreeBytes: 999 })
    expect(await errorName(decodeSignedReport(encodeCbor({ ...outer, report: tampered }), 16384))).to.equal('InvalidSignatureError')
  })

  it('accepts and verifies a newer report (unknown fields, tc, at the top and inside), keeping every field it was signed with (property)', async () => {
    const { report, key } = await fixture()
    const known = Object.keys(report)
    await fc.assert(fc.asyncProperty(extraFields(known), extraFields(Object.keys(report.memory)), async (top, inner) => {
      const newer = withFields({ ...report, memory: withFields(report.memory, inner) }, top)
      const data = await encodeSignedReport(newer, key)
      const back = await decodeSignedReport(data, 16384)
      expect(back.diskFreeBytes).to.equal(5)
      // Gossipsub relays `data` itself; what a node stores and serves is still what its subject signed.
      const signed = decodeCbor(data, z.object({ report: z.instanceof(Uint8Array) })).report
      expect(sameBytes(encodeCbor(back), signed)).to.equal(true)
    }), { numRuns: PROPERTY_RUNS })
  })

  it('refuses a report published by a peer other than its subject', async () => {
    const { report } = await fixture()
    expect(() => checkOrigin(report, 'someone-else')).to.throw().with.property('name', 'MalformedMessageError')
  })

  it('throws only named errors on random and mutated bytes', async () => {
    const { report, key } = await fixture()
    const valid = await encodeSignedReport(report, key)
    const rand = prng(7)
    for (let i = 0; i < 3000; i++) {
      const input = i % 2 === 0 ? randomBytes(rand, 300) : mutate(rand, valid)
      const name = await errorName(decodeSignedReport(input, 16384))
      // A mutation may hit only ignored bytes in rare cases; anything thrown must be named.
      if (name !== 'none') expect(WIRE_ERRORS).to.include(name)
    }
  })
})
