/**
 * Peer ids parsed once. mycel keeps peers by their id string (membership's
 * table, rings, leases, config sync), and libp2p asks for a `PeerId` object
 * (connections, dials, requests), so every probe, dial check and request used
 * to parse one from its string: a base58 decode, a multihash and a public key
 * object, ≈ 6 µs warm and tens of µs in a process just woken. On two nodes
 * probing each other that was 11 % of a probe's CPU (docs/performance.md,
 * "Peer ids parsed once").
 *
 * A `PeerId` is immutable, so one object per id serves every caller. The
 * cache is bounded the way the signers' key cache was: cleared when full,
 * which costs a re-parse per id, never a wrong answer.
 */
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'

/** Ids kept, count: far above any network's members plus the peers a node talks to. */
const PEER_ID_CACHE_MAX = 10_000

const cache = new Map<string, PeerId>()

/**
 * The `PeerId` of an id string, parsed on first use. Throws what
 * `peerIdFromString` throws for a string that is not a peer id (nothing
 * is cached then).
 */
export function peerIdOf (id: string): PeerId {
  const cached = cache.get(id)
  if (cached !== undefined) return cached
  const parsed = peerIdFromString(id)
  if (cache.size >= PEER_ID_CACHE_MAX) cache.clear()
  cache.set(id, parsed)
  return parsed
}
