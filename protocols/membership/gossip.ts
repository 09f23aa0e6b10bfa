/**
 * The fast dissemination path (memberlist's gossip()): every gossip interval,
 * while updates are queued, push them to a few random connected members as
 * a ping whose ack brings their queued updates back (an empty queue sleeps
 * until an update arrives). Each update leaves the
 * queue after retransmitMult × ceil(log10(N+1)) sends, so an update reaches
 * the cluster in O(log N) rounds and costs each node O(log N) sends, and an
 * idle cluster gossips nothing. gossipsub carries the updates a node
 * originates as well, but only once a mesh exists; this path works from the
 * first connection on, which is what makes a join visible everywhere fast.
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
      // An idle cluster has nothing queued: wait for an update instead of
      // waking every interval (it was 2 of an idle agent's ~14 wake-ups a second).
      await this.ctx.queue.nonEmpty(signal)
      if (signal.aborted) return
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
    if (ctx.queue.size === 0) return
    const candidates = shuffled(ctx.peers.getPeers().map(p => p.toString()).filter(id =>
      id !== ctx.selfId && !this.busy.has(id) && ctx.table.get(id)?.state === 'alive'), ctx.random)
    for (const id of candidates.slice(0, ctx.cfg.gossipNodes)) {
      this.busy.add(id)
      this.prober.ping(id, ctx.cfg.probeTimeoutMs * ctx.cfg.awarenessMaxMultiplier)
        .finally(() => { this.busy.delete(id) })
    }
  }
}
