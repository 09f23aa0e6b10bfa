/**
 * The signed manifest: the manifest's fields, the archive's content address
 * (a CIDv1, raw codec, sha2-256: the same address the artifact blocks are
 * fetched by) and size, and the publisher id, signed by the publisher under
 * the domain `mycel/component-manifest/v1` (wire/signing.ts). On the wire it
 * is `{v, manifest, sig}` with `manifest` the deterministic CBOR of the body,
 * which keeps fields this release does not know (docs/wire.md rule 1): the
 * signature covers every field, and a node stores and forwards the bytes it
 * received.
 *
 * Everything a node checks before it accepts a manifest is here: the
 * schema, the publisher asked for, the trust set, the signature, the
 * archive's hash, and that a name and version already known keep their
 * content. Each refusal is a named error.
 */
import { createHash } from 'node:crypto'
import type { PrivateKey } from '@libp2p/interface'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { create as createDigest } from 'multiformats/hashes/digest'
import { sha256 } from 'multiformats/hashes/sha2'
import { z } from 'zod'
import { bytes, decodeCbor, decodeSigned, encodeCbor } from '../../wire/codec.js'
import { signPayload, verifyPayload, verifyPayloadSync } from '../../wire/signing.js'
import { firstIssue } from '../../lib/zod-issue.js'
import { traced, type Traced } from '../../wire/trace-context.js'
import { MANIFEST_SIGN_DOMAIN, MAX_SIGNED_MANIFEST_BYTES } from './constants.js'
import {
  ArchiveMismatchError, InvalidManifestError, ManifestConflictError, ManifestSignatureError, UntrustedPublisherError, WrongPublisherError
} from './errors.js'
import { manifestFileSchema, manifestWireShape, notSelfRequiring, type Manifest } from './manifest.js'

/** Where and how big the archive is. */
export interface ArchiveRef {
  /** CIDv1 string (base32), raw codec, sha2-256 of the archive bytes. */
  cid: string
  /** Archive size, bytes. */
  size: number
}

/** The signed body: a manifest, its archive, its publisher. */
export interface SignedManifest extends Manifest, Traced {
  v: 1
  archive: ArchiveRef
  /** Publisher id (libp2p peer id string of an Ed25519 key). */
  publisher: string
}

/** True for the one CID form an archive has: v1, raw, sha2-256, in its canonical base32 string. */
export function isArchiveCid (s: string): boolean {
  try {
    const cid = CID.parse(s)
    return cid.version === 1 && cid.code === raw.code && cid.multihash.code === sha256.code &&
      cid.multihash.digest.byteLength === 32 && cid.toString() === s
  } catch {
    return false
  }
}

const archiveRefSchema = z.object({
  cid: z.string().max(128).refine(isArchiveCid, { message: 'expected a CIDv1 (raw, sha2-256) in base32' }),
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)
})

export const signedManifestSchema = z.object({
  v: z.literal(1),
  ...manifestWireShape,
  archive: archiveRefSchema,
  publisher: z.string().min(1).max(128),
  ...traced
}).superRefine(notSelfRequiring) as unknown as z.ZodType<SignedManifest>

const envelopeSchema = z.object({
  v: z.literal(1),
  manifest: bytes(MAX_SIGNED_MANIFEST_BYTES),
  sig: bytes(128)
})

/** The content address of archive bytes whose sha2-256 is `digest`. */
export function archiveCid (digest: Uint8Array): string {
  return CID.create(1, raw.code, createDigest(sha256.code, digest)).toString()
}

/** Content address and size of an archive, read once from a stream (a file, a pack) or whole. */
export async function addressArchive (source: Uint8Array | AsyncIterable<Uint8Array>): Promise<ArchiveRef> {
  const hash = createHash('sha256')
  let size = 0
  const chunks = source instanceof Uint8Array ? [source] : source
  for await (const chunk of chunks) {
    hash.update(chunk)
    size += chunk.byteLength
  }
  return { cid: archiveCid(hash.digest()), size }
}

/** Sign `manifest` (already checked by the file schema) with its archive; returns the wire bytes. */
export async function signManifest (manifest: Manifest, archive: ArchiveRef, key: PrivateKey, publisher: string): Promise<Uint8Array> {
  const checked = manifestFileSchema.safeParse(manifest)
  if (!checked.success) throw new InvalidManifestError(`cannot sign: ${firstIssue(checked.error)}`)
  const body: Record<string, unknown> = { v: 1 }
  for (const [k, value] of Object.entries(manifest)) if (value !== undefined) body[k] = value
  body.archive = { cid: archive.cid, size: archive.size }
  body.publisher = publisher
  const payload = encodeCbor(body)
  // Check what a receiver checks, so a publisher finds a problem (a wrong
  // key for the id, an archive address of another form) before it announces.
  wire(() => decodeSigned(payload, signedManifestSchema, MAX_SIGNED_MANIFEST_BYTES))
  const sig = await signPayload(key, MANIFEST_SIGN_DOMAIN, payload)
  await checkSignature(publisher, payload, sig)
  return encodeCbor({ v: 1, manifest: payload, sig })
}

