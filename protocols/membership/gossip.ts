/**
 * The fast dissemination path (memberlist's gossip()): every gossip interval,
 * while updates that this node has to spread are queued, push them to a few
 * random connected members as a ping whose ack brings their queued updates
 * back (with nothing to spread it sleeps until an update arrives). Each
 * update leaves the queue after retransmitMult × ceil(log10(N+1)) sends, so
 * an update reaches the cluster in O(log N) rounds and costs each node
 * O(log N) sends, and an idle cluster gossips nothing.
 *
 * gossipsub is the broadcast layer next to it: a node publishes the updates
 * it originates, and the first member to learn a joiner's record from the
 * joiner itself publishes that (swim.ts). What gossipsub delivered only rides
 * along on probes here (broadcast-queue.ts); this path drives what gossipsub
 * could not carry: updates a node originates, and updates that reached it by
 * probe while it is in no membership mesh (a mesh still forming, a host
 * without gossipsub such as the simulator). A member in the mesh that got an
 * update by probe first gets it from gossipsub too: under load probes often
 * win that race, and when every such member sent rounds, gossip rounds were
 * 85 % of all pings while 100 agents formed (docs/performance.md, seventeenth
 * pass). A round waits for memberlist's ticker
 * phase, a random part of the interval, after an idle spell: in that time
 * gossipsub has usually carried the update to the round's targets already,
 * and a target that knows it spreads nothing further.
 */
import { shuffled, type SwimContext } from './context.js'
import { sleep } from '../../lib/clock.js'
import type { Prober } from './probe.js'

export class Gossiper {
  private readonly busy = new Set<string>()
  private loop?: Promise<void>

  constructor (private readonly ctx: SwimContext, private readonly prober: Prober) {}

  start (): void {
    this.loop = this.run()
  }

  async stop (): Promise<void> {
    await this.loop
  }

  private async run (): Promise<void> {
    const { cfg, signal, clock } = this.ctx
    await sleep(this.ctx.random() * cfg.gossipIntervalMs, signal, clock)
    while (!signal.aborted) {
      if (this.ctx.queue.driving === 0) {
        // An idle cluster has nothing to spread: wait for an update instead of
        // waking every interval (it was 2 of an idle agent's ~14 wake-ups a second),
        // then for the ticker's phase (above).
        await this.ctx.queue.whenDriving(signal)
        await sleep(this.ctx.random() * cfg.gossipIntervalMs, signal, clock)
        if (signal.aborted) return
      }
      this.round()
      await sleep(cfg.gossipIntervalMs, signal, clock)
    }
  }

  /**
   * One round: up to gossipNodes connected alive members, each with its own
   * slice of the queue. Picked from the connections (our ring neighbours, a
   * bounded set), not from all N members: the same choice at O(links) cost
   * instead of a shuffle and a peer-id parse per member every round.
   */
  round (): void {
    const { ctx } = this
    if (ctx.queue.driving === 0) return
    const candidates = shuffled(ctx.peers.getPeers().map(p => p.toString()).filter(id =>
      id !== ctx.selfId && !this.busy.has(id) && ctx.table.get(id)?.state === 'alive'), ctx.random)
    for (const id of candidates.slice(0, ctx.cfg.gossipNodes)) {
      this.busy.add(id)
      ctx.metrics.gossipPings.inc()
      this.prober.ping(id, ctx.cfg.probeTimeoutMs * ctx.cfg.awarenessMaxMultiplier)
        .finally(() => { this.busy.delete(id) })
    }
  }
}
