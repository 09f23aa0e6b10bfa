/**
 * What the component host installed, on disk:
 *
 *   <dataDir>/components/<name>/<version>/   an unpacked release (written once, renamed into place whole)
 *   <dataDir>/components/<name>/current      which version runs, and the one before it (a sealed file)
 *
 * `current` plays the part of Habitat's and Nomad's "which release is
 * active": it is written (durably, replaced whole) before the new version
 * starts, so a restarted agent knows which version the process it adopts
 * runs, and which one to roll back to. A damaged `current` is
 * `CorruptFileError` (fail-stop for that component, never a guess).
 *
 * Old versions are removed once a switch is done, except the previous one
 * (rollback, issue 14).
 */
import { chmod, readdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { z } from 'zod'
import type { FileFormat } from '../lib/file-format.js'
import { readSealedJson, writeSealedJson } from '../lib/sealed-file.js'

export const CURRENT_FORMAT: FileFormat = {
  magic: 'MYCELCC1',
  name: 'component current-version record',
  recovery: 'stop the component\'s process group if it runs, then remove the file; the host installs the deployed version again'
}

const releaseRef = z.strictObject({
  version: z.string().min(1).max(256),
  /** The archive CID the version was unpacked from. */
  archive: z.string().min(1).max(128)
})

const currentSchema = z.strictObject({
  current: releaseRef,
  previous: releaseRef.optional()
})

export type ReleaseRef = z.infer<typeof releaseRef>
export type CurrentRecord = z.infer<typeof currentSchema>

export function componentsDir (dataDir: string): string { return join(dataDir, 'components') }
export function versionDir (dataDir: string, name: string, version: string): string { return join(componentsDir(dataDir), name, version) }
function currentPath (dataDir: string, name: string): string { return join(componentsDir(dataDir), name, 'current') }

export async function readCurrent (dataDir: string, name: string): Promise<CurrentRecord | undefined> {
  return await readSealedJson(CURRENT_FORMAT, currentPath(dataDir, name), currentSchema, 'component current-version record')
}

export async function writeCurrent (dataDir: string, name: string, record: CurrentRecord): Promise<void> {
  await writeSealedJson(CURRENT_FORMAT, currentPath(dataDir, name), record, 0o644)
}

/** Forget the component (undeployed): its record and every unpacked version. */
export async function removeComponent (dataDir: string, name: string): Promise<void> {
  await rm(join(componentsDir(dataDir), name), { recursive: true, force: true })
}

/** Names of the components with a directory under components/ (installed at some point). */
export async function installedNames (dataDir: string): Promise<string[]> {
  try {
    return (await readdir(componentsDir(dataDir), { withFileTypes: true })).filter(d => d.isDirectory()).map(d => d.name).sort()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
}

/**
 * Remove unpacked versions of `name` other than `keep`, and temp dirs an
 * interrupted unpack left (`.<version>.unpack-*`). Returns what it removed.
 */
export async function pruneVersions (dataDir: string, name: string, keep: ReadonlySet<string>): Promise<string[]> {
  const dir = join(componentsDir(dataDir), name)
  let entries
  try { entries = await readdir(dir, { withFileTypes: true }) } catch { return [] }
  const removed: string[] = []
  for (const e of entries) {
    if (!e.isDirectory() || keep.has(e.name)) continue
    await rm(join(dir, e.name), { recursive: true, force: true })
    removed.push(e.name)
  }
  return removed
}

/**
 * A component user must reach its unpacked files: give the data dir and
 * components/ execute (traverse) permission for others, never read.
 * Secrets in the data dir stay 0600 files.
 */
export async function allowTraverse (dataDir: string): Promise<void> {
  for (const dir of [dataDir, componentsDir(dataDir)]) {
    const mode = (await stat(dir)).mode & 0o7777
    if ((mode & 0o001) === 0) await chmod(dir, mode | 0o001)
  }
}
