/** Signed manifests: publisher keys, signing, verification against a trust set, archive addresses, immutable versions. */
import { expect } from 'chai'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { z } from 'zod'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { CID } from 'multiformats/cid'
import { generatePublisherKey, loadPublisherKey, publisherIdOf } from '../../../protocols/artifacts/publisher-key.js'
import {
  addressArchive, archiveCid, checkArchive, checkVersionConflict, decodeSignedManifest, signManifest, verifyManifest, type SignedManifest
} from '../../../protocols/artifacts/signed-manifest.js'
import { manifestFileSchema, type Manifest } from '../../../protocols/artifacts/manifest.js'
import { decodeCbor, encodeCbor } from '../../../wire/codec.js'
import { signPayload } from '../../../wire/signing.js'
import { extraFields, PROPERTY_RUNS, sameBytes, withFields } from '../../helpers/wire-evolution.js'

const MANIFEST: Manifest = {
  name: 'web-probe',
  version: '1.2.0',
  entry: ['/bin/sh', 'run.sh'],
  env: { LOG_LEVEL: 'info' },
  health: { exec: ['/bin/sh', 'check.sh'], interval: '2s', timeout: '1s', failureThreshold: 3 },
  requires: { mycel: '>=0.2.0' }
}

const ARCHIVE = Buffer.from('pretend this is a tar')

async function errorName (p: Promise<unknown>): Promise<string> {
  try { await p } catch (err) { return (err as Error).name }
  return 'none'
}

const envelope = z.object({ v: z.literal(1), manifest: z.instanceof(Uint8Array), sig: z.instanceof(Uint8Array) })

