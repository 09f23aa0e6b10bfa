/**
 * Is a release's archive reachable before a rollout starts (issue 14, "a
 * version whose artifact is not reachable is refused up front")? Yes when
 * this node holds all of it (its index and every chunk), or when the DHT
 * names a provider other than this node within `timeoutMs`. A provider
 * record says a node announced the archive, not that it still answers: the
 * probe is a best effort before the fact, and the gate's deadlines catch a
 * node that cannot fetch it after.
 */
import { CID } from 'multiformats/cid'
import type { BlockStore } from '../../protocols/artifacts/block-store.js'
import type { ProviderRouting } from '../../protocols/artifacts/routing.js'
import type { ArchiveProbe } from './start.js'

/**
 * How long a start waits for a provider of the archive, ms: long enough for
 * a DHT lookup across a few hops, short enough for an operator's command to
 * answer (the CLI's request timeout is 30 s).
 */
export const DEFAULT_REACHABILITY_TIMEOUT_MS = 10_000

export interface ArchiveProbeInit {
  /** This node's peer id: it is not a provider for others. */
  self: string
  blocks: Pick<BlockStore, 'getIndex' | 'missing'>
  routing: Pick<ProviderRouting, 'findProviders'>
  /** @default DEFAULT_REACHABILITY_TIMEOUT_MS */
  timeoutMs?: number
}

export function archiveProbe (init: ArchiveProbeInit): ArchiveProbe {
  const timeoutMs = init.timeoutMs ?? DEFAULT_REACHABILITY_TIMEOUT_MS
  return async (archive, signal) => {
    const stored = await init.blocks.getIndex(archive.cid)
    if (stored !== undefined && (await init.blocks.missing(stored.index)).length === 0) return true
    let cid: CID
    try {
      cid = CID.parse(archive.cid)
    } catch {
      return false
    }
    try {
      const opts = { signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) }
      for await (const ev of init.routing.findProviders(cid, opts)) {
        if (ev.name === 'PROVIDER' && (ev.providers ?? []).some(p => p.id.toString() !== init.self)) return true
      }
    } catch {
      // A lookup that times out or fails found nobody.
    }
    return false
  }
}
