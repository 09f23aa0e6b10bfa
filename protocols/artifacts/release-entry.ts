/**
 * How a release travels to every node: one entry in the built-in
 * replicated-config namespace `mycel.releases` per signed manifest.
 *
 *   key    `<name>@<version>#<d>`, d = the first 16 hex characters of the
 *          sha256 of the signed manifest's bytes
 *   value  `{ signed: <the signed manifest's bytes, base64> }`
 *
 * The digest in the key gives every distinct signed manifest its own key:
 * two contents for one version, published at once on two nodes, both
 * replicate instead of one overwriting the other differently on different
 * nodes (last writer wins is per key), so every node sees the same set and
 * reaches the same verdict on it (release-view.ts). The same bytes written
 * twice are one key.
 *
 * The rule (`checkReleaseEntry`) is built into the release (crdt/namespaces.ts
 * BuiltinNamespaces): the writer runs it before signing the envelope and
 * every receiver before showing the value, so no node holds an entry whose
 * bytes are not a manifest signed by the publisher it names, under the key
 * those bytes give. Trust is not part of it: who is trusted changes (a BFT
 * commit), and a rule's verdict on a stored value must not; trust is
 * checked where a manifest is used (service.ts).
 */
import { createHash } from 'node:crypto'
import { z } from 'zod'
import { MAX_SIGNED_MANIFEST_BYTES } from './constants.js'
import { InvalidManifestError } from './errors.js'
import { releaseKey } from './manifest-store.js'
import { verifyManifestSignature, type SignedManifest } from './signed-manifest.js'

/** The built-in replicated-config namespace of releases. */
export const RELEASES_NAMESPACE = 'mycel.releases'

/**
 * Hex characters of the signed manifest's sha256 in an entry key: 64 bits,
 * enough that two different manifests of one version never share a key by
 * chance, short enough that the key (name ≤ 64, version ≤ 128) stays under
 * the config key limit (256 bytes).
 */
export const ENTRY_DIGEST_HEX = 16

/** Longest `signed` string: base64 of the largest signed manifest and its envelope. */
const MAX_SIGNED_BASE64 = Math.ceil((MAX_SIGNED_MANIFEST_BYTES + 256) / 3) * 4

/** An entry's value. Fields a newer release adds are ignored (docs/wire.md rule 1). */
export interface ReleaseEntryValue {
  /** The signed manifest's bytes as signed, base64. */
  signed: string
}

const valueSchema = z.object({ signed: z.string().max(MAX_SIGNED_BASE64) })

/** A decoded, signature-checked entry. */
export interface ReleaseEntry {
  key: string
  manifest: SignedManifest
  /** The signed manifest's bytes. */
  signed: Uint8Array
}

/** The key of the entry holding `signed`, the bytes of `manifest`. */
export function releaseEntryKey (manifest: Pick<SignedManifest, 'name' | 'version'>, signed: Uint8Array): string {
  const d = createHash('sha256').update(signed).digest('hex').slice(0, ENTRY_DIGEST_HEX)
  return `${releaseKey(manifest.name, manifest.version)}#${d}`
}

/** The entry a publish writes for `signed` (already verified: its manifest is `manifest`). */
export function releaseEntry (manifest: Pick<SignedManifest, 'name' | 'version'>, signed: Uint8Array): { key: string, value: ReleaseEntryValue } {
  return { key: releaseEntryKey(manifest, signed), value: { signed: Buffer.from(signed).toString('base64') } }
}

/**
 * Decode an entry from replicated config and check it: a value of the
 * shape above whose bytes (canonical base64: one string per content) are a
 * signed manifest (the schema, as verifyManifest decodes it) with a good
 * signature of the publisher it names, under the key those bytes give.
 * Throws InvalidManifestError or ManifestSignatureError; synchronous.
 */
export function decodeReleaseEntry (key: string, value: unknown): ReleaseEntry {
  const parsed = valueSchema.safeParse(value)
  if (!parsed.success) throw new InvalidManifestError('a release entry is {"signed": "<signed manifest, base64>"}')
  const signed = Buffer.from(parsed.data.signed, 'base64')
  if (signed.toString('base64') !== parsed.data.signed) throw new InvalidManifestError('signed: not canonical base64')
  const manifest = verifyManifestSignature(signed)
  const expected = releaseEntryKey(manifest, signed)
  if (key !== expected) throw new InvalidManifestError(`holds ${manifest.name}@${manifest.version} with digest ${expected.slice(expected.indexOf('#') + 1)}, not what key ${JSON.stringify(key.slice(0, 200))} names`)
  return { key, manifest, signed: new Uint8Array(signed) }
}

/** The built-in rule of RELEASES_NAMESPACE (crdt/namespaces.ts BuiltinNamespaceRule). */
export function checkReleaseEntry (key: string, value: unknown): void {
  decodeReleaseEntry(key, value)
}
