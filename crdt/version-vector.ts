/**
 * Version vectors: for each (namespace, writer) stream, the highest sequence
 * number held with no gap below it. Two replicas holding the same vector
 * hold the same envelopes, and Yjs makes their documents equal.
 */
import { z } from 'zod'
import { NAMESPACE_PATTERN, WRITER_PATTERN } from './constants.js'

export type VersionVector = Record<string, Record<string, number>>

/** Most (namespace, writer) entries a vector from the network may carry. */
export const MAX_VV_ENTRIES = 100_000

export const versionVectorSchema: z.ZodType<VersionVector> = z.record(
  z.string().regex(NAMESPACE_PATTERN),
  z.record(z.string().regex(WRITER_PATTERN), z.number().int().min(0).max(Number.MAX_SAFE_INTEGER))
).refine(vv => Object.values(vv).reduce((n, w) => n + Object.keys(w).length, 0) <= MAX_VV_ENTRIES, { message: 'too many version vector entries' })

export function vvGet (vv: VersionVector, ns: string, writer: string): number {
  // Own-property lookups only: a writer named "constructor" must read as 0.
  const w = Object.hasOwn(vv, ns) ? vv[ns] : undefined
  return w !== undefined && Object.hasOwn(w, writer) ? w[writer] : 0
}

/** True when `a` holds every envelope `b` holds. */
export function vvCovers (a: VersionVector, b: VersionVector): boolean {
  for (const [ns, writers] of Object.entries(b)) {
    for (const [w, seq] of Object.entries(writers)) if (vvGet(a, ns, w) < seq) return false
  }
  return true
}

export function vvEqual (a: VersionVector, b: VersionVector): boolean {
  return vvCovers(a, b) && vvCovers(b, a)
}

export function vvClone (vv: VersionVector): VersionVector {
  const out: VersionVector = {}
  for (const [ns, w] of Object.entries(vv)) out[ns] = { ...w }
  return out
}
