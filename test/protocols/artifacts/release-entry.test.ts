/**
 * The built-in namespace `mycel.releases` (release-entry.ts): the rule
 * accepts exactly the entries publish writes; no mutated byte of a signed
 * manifest makes it accept anything else; a key that does not name the
 * bytes is refused; through real replicas, the writer refuses a bad entry
 * with 422 and a receiver fed one from a node without the rule does not
 * show it and counts it. And the verdict on a version (release-view.ts) is
 * the same whatever order its manifests arrive in. MYCEL_PROPERTY_RUNS=n
 * runs n cases per property.
 */
import { expect } from 'chai'
import fc from 'fast-check'
import { z } from 'zod'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { publisherIdOf } from '../../../protocols/artifacts/publisher-key.js'
import { archiveCid, decodeSignedManifest, manifestContent, signManifest, type SignedManifest } from '../../../protocols/artifacts/signed-manifest.js'
import type { Manifest } from '../../../protocols/artifacts/manifest.js'
import { checkReleaseEntry, decodeReleaseEntry, RELEASES_NAMESPACE as NS, releaseEntry, releaseEntryKey, type ReleaseEntry } from '../../../protocols/artifacts/release-entry.js'
import { releaseVerdict } from '../../../protocols/artifacts/release-view.js'
import { decodeCbor, encodeCbor } from '../../../wire/codec.js'
import { makeReplica } from '../../crdt/fixtures.js'
import { PROPERTY_RUNS } from '../../helpers/wire-evolution.js'

const BUILTINS = { [NS]: checkReleaseEntry }
const envelope = z.object({ v: z.literal(1), manifest: z.instanceof(Uint8Array), sig: z.instanceof(Uint8Array) })

const name = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/)
const version = fc.tuple(fc.nat(99), fc.nat(99), fc.nat(99), fc.constantFrom('', '-rc.1', '-beta.2')).map(([a, b, c, t]) => `${a}.${b}.${c}${t}`)
const manifest: fc.Arbitrary<Manifest> = fc.record({
  name,
  version,
  entry: fc.array(fc.stringMatching(/^[a-zA-Z0-9./_-]{1,20}$/).filter(s => !s.split('/').includes('..')), { minLength: 1, maxLength: 4 }),
  env: fc.dictionary(fc.stringMatching(/^[A-Z][A-Z0-9_]{0,10}$/).filter(k => !k.startsWith('MYCEL_')), fc.string({ maxLength: 30 }).filter(s => !s.includes('\0')), { maxKeys: 4 })
}, { requiredKeys: ['name', 'version', 'entry'] })
const archive = fc.record({ digest: fc.uint8Array({ minLength: 32, maxLength: 32 }), size: fc.nat(1 << 30) }).map(a => ({ cid: archiveCid(a.digest), size: a.size }))

function refusal (f: () => void): string {
  try { f(); return 'none' } catch (err) { return (err as Error).name }
}

