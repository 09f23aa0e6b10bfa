/**
 * What each peer has told us it holds durably: the version vector from its
 * last pull request or push reply. A write is acknowledged by a peer once
 * that peer's durable vector covers it (`?waitFor=N`).
 */
import { vvGet, type VersionVector } from '../../crdt/version-vector.js'

export class AckTracker {
  private readonly peers = new Map<string, VersionVector>()
  private readonly waiters = new Set<() => void>()

  /** Record a peer's durable version vector (the newer of what we knew and this, per stream). */
  update (peer: string, vv: VersionVector): void {
    const known = this.peers.get(peer)
    if (known === undefined) {
      this.peers.set(peer, vv)
    } else {
      // Vectors of one peer only grow, but replies can arrive out of order.
      for (const [ns, writers] of Object.entries(vv)) {
        const k = Object.hasOwn(known, ns) ? known[ns] : (known[ns] = {})
        for (const [w, seq] of Object.entries(writers)) if (vvGet(known, ns, w) < seq) k[w] = seq
      }
    }
    for (const w of [...this.waiters]) w()
  }

  forget (peer: string): void { this.peers.delete(peer) }

  /** Peers (among `among`, if given) known to hold (ns, writer, seq) durably. */
  ackedBy (ns: string, writer: string, seq: number, among?: Set<string>): string[] {
    const out: string[] = []
    for (const [peer, vv] of this.peers) {
      if (among !== undefined && !among.has(peer)) continue
      if (vvGet(vv, ns, writer) >= seq) out.push(peer)
    }
    return out
  }

  /** Resolves at the next update or after `ms`, whichever is first. */
  async next (ms: number, signal?: AbortSignal): Promise<void> {
    await new Promise<void>(resolve => {
      const done = (): void => {
        clearTimeout(timer)
        this.waiters.delete(done)
        signal?.removeEventListener('abort', done)
        resolve()
      }
      const timer = setTimeout(done, ms)
      this.waiters.add(done)
      signal?.addEventListener('abort', done, { once: true })
    })
  }
}
