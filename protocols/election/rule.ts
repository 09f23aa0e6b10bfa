/**
 * The election rule, pure: who should hold a role, by Kademlia distance.
 * The role key is sha256("mycel/role/<region>/<role>"); a peer's position is
 * sha256 of its peer id multihash, as in kad-dht, so "closest" means the same
 * thing here as in the DHT's own routing.
 */
import { createHash } from 'node:crypto'
import { peerIdOf } from '../../wire/peer-ids.js'
export function roleKey (region: string, role: string): Uint8Array {
  return createHash('sha256').update(`mycel/role/${region}/${role}`).digest()
}

const positions = new Map<string, Uint8Array>()

export function peerPosition (peerId: string): Uint8Array {
  let pos = positions.get(peerId)
  if (pos !== undefined) return pos
  let mh: Uint8Array
  try {
    mh = peerIdOf(peerId).toMultihash().bytes
  } catch {
    mh = new TextEncoder().encode(peerId)
  }
  pos = createHash('sha256').update(mh).digest()
  if (positions.size > 50_000) positions.clear()
  positions.set(peerId, pos)
  return pos
}

/** Compare XOR distances of a and b to key: negative when a is closer. */
export function compareDistance (key: Uint8Array, a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < key.length; i++) {
    const da = a[i] ^ key[i]
    const db = b[i] ^ key[i]
    if (da !== db) return da - db
  }
  return 0
}

export interface Candidate {
  peerId: string
  region: string
  roles: string[]
}

/** Candidates of (region, role) ordered closest first. */
export function rankCandidates (region: string, role: string, candidates: Candidate[]): string[] {
  const key = roleKey(region, role)
  return candidates
    .filter(c => c.region === region && c.roles.includes(role))
    .map(c => c.peerId)
    .sort((a, b) => compareDistance(key, peerPosition(a), peerPosition(b)) || (a < b ? -1 : a > b ? 1 : 0))
}

export function pickHolder (region: string, role: string, candidates: Candidate[]): string | undefined {
  return rankCandidates(region, role, candidates)[0]
}
