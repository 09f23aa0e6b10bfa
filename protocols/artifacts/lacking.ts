/**
 * What the fetcher knows of partial holders: which provider said it lacks
 * which chunk, until when (a partial holder gets chunks as it fetches, so a
 * `missing` is "not yet"), and the order one node asks for chunks in.
 */
import type { CID } from 'multiformats/cid'

export class LackingChunks {
  /** Chunk → peer → when the lack expires, ms. */
  private readonly until = new Map<string, Map<string, number>>()

  constructor (private readonly retryMs: number) {}

  /** `peer` said at `now` it does not hold `chunk`. */
  mark (chunk: string, peer: string, now: number): void {
    let peers = this.until.get(chunk)
    if (peers === undefined) { peers = new Map(); this.until.set(chunk, peers) }
    peers.set(peer, now + this.retryMs)
  }

  /** Whether `peer` is still taken to lack `chunk` at `now`. */
  has (chunk: string, peer: string, now: number): boolean {
    const t = this.until.get(chunk)?.get(peer)
    return t !== undefined && t > now
  }

  /** The first expiry after `now` (Infinity if none); expired entries are forgotten. */
  nextExpiry (now: number): number {
    let next = Infinity
    for (const [chunk, peers] of this.until) {
      for (const [peer, t] of peers) {
        if (t <= now) peers.delete(peer)
        else if (t < next) next = t
      }
      if (peers.size === 0) this.until.delete(chunk)
    }
    return next
  }
}

/**
 * `chunks` in the order `self` asks for them: sorted by a hash (FNV-1a) of
 * the peer id and the chunk. Fetchers that start together then hold different
 * chunks early and can serve each other; the same node always asks in the same
 * order (deterministic under test).
 */
export function spreadOrder (chunks: CID[], self: string): CID[] {
  const keyed = chunks.map(c => ({ c, h: fnv1a(`${self}/${c.toString()}`) }))
  keyed.sort((a, b) => a.h - b.h)
  return keyed.map(k => k.c)
}

function fnv1a (s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h
}
