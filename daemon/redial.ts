/**
 * @libp2p/bootstrap dials once and never retries (STACK-NOTES): under load
 * many first dials time out and a node stays alone forever. This loop keeps
 * dialing the bootstrap peers with exponential backoff and jitter for as
 * long as we know no live member, and again whenever we become isolated.
 *
 * Failing to join must not be silent: every failed dial is classified
 * (dial-errors.ts: refused, timeout, handshake failed, wrong peer id, ...;
 * or the admission refusal when the peer belongs to another network),
 * counted in `mycel_bootstrap_dial_failures_total{reason}`, logged as a
 * warning per address (again when the reason changes, else at most once per
 * `warnEveryMs`), and kept per address for `mycel status`.
 */
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { Counter, Registry } from 'prom-client'
import { metricsOn } from '../lib/metrics.js'
import type { Logger } from 'pino'
import type { MycelNode } from './node.js'
import type { Startable } from '../lib/lifecycle.js'
import { classifyDialError, dialProgress, type DialFailure } from './dial-errors.js'
import type { PeerAdmission, RefusalReason } from '../lib/peer-admission.js'
import { jittered, sleep } from '../lib/clock.js'

/** Warn again about an address failing for the same reason after this long, ms (each change of reason warns at once). */
export const BOOTSTRAP_WARN_EVERY_MS = 60_000

export interface RedialInit {
  bootstrap: string[]
  minBackoffMs: number
  maxBackoffMs: number
  /** True while we are connected to the cluster; the loop idles then. */
  isJoined: () => boolean
  /**
   * Calls `wake` on every change that may end the join (membership events);
   * returns the unsubscribe. A joined node then looks again on each change,
   * and otherwise only every `maxBackoffMs`, instead of every backoff (two
   * wake-ups a second on an idle agent), which is what it does without this.
   */
  onChange?: (wake: () => void) => () => void
  /** Admission verdicts: a dial that connects joins nothing if the peer is refused. */
  admission?: PeerAdmission
  /** @default BOOTSTRAP_WARN_EVERY_MS */
  warnEveryMs?: number
  registry?: Registry
}

export type BootstrapFailureReason = DialFailure['reason'] | RefusalReason

export interface BootstrapStatus {
  addr: string
  /** The peer id the address names (its /p2p/ part), if any. */
  peerId: string | null
  /** `connected`: the last dial reached an admitted agent; `failing`: it did not; `untried`: not dialed yet. */
  state: 'connected' | 'failing' | 'untried'
  attempts: number
  failures: number
  lastAttemptAt: string | null
  lastSuccessAt: string | null
  lastError: { reason: BootstrapFailureReason, message: string, at: string } | null
}

interface AddrState {
  ma: Multiaddr
  status: BootstrapStatus
  lastWarnAt: number
}

export class Redialer implements Startable {
  private controller?: AbortController
  private readonly addrs: AddrState[]
  private backoff: number
  /** Aborted by a membership change while the loop rests joined. */
  private rested?: AbortController
  private offChange?: () => void
  private readonly failures: Counter<'reason'>
  dialsTotal = 0

  constructor (private readonly init: RedialInit, private readonly node: MycelNode, private readonly logger: Logger) {
    this.addrs = init.bootstrap.map(a => {
      const ma = multiaddr(a)
      return {
        ma,
        lastWarnAt: 0,
        status: { addr: a, peerId: ma.getComponents().findLast(c => c.name === 'p2p')?.value ?? null, state: 'untried', attempts: 0, failures: 0, lastAttemptAt: null, lastSuccessAt: null, lastError: null }
      }
    })
    this.backoff = init.minBackoffMs
    this.failures = metricsOn(init.registry).counter({
      name: 'mycel_bootstrap_dial_failures_total',
      help: 'Failed dials to bootstrap peers, by reason (refused, timeout, handshake_failed, wrong_peer_id, genesis_mismatch, ...)',
      labelNames: ['reason'] as const
    })
  }

  start (): void {
    if (this.controller !== undefined || this.addrs.length === 0) return
    this.controller = new AbortController()
    this.offChange = this.init.onChange?.(() => { this.rested?.abort() })
    void this.loop(this.controller.signal)
  }

  stop (): void {
    this.offChange?.()
    this.offChange = undefined
    this.controller?.abort()
    this.controller = undefined
  }

