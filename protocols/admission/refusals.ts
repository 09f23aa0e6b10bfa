/**
 * Refusals this node remembers, so the connection gater keeps a refused
 * peer out for `memoryMs` without a handshake each time it retries.
 * Insertion-ordered and bounded: under a flood of identities the oldest
 * refusal is forgotten first. A new refusal, or a new reason for a known
 * peer, is logged once as a warning, counted and passed to the listeners
 * (membership evicts, or marks revoked, on it).
 */
import type { Logger } from 'pino'
import type { Refusal } from '../../lib/peer-admission.js'
import type { AdmissionMetrics } from './metrics.js'

export class RefusalMemory {
  private readonly byPeer = new Map<string, Refusal>()
  private readonly listeners = new Set<(peer: string, refusal: Refusal) => void>()

  constructor (
    private readonly opts: { memoryMs: number, max: number, network: string | null },
    private readonly log: Logger,
    private readonly metrics: AdmissionMetrics
  ) {}

  onRefused (listener: (peer: string, refusal: Refusal) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  /** The refusal still remembered for `peer` (an expired one is forgotten here). */
  get (peer: string): Refusal | undefined {
    const r = this.byPeer.get(peer)
    if (r === undefined) return undefined
    if (Date.now() - r.at >= this.opts.memoryMs) {
      this.byPeer.delete(peer)
      return undefined
    }
    return r
  }

  /** Remember a refusal (the newest goes last); tell the listeners when it is news. */
  record (peer: string, r: Omit<Refusal, 'at'>): Refusal {
    const known = this.byPeer.get(peer)
    const refusal: Refusal = { ...r, at: Date.now() }
    this.byPeer.delete(peer)
    this.byPeer.set(peer, refusal)
    while (this.byPeer.size > this.opts.max) this.byPeer.delete(this.byPeer.keys().next().value as string)
    if (known === undefined || known.reason !== r.reason) {
      this.metrics.handshakes.inc({ result: r.reason })
      this.log.warn({ peer, reason: r.reason, network: this.opts.network }, `refusing peer ${peer}: ${r.detail}`)
      for (const l of this.listeners) {
        try { l(peer, refusal) } catch (err) { this.log.warn({ err }, 'admission refusal listener failed') }
      }
    }
    return refusal
  }

  /** Forget the refusals `stale` picks (the policy now admits those peers). */
  forget (stale: (peer: string, r: Refusal) => boolean): void {
    for (const [peer, r] of [...this.byPeer]) if (stale(peer, r)) this.byPeer.delete(peer)
  }

  /** Live refusals, oldest first, with how long each is still remembered. */
  list (now = Date.now()): Array<{ peerId: string, reason: string, detail: string, at: string, forgetInMs: number }> {
    return [...this.byPeer.keys()].flatMap(peerId => {
      const r = this.get(peerId)
      return r === undefined ? [] : [{ peerId, reason: r.reason, detail: r.detail, at: new Date(r.at).toISOString(), forgetInMs: r.at + this.opts.memoryMs - now }]
    })
  }

  count (): number { return this.list().length }
}
