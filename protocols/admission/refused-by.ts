/**
 * What peers said when they refused this node (the `refused` field of their
 * hello): logged once per peer and reason at error level, because a node
 * every peer refuses is a node that is down for its operator; counted; kept
 * (bounded) for `GET /v1/admission`; and passed to listeners (the agent
 * stops on a refused join token).
 */
import type { Logger } from 'pino'
import { REFUSAL_REASONS, type Refusal } from '../../lib/peer-admission.js'
import type { AdmissionMetrics } from './metrics.js'

/** Peers whose refusal is kept, at most; the oldest is dropped first. */
const MAX_KEPT = 256

export class RefusedByLog {
  private readonly byPeer = new Map<string, Refusal>()
  private readonly listeners = new Set<(peer: string, refusal: Refusal) => void>()

  constructor (private readonly log: Logger, private readonly metrics: AdmissionMetrics) {}

  /**
   * Hear every refusal: those already kept at once (a peer may refuse this
   * node before a listener that starts later subscribes), then each new one.
   */
  onRefusedBy (listener: (peer: string, refusal: Refusal) => void): () => void {
    this.listeners.add(listener)
    for (const [peer, r] of [...this.byPeer]) {
      try { listener(peer, r) } catch (err) { this.log.warn({ err }, 'refused-by listener failed') }
    }
    return () => { this.listeners.delete(listener) }
  }

  note (peer: string, r: { reason: string, detail: string }): void {
    const known = this.byPeer.get(peer)
    const refusal = { reason: r.reason as Refusal['reason'], detail: r.detail, at: Date.now() }
    this.byPeer.delete(peer)
    this.byPeer.set(peer, refusal)
    while (this.byPeer.size > MAX_KEPT) this.byPeer.delete(this.byPeer.keys().next().value as string)
    if (known?.reason === r.reason) return
    this.metrics.refusedBy.inc({ reason: REFUSAL_REASONS.includes(r.reason as Refusal['reason']) ? r.reason : 'other' })
    this.log.error({ peer, reason: r.reason }, `peer ${peer} refuses this node: ${r.reason}: ${r.detail}`)
    for (const l of this.listeners) {
      try { l(peer, refusal) } catch (err) { this.log.warn({ err }, 'refused-by listener failed') }
    }
  }

  list (): Array<{ peerId: string, reason: string, detail: string, at: string }> {
    return [...this.byPeer].map(([peerId, r]) => ({ peerId, reason: r.reason, detail: r.detail, at: new Date(r.at).toISOString() }))
  }
}