  /** Per bootstrap address: the last outcome (for `GET /v1/status`). */
  status (): BootstrapStatus[] {
    return this.addrs.map(a => ({ ...a.status, lastError: a.status.lastError === null ? null : { ...a.status.lastError } }))
  }

  private async loop (signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      if (this.init.isJoined()) {
        this.noteConnected()
        // Joined: rest until membership changes (or, without its events, the next backoff).
        const rested = new AbortController()
        this.rested = rested
        await sleep(this.init.onChange !== undefined ? this.init.maxBackoffMs : this.backoff, AbortSignal.any([signal, rested.signal]))
        this.rested = undefined
        continue
      }
      const results = await Promise.all(this.addrs.map(async a => await this.dial(a, signal)))
      if (signal.aborted) return
      if (results.some(ok => ok)) {
        this.backoff = this.init.minBackoffMs
      } else {
        this.logger.debug({ backoffMs: this.backoff }, 'no bootstrap peer reachable; retrying')
        this.backoff = Math.min(this.backoff * 2, this.init.maxBackoffMs)
      }
      await sleep(Math.round(jittered(this.backoff, 0.5)), signal)
    }
  }

  /**
   * libp2p's bootstrap module dials these addresses once at start, before this
   * loop runs: when that dial joined us, the loop never dials, so record the
   * addresses whose peer we are connected to and admitted (else `mycel status`
   * would say `untried` for the peer we joined through).
   */
  private noteConnected (): void {
    for (const a of this.addrs) {
      const peer = a.status.peerId
      if (peer === null || a.status.state === 'connected') continue
      if (!this.node.getConnections().some(c => c.remotePeer.toString() === peer)) continue
      if (this.init.admission !== undefined && !this.init.admission.isAdmitted(peer)) continue
      this.succeed(a)
    }
  }

  private succeed (a: AddrState): void {
    if (a.status.state === 'failing') this.logger.info({ addr: a.status.addr, failures: a.status.failures }, `bootstrap peer ${a.status.addr} reachable again`)
    a.status.state = 'connected'
    a.status.lastSuccessAt = new Date().toISOString()
  }

  /** One dial to one address, its verdict recorded; never throws. */
  private async dial (a: AddrState, signal: AbortSignal): Promise<boolean> {
    this.dialsTotal++
    a.status.attempts++
    a.status.lastAttemptAt = new Date().toISOString()
    const deadline = AbortSignal.any([signal, AbortSignal.timeout(this.init.maxBackoffMs)])
    const progress = dialProgress()
    let peer: string
    try {
      const conn = await this.node.dial(a.ma, { signal: deadline, onProgress: progress.onProgress })
      peer = conn.remotePeer.toString()
    } catch (err) {
      if (signal.aborted) return false
      // Dials to a peer that admission refused are denied by our own gater: say why it was refused.
      const refusal = a.status.peerId !== null ? this.init.admission?.refusal(a.status.peerId) : undefined
      this.fail(a, refusal !== undefined ? { reason: refusal.reason, message: `refused at admission: ${refusal.detail}` } : classifyDialError(err, progress.stage()))
      return false
    }
    if (this.init.admission !== undefined && !await this.init.admission.admit(peer, signal)) {
      if (signal.aborted) return false
      const refusal = this.init.admission.refusal(peer)
      this.fail(a, refusal !== undefined
        ? { reason: refusal.reason, message: `refused at admission: ${refusal.detail}` }
        : { reason: 'handshake_failed', message: 'connected, but the admission handshake gave no verdict in time' })
      return false
    }
    this.succeed(a)
    return true
  }

  private fail (a: AddrState, f: { reason: BootstrapFailureReason, message: string }): void {
    const now = Date.now()
    const changed = a.status.lastError?.reason !== f.reason || a.status.state !== 'failing'
    a.status.state = 'failing'
    a.status.failures++
    a.status.lastError = { reason: f.reason, message: f.message, at: new Date(now).toISOString() }
    this.failures.inc({ reason: f.reason })
    const fields = { addr: a.status.addr, reason: f.reason, failures: a.status.failures }
    const line = `cannot join through bootstrap peer ${a.status.addr}: ${f.reason}: ${f.message}`
    if (changed || now - a.lastWarnAt >= (this.init.warnEveryMs ?? BOOTSTRAP_WARN_EVERY_MS)) {
      a.lastWarnAt = now
      this.logger.warn(fields, line)
    } else {
      this.logger.debug(fields, line)
    }
  }
}
