/**
 * Peer ids parsed once. mycel keeps peers by their id string (membership's
 * table, rings, leases, config sync), and libp2p asks for a `PeerId` object
 * (connections, dials, requests), so every probe, dial check and request used
 * to parse one from its string: a base58 decode, a multihash and a public key
 * object, ≈ 6 µs warm and tens of µs in a process just woken. On two nodes
 * probing each other that was 11 % of a probe's CPU (docs/performance.md,
 * "What a probe costs against a datagram, and peer ids parsed once").
 *
 * A `PeerId` is never changed after it is made (its only write is the string
 * form it caches on first `toString()`), so one object serves every caller.
 * Only Ed25519 ids are kept: every mycel node has one, and an id of another
 * kind (which no admitted peer has) parses each time instead of taking a
 * place. The cache is cleared when full, which costs a re-parse per id,
 * never a wrong answer.
 */
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'

/**
 * Ids the shared cache keeps, count. Far above a network's members plus the
 * peers a node talks to, and above the 10,000 nodes the membership simulator
 * runs in one process; ≈ 0.7 KB each, so ≈ 11 MB when full.
 */
export const PEER_ID_CACHE_MAX = 16_384

export class PeerIdCache {
  private readonly ids = new Map<string, PeerId>()

  /** @param max ids kept before the cache is cleared, count */
  constructor (readonly max: number) {}

  /**
   * The `PeerId` of an id string, parsed on first use. Throws what
   * `peerIdFromString` throws for a string that is not a peer id (nothing is
   * cached then).
   */
  of (id: string): PeerId {
    const cached = this.ids.get(id)
    if (cached !== undefined) return cached
    const parsed = peerIdFromString(id)
    if (parsed.type !== 'Ed25519') return parsed
    if (this.ids.size >= this.max) this.ids.clear()
    this.ids.set(id, parsed)
    return parsed
  }

  get size (): number { return this.ids.size }
}

const shared = new PeerIdCache(PEER_ID_CACHE_MAX)

/** The `PeerId` of an id string, from the process's one cache (`PeerIdCache.of`). */
export function peerIdOf (id: string): PeerId {
  return shared.of(id)
}
