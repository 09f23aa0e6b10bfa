/**
 * kad-dht (16.x) keeps its 20 closest verified contacts connected for good:
 * every 5 s its routing table tags them `keep-alive-kad-dht`, and libp2p's
 * reconnect queue redials a tagged peer whenever its connection closes (five
 * tries, backing off). In a public DHT that keeps the peers responsible for
 * a node's own key reachable. A mycel network has membership for that: the
 * monitoring rings keep every member linked, a DHT walk dials the peers it
 * needs, and the connection trimmer (conn-trimmer.ts) closes what nothing
 * uses. With the tag, the trimmer and the reconnect queue fought: forming 100
 * agents, ≈ 15 redials a node came from the reconnect queue, on top of 20
 * connections a node to peers random with respect to the rings
 * (docs/performance.md, thirteenth pass).
 *
 * The closest-peer set size is an option of kad-dht's routing table that
 * KadDHTInit does not pass on, so the tagger is stopped once the node has
 * started (before its first 5 s tick). A kad-dht that renames it fails the
 * check in test/integration/dht-keep-alive.test.ts, which also checks no
 * peer ever gets the tag.
 */
interface ClosestPeerTagger { stop: () => void }

/** Stops kad-dht's closest-peer keep-alive tagging; returns whether there was a tagger to stop. */
export function stopClosestPeerKeepAlive (node: { services: { dht?: unknown } }): boolean {
  const tagger = (node.services.dht as { routingTable?: { closestPeerTagger?: ClosestPeerTagger } } | undefined)?.routingTable?.closestPeerTagger
  if (tagger === undefined || typeof tagger.stop !== 'function') return false
  tagger.stop()
  return true
}