describe('mycel.releases: the built-in rule', function () {
  this.timeout(60_000)
  let key: PrivateKey
  let publisher: string

  before(async () => {
    key = await generateKeyPair('Ed25519')
    publisher = publisherIdOf(key)
  })

  it('accepts exactly what publish writes, and gives back the signed manifest (fast-check)', async () => {
    await fc.assert(fc.asyncProperty(manifest, archive, async (m, a) => {
      const signed = await signManifest(m, a, key, publisher)
      const { key: k, value } = releaseEntry(decodeSignedManifest(signed).manifest, signed)
      expect(k).to.match(new RegExp(`^${m.name}@${m.version.replace(/[.+]/g, '\\$&')}#[0-9a-f]{16}$`))
      checkReleaseEntry(k, JSON.parse(JSON.stringify(value)))
      const back = decodeReleaseEntry(k, value)
      expect(Buffer.from(back.signed).equals(signed)).to.equal(true)
      expect(back.manifest).to.deep.equal(decodeSignedManifest(signed).manifest)
    }), { numRuns: Math.max(1, Math.floor(PROPERTY_RUNS / 2)) })
  })

  it('no mutated byte of the signed manifest is accepted as anything but the release it was (fast-check)', async () => {
    const m: Manifest = { name: 'web-probe', version: '1.2.0', entry: ['./run'], env: { A: 'b' } }
    const signed = await signManifest(m, { cid: archiveCid(new Uint8Array(32).fill(7)), size: 1234 }, key, publisher)
    const original = decodeSignedManifest(signed).manifest
    let accepted = 0
    await fc.assert(fc.property(fc.nat(signed.byteLength - 1), fc.integer({ min: 1, max: 255 }), (at, flip) => {
      const bytes = Uint8Array.from(signed)
      bytes[at] ^= flip
      // The key as a writer would compute it honestly for the mutated bytes (else the digest alone refuses it).
      let k: string
      try { k = releaseEntryKey(decodeSignedManifest(bytes).manifest, bytes) } catch { k = releaseEntryKey(original, bytes) }
      const value = { signed: Buffer.from(bytes).toString('base64') }
      const outcome = refusal(() => { checkReleaseEntry(k, value) })
      if (outcome === 'none') {
        accepted++
        const back = decodeReleaseEntry(k, value).manifest
        expect(manifestContent(back)).to.equal(manifestContent(original))
        expect(back.publisher).to.equal(original.publisher)
      } else {
        expect(outcome).to.be.oneOf(['InvalidManifestError', 'ManifestSignatureError'])
      }
    }), { numRuns: PROPERTY_RUNS * 5 })
    // Deterministic CBOR: no byte can change without changing what is signed or breaking the decode.
    expect(accepted).to.equal(0)
  })

  it('refuses a key that does not name the bytes, a forged signature, non-canonical base64 and other shapes', async () => {
    const signed = await signManifest({ name: 'web', version: '1.0.0', entry: ['./run'] }, { cid: archiveCid(new Uint8Array(32)), size: 1 }, key, publisher)
    const m = decodeSignedManifest(signed).manifest
    const { key: k, value } = releaseEntry(m, signed)
    const d = k.slice(k.indexOf('#'))
    for (const wrong of [`web@1.0.1${d}`, `api@1.0.0${d}`, 'web@1.0.0', `web@1.0.0#${'0'.repeat(16)}`, `${k}0`]) {
      expect(refusal(() => { checkReleaseEntry(wrong, value) }), wrong).to.equal('InvalidManifestError')
    }
    // Signed by another key than the publisher it names.
    const other = await generateKeyPair('Ed25519')
    const forged = await signManifest({ name: 'web', version: '1.0.0', entry: ['./run'] }, { cid: archiveCid(new Uint8Array(32)), size: 1 }, other, publisherIdOf(other))
    const outer = decodeCbor(forged, envelope)
    const swapped = encodeCbor({ ...outer, sig: decodeCbor(signed, envelope).sig })
    const e = releaseEntry(decodeSignedManifest(swapped).manifest, swapped)
    expect(refusal(() => { checkReleaseEntry(e.key, e.value) })).to.equal('ManifestSignatureError')
    expect(refusal(() => { checkReleaseEntry(k, { signed: value.signed.replace(/=*$/, '') + (value.signed.endsWith('=') ? '' : '=') }) })).to.equal('InvalidManifestError')
    expect(refusal(() => { checkReleaseEntry(k, { signed: ` ${value.signed}` }) })).to.equal('InvalidManifestError')
    for (const bad of [null, 'x', [], {}, { signed: 3 }, { signed: 'AAAA' }]) expect(refusal(() => { checkReleaseEntry(k, bad) })).to.equal('InvalidManifestError')
    // Fields a newer release adds to the value are ignored.
    checkReleaseEntry(k, { ...value, note: 'newer' })
  })

  it('through replicas: the writer refuses a bad entry with 422; a receiver does not show one written without the rule, and counts it', async () => {
    const ruled = await makeReplica(1, { builtins: BUILTINS })
    const unruled = await makeReplica(2)
    const receiver = await makeReplica(3, { builtins: BUILTINS })
    const signed = await signManifest({ name: 'web', version: '1.0.0', entry: ['./run'] }, { cid: archiveCid(new Uint8Array(32)), size: 1 }, key, publisher)
    const { key: k, value } = releaseEntry(decodeSignedManifest(signed).manifest, signed)
    const good = await ruled.replica.write(NS, k, value)
    expect((await receiver.replica.ingest(good!.bytes, 'gossip')).result).to.equal('applied')
    expect(receiver.replica.get(NS, k)?.value).to.deep.equal(value)

    const other = `web@2.0.0${k.slice(k.indexOf('#'))}`
    let status: number | undefined
    await ruled.replica.write(NS, other, value).catch((err: Error & { status?: number }) => {
      expect(err.name).to.equal('SchemaViolationError')
      expect(err.message).to.match(/built-in rule of mycel\.releases.*web@1\.0\.0/)
      status = err.status
    })
    expect(status).to.equal(422)
    expect(ruled.replica.get(NS, other)).to.equal(undefined)

    const bad = await unruled.replica.write(NS, other, value)
    await receiver.replica.ingest(bad!.bytes, 'sync')
    expect(receiver.counters.invalid).to.equal(1)
    expect(receiver.replica.get(NS, other)).to.equal(undefined)
  })
})

