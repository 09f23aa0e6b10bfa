/**
 * kad-dht's routing table, kept by membership instead of by walks.
 *
 * kad-dht (16.x) fills its routing table by walking the network: a
 * self-query towards the node's own id a second after it starts (and every
 * 5 minutes), and a refresh every 5 minutes that looks up a random id in
 * every bucket. Each walk asks the closest peers it knows and dials them: on
 * a public DHT that is how a node discovers anyone. A joiner into a network
 * of 50 made 3–20 kad-dht dials that way, the largest and most variable part
 * of its dials besides its monitoring links, to peers random with respect to
 * the rings (≈ 55 ms of CPU per connection, both ends; docs/performance.md,
 * fourteenth pass). And every agent walked again every 5 minutes at rest.
 *
 * In a mycel network membership already knows every member, alive and
 * signed, with its addresses in the peer store (protocols/membership). So
 * the table takes every alive member as membership learns of it and drops
 * members that die or leave. A lookup then starts from the true closest
 * peers and ends after asking them; the walks add nothing and are off: the
 * refresh never runs (`withoutTableRefresh`), the self-query runs once per
 * `dht.selfQueryMs` (daemon/profiles.ts), and queries no longer wait for the
 * first self-query (`allowQueryWithZeroPeers`): membership fills the table.
 * Adding a contact to a full bucket pings its oldest contacts, which
 * membership answers without a dial (daemon/member-ping.ts).
 */
import { peerIdOf } from '../wire/peer-ids.js'
import type { PeerId } from '@libp2p/interface'
import type { Logger } from 'pino'
import type { Member, MembershipView } from '../protocols/membership/types.js'

/** What of kad-dht's routing table this module uses. */
export interface RoutingTableLike {
  add: (peer: PeerId) => Promise<void>
  remove: (peer: PeerId) => Promise<void>
}

/** kad-dht's routing-table refresh: the one method replaced. */
interface TableRefresh { refreshTable: (...args: never[]) => unknown }

/** kad-dht changed shape under this module: an upgrade must be checked against it. */
export class KadDhtShapeError extends Error {
  static name = 'KadDhtShapeError'
  override name = 'KadDhtShapeError'
}

/**
 * A kad-dht factory whose routing-table refresh never walks. Applied before
 * libp2p starts the service, so not even the forced refresh at start runs;
 * kad-dht's public `refreshRoutingTable()` does nothing from then on.
 * The refresh interval is not an option KadDHTInit passes on, so the
 * instance's `refreshTable` is replaced; a kad-dht without it fails here, at
 * once, and in test/integration/dht-membership.test.ts.
 */
export function withoutTableRefresh<C, T> (factory: (components: C) => T): (components: C) => T {
  return (components) => {
    const dht = factory(components)
    const refresh = (dht as { routingTableRefresh?: Partial<TableRefresh> }).routingTableRefresh
    if (refresh === undefined || typeof refresh.refreshTable !== 'function') {
      throw new KadDhtShapeError('kad-dht has no routingTableRefresh.refreshTable to replace (daemon/dht-membership.ts)')
    }
    refresh.refreshTable = () => undefined
    return dht
  }
}

/** The routing table of a node's kad-dht service, if it has one. */
export function routingTableOf (dht: unknown): RoutingTableLike | undefined {
  const table = (dht as { routingTable?: Partial<RoutingTableLike> } | undefined)?.routingTable
  return typeof table?.add === 'function' && typeof table.remove === 'function' ? table as RoutingTableLike : undefined
}

type MembershipEventsView = Pick<MembershipView, 'alivePeers' | 'addEventListener' | 'removeEventListener'>

/** A running feed: `stop` ends it; `settled` resolves once every update handed to the table so far is done. */
export interface RoutingTableFeed {
  stop: () => void
  settled: () => Promise<void>
}

/**
 * Keeps `table` at membership's alive members until stopped: every alive
 * member now, each member that joins or comes back, and out with each that
 * dies or leaves. Updates reach the table one at a time: kad-dht's table
 * (16.4) loses contacts when adds overlap (two adds that fill a bucket at
 * once both split it, and its contact-check queue refuses past 100 waiting
 * jobs, both without an error), and a join push-pull announces tens of
 * members at once. Table errors (a stopped DHT) are logged at debug and
 * otherwise ignored: the table speeds lookups up, which still walk from
 * whatever it holds.
 */
export function feedRoutingTable (table: RoutingTableLike, membership: MembershipEventsView, log: Logger): RoutingTableFeed {
  let chain: Promise<void> = Promise.resolve()
  const apply = (op: 'add' | 'remove', id: string): void => {
    let peer: PeerId
    try { peer = peerIdOf(id) } catch { return }
    chain = chain.then(async () => { await table[op](peer) }).catch((err: unknown) => { log.debug({ err, peer: id, op }, 'kad-dht routing table update failed') })
  }
  const onAlive = (e: CustomEvent<Member>): void => { apply('add', e.detail.peerId) }
  const onGone = (e: CustomEvent<Member>): void => { apply('remove', e.detail.peerId) }
  for (const m of membership.alivePeers()) apply('add', m.peerId)
  membership.addEventListener('member:join', onAlive)
  membership.addEventListener('member:alive', onAlive)
  membership.addEventListener('member:dead', onGone)
  membership.addEventListener('member:left', onGone)
  return {
    stop: () => {
      membership.removeEventListener('member:join', onAlive)
      membership.removeEventListener('member:alive', onAlive)
      membership.removeEventListener('member:dead', onGone)
      membership.removeEventListener('member:left', onGone)
    },
    settled: async () => { await chain }
  }
}