describe('signed component manifest', () => {
  let key: PrivateKey
  let publisher: string
  before(async () => {
    key = await generateKeyPair('Ed25519')
    publisher = publisherIdOf(key)
  })

  it('the archive address is a CIDv1 raw sha2-256 of the bytes', async () => {
    const ref = await addressArchive(ARCHIVE)
    const cid = CID.parse(ref.cid)
    expect([cid.version, cid.code, cid.multihash.code]).to.deep.equal([1, 0x55, 0x12])
    expect(Buffer.from(cid.multihash.digest).equals(createHash('sha256').update(ARCHIVE).digest())).to.equal(true)
    expect(ref.size).to.equal(ARCHIVE.byteLength)
    async function * chunks (): AsyncIterable<Uint8Array> { yield ARCHIVE.subarray(0, 5); yield ARCHIVE.subarray(5) }
    expect(await addressArchive(chunks())).to.deep.equal(ref)
  })

  it('signs and verifies; the verified body carries the archive and publisher', async () => {
    const archive = await addressArchive(ARCHIVE)
    const signed = await signManifest(MANIFEST, archive, key, publisher)
    const back = await verifyManifest(signed, { trusted: new Set([publisher]) })
    expect(back).to.deep.equal({ v: 1, ...MANIFEST, archive, publisher })
    checkArchive(back, await addressArchive(ARCHIVE))
  })

  it('refuses an untrusted publisher, a wrong publisher, a bad signature, a forged publisher id', async () => {
    const archive = await addressArchive(ARCHIVE)
    const signed = await signManifest(MANIFEST, archive, key, publisher)
    const other = await generateKeyPair('Ed25519')
    const otherId = publisherIdOf(other)
    expect(await errorName(verifyManifest(signed, { trusted: new Set([otherId]) }))).to.equal('UntrustedPublisherError')
    expect(await errorName(verifyManifest(signed, { trusted: new Set([publisher, otherId]), publisher: otherId }))).to.equal('WrongPublisherError')
    // A tampered body: the signature no longer covers it.
    const outer = decodeCbor(signed, envelope)
    const tampered = encodeCbor({ v: 1, ...MANIFEST, entry: ['/bin/sh', 'evil.sh'], archive, publisher })
    expect(await errorName(verifyManifest(encodeCbor({ ...outer, manifest: tampered }), { trusted: new Set([publisher]) }))).to.equal('ManifestSignatureError')
    // Someone else's key signing a body that names a trusted publisher.
    const forgedBody = encodeCbor({ v: 1, ...MANIFEST, archive, publisher })
    const forgedSig = await signPayload(other, 'component-manifest', forgedBody)
    expect(await errorName(verifyManifest(encodeCbor({ v: 1, manifest: forgedBody, sig: forgedSig }), { trusted: new Set([publisher]) }))).to.equal('ManifestSignatureError')
    // The right key, another signing domain (a health report's signature replayed).
    const replayed = await signPayload(key, 'health-report', forgedBody)
    expect(await errorName(verifyManifest(encodeCbor({ v: 1, manifest: forgedBody, sig: replayed }), { trusted: new Set([publisher]) }))).to.equal('ManifestSignatureError')
    // A publisher id that carries no key.
    expect(await errorName(signManifest(MANIFEST, archive, key, 'not-a-peer-id'))).to.equal('ManifestSignatureError')
  })

  it('refuses bytes that are not a signed manifest, and a body failing the schema (InvalidManifestError)', async () => {
    const archive = await addressArchive(ARCHIVE)
    const trusted = { trusted: new Set([publisher]) }
    expect(await errorName(verifyManifest(Buffer.from('garbage'), trusted))).to.equal('InvalidManifestError')
    const badName = encodeCbor({ v: 1, ...MANIFEST, name: '../etc', archive, publisher })
    const sig = await signPayload(key, 'component-manifest', badName)
    expect(await errorName(verifyManifest(encodeCbor({ v: 1, manifest: badName, sig }), trusted))).to.equal('InvalidManifestError')
    const badCid = encodeCbor({ v: 1, ...MANIFEST, archive: { cid: 'bafyfoo', size: 3 }, publisher })
    expect(await errorName(verifyManifest(encodeCbor({ v: 1, manifest: badCid, sig: await signPayload(key, 'component-manifest', badCid) }), trusted))).to.equal('InvalidManifestError')
    expect(await errorName(signManifest({ ...MANIFEST, name: 'Bad' }, archive, key, publisher))).to.equal('InvalidManifestError')
  })

  it('refuses archive bytes other than the ones signed', async () => {
    const signed = await verifyManifest(await signManifest(MANIFEST, await addressArchive(ARCHIVE), key, publisher), { trusted: new Set([publisher]) })
    expect(() => checkArchive(signed, { cid: archiveCid(createHash('sha256').update('other').digest()), size: ARCHIVE.byteLength }))
      .to.throw().with.property('name', 'ArchiveMismatchError')
    expect(() => checkArchive(signed, { cid: signed.archive.cid, size: ARCHIVE.byteLength + 1 })).to.throw().with.property('name', 'ArchiveMismatchError')
  })

  it('a name and version keep their content: same content is known, other content a conflict (whoever signs)', async () => {
    const archive = await addressArchive(ARCHIVE)
    const trusted = new Set([publisher])
    const first = await verifyManifest(await signManifest(MANIFEST, archive, key, publisher), { trusted })
    const store = new Map<string, SignedManifest>([[`${first.name}@${first.version}`, first]])
    const lookup = (name: string, version: string): SignedManifest | undefined => store.get(`${name}@${version}`)
    const other = await generateKeyPair('Ed25519')
    const byOther = await verifyManifest(await signManifest(MANIFEST, archive, other, publisherIdOf(other)), { trusted: new Set([publisherIdOf(other)]) })
    expect(checkVersionConflict(first, lookup)).to.equal('known')
    expect(checkVersionConflict(byOther, lookup)).to.equal('known')
    expect(checkVersionConflict({ ...first, version: '1.2.1' }, lookup)).to.equal('new')
    const otherArchive = await addressArchive(Buffer.from('another tar'))
    expect(() => checkVersionConflict({ ...first, archive: otherArchive }, lookup)).to.throw().with.property('name', 'ManifestConflictError')
    expect(() => checkVersionConflict({ ...first, entry: ['/bin/sh', 'other.sh'] }, lookup)).to.throw().with.property('name', 'ManifestConflictError')
    expect(() => checkVersionConflict(withFields(first, [['newField', 1]]), lookup)).to.throw().with.property('name', 'ManifestConflictError')
  })

  it('a newer publisher\'s fields are kept and signed, and the bytes pass on unchanged (docs/wire.md rule 1, property)', async () => {
    const archive = await addressArchive(ARCHIVE)
    const known = [...Object.keys(MANIFEST), 'v', 'archive', 'publisher']
    await fc.assert(fc.asyncProperty(extraFields(known), async fields => {
      const body = withFields({ v: 1, ...MANIFEST, archive, publisher }, fields)
      const payload = encodeCbor(body)
      const wire = encodeCbor({ v: 1, manifest: payload, sig: await signPayload(key, 'component-manifest', payload) })
      const back = await verifyManifest(wire, { trusted: new Set([publisher]) })
      expect(sameBytes(encodeCbor(back), payload)).to.equal(true)
      expect(sameBytes(decodeSignedManifest(wire).payload, payload)).to.equal(true)
    }), { numRuns: Math.min(PROPERTY_RUNS, 100) })
  })

  it('any valid manifest round-trips: sign, encode, decode, verify (property)', async () => {
    const name = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,20}[a-z0-9])?$/)
    const version = fc.tuple(fc.nat(99), fc.nat(99), fc.nat(99), fc.option(fc.stringMatching(/^[a-z]{1,5}\.(0|[1-9][0-9]{0,2})$/), { nil: undefined }))
      .map(([a, b, c, pre]) => `${a}.${b}.${c}${pre === undefined ? '' : `-${pre}`}`)
    const arg = fc.string({ minLength: 1, maxLength: 20 }).filter(s => !s.includes('\0') && !s.split('/').includes('..'))
    const seconds = fc.integer({ min: 1, max: 60 })
    const health = fc.oneof(
      fc.record({ exec: fc.array(arg, { minLength: 1, maxLength: 4 }) }),
      fc.record({ http: fc.constantFrom('http://127.0.0.1:8080/healthz', 'https://localhost/') }),
      fc.record({ tcp: fc.constantFrom('127.0.0.1:80', 'localhost:65535', '[::1]:9000') })
    ).chain(probe => fc.record({ interval: seconds, failureThreshold: fc.integer({ min: 1, max: 100 }) }, { requiredKeys: [] })
      .chain(t => fc.integer({ min: 1, max: t.interval ?? 10 }).map(timeout => ({
        ...probe,
        ...(t.interval === undefined ? {} : { interval: `${t.interval}s`, timeout: `${timeout}s` }),
        ...(t.failureThreshold === undefined ? {} : { failureThreshold: t.failureThreshold })
      }))))
    const manifest = fc.record({
      name,
      version,
      entry: fc.array(arg, { minLength: 1, maxLength: 5 }),
      env: fc.dictionary(fc.stringMatching(/^[A-Z][A-Z0-9_]{0,10}$/).filter(k => !k.startsWith('MYCEL_')), fc.string({ maxLength: 30 }).filter(s => !s.includes('\0')), { maxKeys: 5 }),
      health,
      requires: fc.dictionary(fc.constantFrom('mycel', 'db', 'cache-2'), fc.constantFrom('>=0.2.0', '^1.0.0', '~2.3', '*', '1.x || >=3.0.0 <4'), { maxKeys: 3 })
    }, { requiredKeys: ['name', 'version', 'entry'] }).filter(m => m.requires === undefined || !Object.hasOwn(m.requires, m.name))
    const archive = fc.uint8Array({ maxLength: 256 })
    await fc.assert(fc.asyncProperty(manifest, archive, async (m, bytes) => {
      expect(manifestFileSchema.safeParse(m).success, JSON.stringify(m)).to.equal(true)
      const ref = await addressArchive(bytes)
      const wire = await signManifest(m, ref, key, publisher)
      const back = await verifyManifest(wire, { trusted: new Set([publisher]), publisher })
      expect(back).to.deep.equal({ v: 1, ...m, archive: ref, publisher })
      checkArchive(back, await addressArchive(bytes))
    }), { numRuns: Math.min(PROPERTY_RUNS, 100) })
  })
})

describe('publisher key file', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'mycel-publisher-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('keygen writes a 0600 key whose id loads back; refuses to replace it without force', async () => {
    const path = join(dir, 'keys', 'publisher.key')
    const made = await generatePublisherKey(path)
    expect((await stat(path)).mode & 0o777).to.equal(0o600)
    expect((await loadPublisherKey(path)).publisherId).to.equal(made.publisherId)
    expect(made.publisherId).to.match(/^12D3KooW/)
    expect(await errorName(generatePublisherKey(path))).to.equal('PublisherKeyExistsError')
    const again = await generatePublisherKey(path, { force: true })
    expect(again.publisherId).to.not.equal(made.publisherId)
  })

  it('a missing key is PublisherKeyNotFoundError, a damaged one CorruptFileError', async () => {
    const path = join(dir, 'publisher.key')
    expect(await errorName(loadPublisherKey(path))).to.equal('PublisherKeyNotFoundError')
    await generatePublisherKey(path)
    const bytes = await readFile(path)
    bytes[bytes.length - 1] ^= 0x01
    await writeFile(path, bytes)
    expect(await errorName(loadPublisherKey(path))).to.equal('CorruptFileError')
  })
})