describe('release verdict', () => {
  const PUBLISHERS = ['p-a', 'p-b', 'p-c']
  /** Candidates without signatures: the verdict reads keys, publishers and content only. */
  const candidate = fc.record({
    content: fc.nat(2),
    publisher: fc.constantFrom(...PUBLISHERS),
    tc: fc.option(fc.constant(new Uint8Array([1])), { nil: undefined }),
    key: fc.stringMatching(/^[0-9a-f]{16}$/)
  }).map(({ content, publisher, tc, key }): ReleaseEntry => {
    const manifest = { v: 1, name: 'web', version: '1.0.0', entry: [`./run-${content}`], archive: { cid: archiveCid(new Uint8Array(32).fill(content)), size: content }, publisher, ...(tc !== undefined ? { tc } : {}) } as unknown as SignedManifest
    return { key: `web@1.0.0#${key}`, manifest, signed: new Uint8Array() }
  })

  it('is the same whatever order the manifests arrive in, and follows the rule (fast-check)', () => {
    fc.assert(fc.property(
      fc.uniqueArray(candidate, { selector: c => c.key, maxLength: 8 }), fc.subarray(PUBLISHERS), fc.infiniteStream(fc.nat()),
      (candidates, trusted, seeds) => {
        const trusts = (p: string): boolean => trusted.includes(p)
        const shuffled = [...candidates]
        for (let i = shuffled.length - 1; i > 0; i--) {
          const j = (seeds.next().value as number) % (i + 1)
          ;[shuffled[i], shuffled[j]] = [shuffled[j] as ReleaseEntry, shuffled[i] as ReleaseEntry]
        }
        const a = releaseVerdict(candidates, trusts)
        expect(releaseVerdict(shuffled, trusts)).to.deep.equal(a)
        const ok = candidates.filter(c => trusts(c.manifest.publisher))
        const contents = new Set(ok.map(c => manifestContent(c.manifest)))
        if (contents.size > 1) expect(a.kind).to.equal('conflict')
        else if (ok.length > 0) expect(a).to.deep.equal({ kind: 'ok', release: [...ok].sort((x, y) => x.key < y.key ? -1 : 1)[0] })
        else expect(a.kind).to.equal(candidates.length > 0 ? 'untrusted' : 'unknown')
      }), { numRuns: PROPERTY_RUNS })
  })
})
