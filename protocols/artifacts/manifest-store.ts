/**
 * The manifests this node knows, on disk: `<dataDir>/artifacts/manifests/`,
 * one sealed file (lib/sealed-file.ts: header, length, crc32) per name and
 * version, named `<name>@<version>.manifest`, holding the signed manifest bytes as
 * they arrived (a node stores and forwards what was signed: docs/wire.md
 * rule 1) and when this node accepted them.
 *
 * A file is written durably (temp file, fsync, rename, directory fsync)
 * before `put` resolves, so an acknowledged publish survives a crash. Every
 * file is read back at open: one that fails its checksum, does not decode,
 * or names another release than its file name is damage, and open throws
 * CorruptFileError (fail-stop: the artifacts component stops and /readyz
 * names the file) instead of forgetting a release that was acknowledged.
 * A temp file left by a crash mid-write is not a manifest and is removed.
 */
import { readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { z } from 'zod'
import { CorruptFileError, storageFailed } from '../../lib/errors.js'
import type { FileFormat } from '../../lib/file-format.js'
import { readSealed, writeSealed } from '../../lib/sealed-file.js'
import { bytes, decodeCbor, encodeCbor } from '../../wire/codec.js'
import { MAX_SIGNED_MANIFEST_BYTES } from './constants.js'
import { decodeSignedManifest, type SignedManifest } from './signed-manifest.js'

export const MANIFEST_FILE_FORMAT: FileFormat = {
  magic: 'MYCELCM1',
  name: 'component manifest',
  recovery: 'remove the damaged file and publish that component version again (mycel component publish)'
}

/**
 * Suffix of a manifest file. A version may hold `.tmp-` (semver allows
 * `1.0.0-x.tmp-1`), so the suffix, not that mark, tells a manifest from
 * writeFileDurable's temp file (`<path>.tmp-<pid>`).
 */
const SUFFIX = '.manifest'
const TEMP_FILE = /\.manifest\.tmp-\d+$/

const recordSchema = z.object({
  v: z.literal(1),
  signed: bytes(MAX_SIGNED_MANIFEST_BYTES + 256),
  publishedAt: z.number().int().nonnegative()
})

/** A manifest as this node holds it. */
export interface StoredManifest {
  manifest: SignedManifest
  /** The signed manifest's wire bytes, as received. */
  signed: Uint8Array
  /** When this node accepted it, ms since the epoch. */
  publishedAt: number
}

/** `<name>@<version>`: both are restricted by the manifest schema to characters safe in a file name. */
export function releaseKey (name: string, version: string): string {
  return `${name}@${version}`
}

export class ManifestStore {
  readonly dir: string
  private readonly byKey = new Map<string, StoredManifest>()

  constructor (dataDir: string) {
    this.dir = join(dataDir, 'artifacts', 'manifests')
  }

  /** Read every manifest file; throws CorruptFileError on a damaged one, StorageFailedError when the directory cannot be read. */
  async open (): Promise<void> {
    this.byKey.clear()
    let names: string[]
    try {
      names = await readdir(this.dir)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
      throw storageFailed(this.dir, 'listing manifests', err)
    }
    for (const name of names.sort()) {
      const path = join(this.dir, name)
      if (TEMP_FILE.test(name)) {
        await rm(path, { force: true })
        continue
      }
      if (!name.endsWith(SUFFIX)) throw new CorruptFileError(path, 'not a component manifest file (an unknown file in the manifest store)', `move ${name} out of ${this.dir}, then restart the agent`)
      const sealed = await readSealed(MANIFEST_FILE_FORMAT, path)
      if (sealed === undefined) continue
      const stored = this.decode(path, sealed.payload)
      if (releaseKey(stored.manifest.name, stored.manifest.version) + SUFFIX !== name) {
        throw new CorruptFileError(path, `holds ${releaseKey(stored.manifest.name, stored.manifest.version)}, not the release its name says`, MANIFEST_FILE_FORMAT.recovery)
      }
      this.byKey.set(name.slice(0, -SUFFIX.length), stored)
    }
  }

  get (name: string, version: string): StoredManifest | undefined {
    return this.byKey.get(releaseKey(name, version))
  }

  /** Every manifest, by name then version as the file names sort. */
  list (): StoredManifest[] {
    return [...this.byKey.entries()].sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0).map(([, s]) => s)
  }

  /** Write the manifest durably, then remember it. Throws StorageFailedError (fail-stop) when it cannot be persisted. */
  async put (stored: StoredManifest): Promise<void> {
    const key = releaseKey(stored.manifest.name, stored.manifest.version)
    const payload = encodeCbor({ v: 1, signed: stored.signed, publishedAt: stored.publishedAt })
    await writeSealed(MANIFEST_FILE_FORMAT, join(this.dir, key + SUFFIX), payload)
    this.byKey.set(key, stored)
  }

  private decode (path: string, payload: Uint8Array): StoredManifest {
    try {
      const record = decodeCbor(payload, recordSchema, MAX_SIGNED_MANIFEST_BYTES + 1024)
      const { manifest } = decodeSignedManifest(record.signed)
      return { manifest, signed: record.signed, publishedAt: record.publishedAt }
    } catch (err) {
      throw new CorruptFileError(path, `${MANIFEST_FILE_FORMAT.name} does not decode: ${(err as Error).message}`, MANIFEST_FILE_FORMAT.recovery)
    }
  }
}