/** Decode a signed manifest without checking its signature (to show it, or to find its publisher). */
export function decodeSignedManifest (data: Uint8Array): { manifest: SignedManifest, payload: Uint8Array, sig: Uint8Array } {
  const outer = wire(() => decodeCbor(data, envelopeSchema, MAX_SIGNED_MANIFEST_BYTES + 256))
  const manifest = wire(() => decodeSigned(outer.manifest, signedManifestSchema, MAX_SIGNED_MANIFEST_BYTES))
  return { manifest, payload: outer.manifest, sig: outer.sig }
}

export interface VerifyOptions {
  /** Publisher ids whose manifests this node accepts (critical config `publishers`, or the agent config's). */
  trusted: ReadonlySet<string>
  /** The publisher the caller expects (e.g. the one a deployment names); any other is refused. */
  publisher?: string
}

/**
 * Decode and verify a signed manifest from untrusted bytes. Throws
 * InvalidManifestError (not a manifest), WrongPublisherError,
 * UntrustedPublisherError or ManifestSignatureError; returns the body with
 * every field it was signed with.
 */
export async function verifyManifest (data: Uint8Array, opts: VerifyOptions): Promise<SignedManifest> {
  const { manifest, payload, sig } = decodeSignedManifest(data)
  if (opts.publisher !== undefined && manifest.publisher !== opts.publisher) {
    throw new WrongPublisherError(`${manifest.name}@${manifest.version} is published by ${manifest.publisher}, expected ${opts.publisher}`)
  }
  if (!opts.trusted.has(manifest.publisher)) {
    throw new UntrustedPublisherError(`${manifest.name}@${manifest.version}: publisher ${manifest.publisher} is not trusted`)
  }
  await checkSignature(manifest.publisher, payload, sig)
  return manifest
}

/**
 * Decode a signed manifest and check its signature, synchronously and
 * without asking about trust: what a rule replicated config runs on every
 * value may check (release-entry.ts). Trust changes over time, so it is
 * checked where a manifest is used. Throws InvalidManifestError or
 * ManifestSignatureError.
 */
export function verifyManifestSignature (data: Uint8Array): SignedManifest {
  const { manifest, payload, sig } = decodeSignedManifest(data)
  try {
    verifyPayloadSync(manifest.publisher, MANIFEST_SIGN_DOMAIN, payload, sig)
  } catch (err) {
    throw new ManifestSignatureError(`manifest signature: ${(err as Error).message}`)
  }
  return manifest
}

/** Throws ArchiveMismatchError unless `actual` (addressArchive of the bytes held) is what the manifest names. */
export function checkArchive (manifest: SignedManifest, actual: ArchiveRef): void {
  if (actual.cid !== manifest.archive.cid || actual.size !== manifest.archive.size) {
    throw new ArchiveMismatchError(`${manifest.name}@${manifest.version}: archive is ${actual.cid} (${actual.size} bytes), ` +
      `the manifest names ${manifest.archive.cid} (${manifest.archive.size} bytes)`)
  }
}

/**
 * A version is immutable: once a name and version are known, a manifest
 * for them with other content is refused (ManifestConflictError), whoever
 * signed it. Content is every signed field but the publisher and the trace
 * context: the same release signed again, or by a second trusted publisher,
 * is the same release. Returns 'known' for the same content, 'new' for a
 * name and version not seen yet. Pure: `lookup` answers from whatever store
 * the caller keeps.
 */
export function checkVersionConflict (candidate: SignedManifest, lookup: (name: string, version: string) => SignedManifest | undefined): 'new' | 'known' {
  const known = lookup(candidate.name, candidate.version)
  if (known === undefined) return 'new'
  if (Buffer.from(contentBytes(known)).equals(contentBytes(candidate))) return 'known'
  throw new ManifestConflictError(`${candidate.name}@${candidate.version} exists already with other content ` +
    `(archive ${known.archive.cid}); publish a new version instead`)
}

/**
 * The content of a release as checkVersionConflict compares it, as a short
 * string (hex sha256 of every signed field but the publisher and the trace
 * context): equal for the same release however often and by whom it was
 * signed, different for anything else.
 */
export function manifestContent (m: SignedManifest): string {
  return createHash('sha256').update(contentBytes(m)).digest('hex')
}

function contentBytes (m: SignedManifest): Uint8Array {
  const { publisher: _publisher, tc: _tc, ...content } = m
  return encodeCbor(content)
}

async function checkSignature (publisher: string, payload: Uint8Array, sig: Uint8Array): Promise<void> {
  try {
    await verifyPayload(publisher, MANIFEST_SIGN_DOMAIN, payload, sig)
  } catch (err) {
    throw new ManifestSignatureError(`manifest signature: ${(err as Error).message}`)
  }
}

/** Run a wire decoder, turning its named errors into InvalidManifestError (a status a front end can report). */
function wire<T> (decode: () => T): T {
  try {
    return decode()
  } catch (err) {
    throw new InvalidManifestError(`not a valid signed manifest: ${(err as Error).name}: ${(err as Error).message}`, { cause: err })
  }
}
