/**
 * What this node knows of each release (name and version): every signed
 * manifest for it, from `mycel.releases` (release-entry.ts) and from the
 * local manifest store, with signatures checked; and the one verdict on it
 * that every node reaches from the same entries and the same trust set.
 *
 * The verdict counts only manifests whose publisher is trusted when it is
 * asked (trust is checked at use). A version whose trusted manifests carry
 * more than one content (checkVersionConflict's notion: every signed field
 * but the publisher and the trace context) is conflicted, wherever it is
 * asked and in whatever order the entries arrived: no node runs one content
 * while another runs the other. An untrusted manifest neither makes a
 * release nor blocks one, so a writer of the namespace without a trusted
 * key cannot stop a release by writing another content for its version.
 */
import { releaseKey } from './manifest-store.js'
import type { ReleaseEntry } from './release-entry.js'
import { manifestContent } from './signed-manifest.js'

/** The verdict on one name and version. */
export type ReleaseVerdict =
  | { kind: 'unknown' }
  /** Manifests exist, none of a trusted publisher; `publishers` sorted. */
  | { kind: 'untrusted', publishers: string[] }
  /** Trusted manifests with more than one content; `archives` (their archive CIDs) sorted. */
  | { kind: 'conflict', archives: string[] }
  /** One content; `release` is the trusted manifest with the lowest entry key (the same on every node). */
  | { kind: 'ok', release: ReleaseEntry }

/** The verdict on the manifests of one name and version. Pure, and independent of their order. */
export function releaseVerdict (candidates: Iterable<ReleaseEntry>, trusts: (publisher: string) => boolean): ReleaseVerdict {
  const untrusted = new Set<string>()
  const contents = new Map<string, string>()
  let best: ReleaseEntry | undefined
  for (const c of candidates) {
    if (!trusts(c.manifest.publisher)) {
      untrusted.add(c.manifest.publisher)
      continue
    }
    contents.set(manifestContent(c.manifest), c.manifest.archive.cid)
    if (best === undefined || c.key < best.key) best = c
  }
  if (contents.size > 1) return { kind: 'conflict', archives: [...new Set(contents.values())].sort() }
  if (best !== undefined) return { kind: 'ok', release: best }
  if (untrusted.size > 0) return { kind: 'untrusted', publishers: [...untrusted].sort() }
  return { kind: 'unknown' }
}

/** Signature-checked manifests by release (`name@version`), then by entry key. */
export class ReleaseView {
  private readonly byRelease = new Map<string, Map<string, ReleaseEntry>>()
  private readonly releaseOf = new Map<string, string>()

  add (entry: ReleaseEntry): void {
    this.remove(entry.key)
    const r = releaseKey(entry.manifest.name, entry.manifest.version)
    let entries = this.byRelease.get(r)
    if (entries === undefined) this.byRelease.set(r, entries = new Map())
    entries.set(entry.key, entry)
    this.releaseOf.set(entry.key, r)
  }

  remove (key: string): void {
    const r = this.releaseOf.get(key)
    if (r === undefined) return
    this.releaseOf.delete(key)
    const entries = this.byRelease.get(r)
    entries?.delete(key)
    if (entries?.size === 0) this.byRelease.delete(r)
  }

  clear (): void {
    this.byRelease.clear()
    this.releaseOf.clear()
  }

  has (key: string): boolean {
    return this.releaseOf.has(key)
  }

  /** The manifests of one name and version. */
  candidates (name: string, version: string): ReleaseEntry[] {
    return [...(this.byRelease.get(releaseKey(name, version))?.values() ?? [])]
  }
}
