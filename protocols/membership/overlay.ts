/**
 * Who monitors whom. memberlist probes a random member each period over
 * UDP, which costs nothing to set up; over libp2p a probe needs a TCP +
 * Noise + yamux connection (~55 ms of CPU for both sides), so probing every
 * member means a full mesh: N(N-1)/2 handshakes to form a network, which
 * two cores cannot do for 50 agents starting at once (docs/performance.md).
 *
 * Instead each node monitors its successors on a few pseudo-random rings
 * over the member set (Rapid's K-ring monitoring topology): ring r orders
 * the members by SHA-256(r, peer id); a node's subjects are its successor
 * on every ring, its observers its predecessors. Every member is watched by
 * up to K observers, a node holds at most 2 x rings links whatever N is,
 * and every view computes the same rings from the same member set.
 *
 * K global rings make one connected graph (each ring alone is a cycle
 * through all members; the union of random rings is an expander w.h.p., so
 * gossip still spreads in O(log N) hops). Region rings order only the
 * members of our own region: per-region gossipsub topics (health, role
 * actions) need the members of a region connected among themselves, which
 * random global rings would not guarantee. Region ring r keeps global ring
 * r's positions, so a region that holds every member adds no link.
 */
import { createHash } from 'node:crypto'

export interface RingMember {
  id: string
  region: string
}

export interface Neighbours {
  /** Members this node probes: its successor on every ring (distinct, ring order). */
  subjects: string[]
  /** Members that probe this node: its predecessor on every ring (distinct). */
  observers: string[]
}

/** Every other member a node should stay connected to: its subjects and its observers. */
export function linkedPeers (n: Neighbours): string[] {
  return [...new Set([...n.subjects, ...n.observers])]
}

interface RingOrder {
  order: RingMember[]
  index: Map<string, number>
}

/**
 * Computes a node's place in the rings. Pure apart from a cache of ring
 * positions; the caller recomputes when its member set changes.
 */
export class MonitorRings {
  /** Ring positions per member, computed once per id (K + R hashes). */
  private readonly positions = new Map<string, string[]>()
  /** The rings sorted for the last member set asked about. */
  private sorted?: { members: readonly RingMember[], rings: Map<string, RingOrder> }

  constructor (
    private readonly selfId: string,
    private readonly globalRings: number,
    private readonly regionRings: number
  ) {}

  /**
   * Neighbours of this node among `members` (which must include this node,
   * with its region). A member set is read as given: pass a new array when
   * it changes, never the same one changed in place (the sorted rings are
   * kept per array).
   */
  neighbours (members: readonly RingMember[]): Neighbours {
    const n = this.neighboursOf(this.selfId, members)
    this.forgetGone(members)
    return n
  }

  /**
   * Neighbours of any member `id` among `members` (which must include it),
   * as that member computes its own: its observers are the members that
   * probe it, so they hold a link to it. An indirect probe asks them first
   * (probe.ts): a helper that must dial the target costs a handshake on a
   * host that may be the overloaded one.
   */
  neighboursOf (id: string, members: readonly RingMember[]): Neighbours {
    const me = members.find(m => m.id === id)
    if (me === undefined || members.length < 2) return { subjects: [], observers: [] }
    const subjects: string[] = []
    const observers: string[] = []
    const add = (list: string[], other: string | undefined): void => {
      if (other !== undefined && other !== id && !list.includes(other)) list.push(other)
    }
    for (let r = 0; r < this.globalRings + this.regionRings; r++) {
      const { order, index } = r < this.globalRings
        ? this.ring(members, r, undefined)
        : this.ring(members, r - this.globalRings, me.region)
      if (order.length < 2) continue
      const i = index.get(id) as number
      add(subjects, order[(i + 1) % order.length].id)
      add(observers, order[(i - 1 + order.length) % order.length].id)
    }
    return { subjects, observers }
  }

  /**
   * Ring `r` over `members` (over those of `region` for a region ring),
   * sorted once per member set: the caller passes the same array until its
   * set changes, so asking for many members' neighbours costs one sort.
   *
   * Region ring r is global ring r restricted to the region: the same
   * positions, so in a network of one region (or wherever a region's
   * members are all the members) it is the global ring itself and adds no
   * link. Every ring's links cost a connection to set up and keep, and each
   * join moves a node's successor on a ring with probability 1/n, so a
   * forming network rewires ≈ ln N times per ring and node: rings that
   * coincide are links and handshakes saved, not redundancy lost (each
   * region ring still connects its region when regions differ).
   */
  private ring (members: readonly RingMember[], r: number, region: string | undefined): RingOrder {
    if (this.sorted?.members !== members) this.sorted = { members, rings: new Map() }
    const key = region === undefined ? `${r}` : `${r}:${region}`
    let ring = this.sorted.rings.get(key)
    if (ring === undefined) {
      if (region !== undefined && members.every(m => m.region === region)) {
        // A region that holds every member has global ring r as its ring r: the same order, not sorted again.
        ring = this.ring(members, r, undefined)
      } else {
        const order = (region === undefined ? [...members] : members.filter(m => m.region === region))
          .sort((a, b) => compare(this.position(a.id, r), this.position(b.id, r)) || compare(a.id, b.id))
        ring = { order, index: new Map(order.map((m, i) => [m.id, i])) }
      }
      this.sorted.rings.set(key, ring)
    }
    return ring
  }

  private position (id: string, ring: number): string {
    let p = this.positions.get(id)
    if (p === undefined) {
      p = []
      for (let r = 0; r < Math.max(this.globalRings, this.regionRings); r++) {
        p.push(createHash('sha256').update(`mycel-ring:${r}:${id}`).digest('hex').slice(0, 16))
      }
      this.positions.set(id, p)
    }
    return p[ring]
  }

  private forgetGone (members: readonly RingMember[]): void {
    if (this.positions.size <= members.length * 2) return
    const keep = new Set(members.map(m => m.id))
    for (const id of this.positions.keys()) if (!keep.has(id)) this.positions.delete(id)
  }
}

function compare (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
