/**
 * Keeps the number of connected peers between a low and a high watermark,
 * the way go-libp2p's connection manager (BasicConnMgr) does: when more
 * than `highWater` peers are connected, close idle connections to
 * unprotected peers, oldest first, until `lowWater` remain. js-libp2p only
 * prunes above a hard `maxConnections`, so without this every random
 * anti-entropy partner, DHT query target and bootstrap joiner would stay
 * connected for good and the network would drift back to a full mesh
 * (docs/performance.md).
 *
 * Never closed: peers `protect()` names (membership's monitoring
 * neighbours), connections younger than `graceMs`, and connections with a
 * stream open other than the long-lived ones (an RPC in flight). A request
 * on a request-mux session (wire/rpc-mux.ts) is not seen: its connection
 * may be closed under it, and the request fails as on any lost connection.
 */
import type { Logger } from 'pino'
import type { Connection } from '@libp2p/interface'
import type { Counter } from 'prom-client'
import type { MycelNode } from './node.js'
import type { Startable } from '../lib/lifecycle.js'
import { RPC_MUX_PROTOCOL } from '../wire/rpc-mux.js'

export interface ConnectionTrimmerInit {
  lowWater: number
  highWater: number
  /** A connection younger than this is never trimmed, ms. */
  graceMs: number
  /** How often the count is checked, ms. */
  intervalMs: number
  /** Peers (id strings) never trimmed. */
  protect: () => Iterable<string>
}

export interface ConnectionTrimmerComponents {
  /** Only its connection list is read. */
  node: Pick<MycelNode, 'getConnections'>
  logger: Logger
  /** Counts closed connections, if given. */
  trimmed?: Counter
}

/** Streams that stay open for a connection's life and do not mean "in use" (gossipsub's, the request mux's sessions). */
const LONG_LIVED = ['/meshsub/', '/floodsub/', RPC_MUX_PROTOCOL]

export class ConnectionTrimmer implements Startable {
  private timer?: ReturnType<typeof setInterval>

  constructor (private readonly init: ConnectionTrimmerInit, private readonly components: ConnectionTrimmerComponents) {
    if (!(init.lowWater >= 0 && init.highWater > init.lowWater)) throw new RangeError('connection trimmer needs 0 <= lowWater < highWater')
  }

  start (): void {
    if (this.timer !== undefined) return
    this.timer = setInterval(() => { this.trim() }, this.init.intervalMs)
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  /** One check; returns the number of peers whose connections were closed. */
  trim (now = Date.now()): number {
    const { node, logger } = this.components
    const byPeer = new Map<string, Connection[]>()
    for (const c of node.getConnections()) {
      const id = c.remotePeer.toString()
      const list = byPeer.get(id)
      if (list === undefined) byPeer.set(id, [c])
      else list.push(c)
    }
    if (byPeer.size <= this.init.highWater) return 0
    const keep = new Set(this.init.protect())
    const candidates: Array<{ id: string, conns: Connection[], opened: number }> = []
    for (const [id, conns] of byPeer) {
      if (keep.has(id)) continue
      const opened = Math.max(...conns.map(c => c.timeline.open))
      if (now - opened < this.init.graceMs || conns.some(busy)) continue
      candidates.push({ id, conns, opened })
    }
    candidates.sort((a, b) => a.opened - b.opened)
    const victims = candidates.slice(0, byPeer.size - this.init.lowWater)
    for (const v of victims) {
      for (const c of v.conns) {
        c.close().catch(err => { c.abort(err as Error) })
      }
    }
    if (victims.length > 0) {
      this.components.trimmed?.inc(victims.length)
      logger.debug({ peers: byPeer.size, closed: victims.length, lowWater: this.init.lowWater }, 'trimmed idle connections')
    }
    return victims.length
  }
}

function busy (c: Connection): boolean {
  return c.streams.some(s => !LONG_LIVED.some(p => s.protocol?.startsWith(p) === true))
}
