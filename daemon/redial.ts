/**
 * Joining through bootstrap peers. @libp2p/bootstrap dials once and never
 * retries (STACK-NOTES): under load many first dials time out and a node
 * stays alone forever. This loop dials the bootstrap peers, with exponential
 * backoff and jitter between rounds, for as long as we know no live member,
 * and again whenever we become isolated.
 *
 * One at a time: a round tries the addresses in a random order and starts
 * the next one when a dial fails, or when it has not let us in (connected,
 * admitted, and the join exchange brought a live member) within
 * `staggerMs`, as RFC 8305 staggers connection attempts. One bootstrap peer
 * that lets us in teaches us the whole membership; dialing every one of them
 * at once, as libp2p's bootstrap module does, cost each joiner a connection,
 * a push-pull and the catch-ups per address, and put every joiner's
 * handshakes on the same few peers (docs/performance.md, sixteenth pass).
 * memberlist's `Join` contacts every address given, which also merges
 * clusters that formed apart; here, once joined, a bootstrap peer that is not
 * a member we know gets one dial (at the next look after `staggerMs`).
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
import { shuffled } from '../lib/random.js'

/** Warn again about an address failing for the same reason after this long, ms (each change of reason warns at once). */
export const BOOTSTRAP_WARN_EVERY_MS = 60_000

export interface RedialInit {
  bootstrap: string[]
  minBackoffMs: number
  maxBackoffMs: number
  /** True while we are connected to the cluster; the loop idles then. */
  isJoined: () => boolean
  /** Whether `peer` is a member we know (alive or suspect): joined, such a bootstrap peer needs no dial. */
  isMember?: (peer: string) => boolean
  /** The next address of a round once this one has not let us in for this long, ms (see above). @default minBackoffMs */
  staggerMs?: number
  /**
   * Joined, look again after a membership change at most this often, ms
   * (the profile's `redialLookGapMs`). While a network forms, changes arrive
   * by the thousand a minute (joins, suspicions and their refutations), and a
   * look on each one (the alive members listed, the connections scanned, a
   * timer and an abort signal made) was ≈ 3 % of an agent's CPU then
   * (docs/performance.md, twenty-fifth pass). @default minBackoffMs
   */
  lookGapMs?: number
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
  /**
   * `connected`: the last dial reached an admitted agent; `failing`: it did not; `member`: not dialed, its
   * peer is a member we know already (we joined through another); `untried`: not dialed yet.
   */
  state: 'connected' | 'failing' | 'member' | 'untried'
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
  /** Ends the current `untilChange` wait: a membership change, or a bootstrap dial that settled. */
  private wake?: () => void
  /** A membership change since the last look (it may have come while no wait was listening). */
  private changed = false
  private offChange?: () => void
  private readonly stagger: number
  /** Since when we have been joined (for the one dial to a bootstrap peer that is not a member). */
  private joinedSince?: number
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
    this.stagger = init.staggerMs ?? init.minBackoffMs
    this.failures = metricsOn(init.registry).counter({
      name: 'mycel_bootstrap_dial_failures_total',
      help: 'Failed dials to bootstrap peers, by reason (refused, timeout, handshake_failed, wrong_peer_id, genesis_mismatch, ...)',
      labelNames: ['reason'] as const
    })
  }

  start (): void {
    if (this.controller !== undefined || this.addrs.length === 0) return
    this.controller = new AbortController()
    this.offChange = this.init.onChange?.(() => { this.changed = true; this.wake?.() })
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
      // This look sees every change made so far.
      this.changed = false
      if (this.init.isJoined()) {
        this.joinedSince ??= Date.now()
        this.noteConnected()
        await this.dialStranger(signal)
        // Joined: rest until membership changes (or, without its events, the next backoff),
        // but at least the look gap: changes come in bursts, and those of the gap make the next look.
        if (this.init.onChange === undefined) {
          await this.untilChange(this.backoff, signal)
          continue
        }
        await sleep(this.init.lookGapMs ?? this.init.minBackoffMs, signal)
        if (!this.changed && !signal.aborted) await this.untilChange(this.init.maxBackoffMs, signal)
        continue
      }
      this.joinedSince = undefined
      const ok = await this.round(signal)
      if (signal.aborted) return
      if (ok) {
        this.backoff = this.init.minBackoffMs
      } else {
        this.logger.debug({ backoffMs: this.backoff }, 'no bootstrap peer reachable; retrying')
        this.backoff = Math.min(this.backoff * 2, this.init.maxBackoffMs)
      }
      await sleep(Math.round(jittered(this.backoff, 0.5)), signal)
    }
  }

  /**
   * One round: the addresses in a random order, the next one started when a
   * dial fails or has not let us in within `staggerMs` (see the top); no new
   * dial once we are joined. True if any dial reached an admitted agent.
   * Waits for the dials it started (each bounded by its own deadline).
   */
  private async round (signal: AbortSignal): Promise<boolean> {
    const dials: Array<Promise<boolean>> = []
    for (const a of shuffled(this.addrs)) {
      if (signal.aborted || this.init.isJoined()) break
      let reached: boolean | undefined
      // A dial that settles ends the wait below as a membership change does (a later wait it wakes just looks again).
      const dial = this.dial(a, signal).then(ok => { reached = ok; this.wake?.(); return ok })
      dials.push(dial)
      const deadline = Date.now() + this.stagger
      // This address's turn: until its dial fails, or the stagger passes without a join.
      while (!signal.aborted && !this.init.isJoined() && Date.now() < deadline && reached !== false) {
        await this.untilChange(deadline - Date.now(), signal)
      }
    }
    return (await Promise.all(dials)).some(ok => ok)
  }

  /** Sleeps `ms`, or until `wake` is called (a membership change, a settled dial), or until `signal` aborts. */
  private async untilChange (ms: number, signal: AbortSignal): Promise<void> {
    const woken = new AbortController()
    const wake = (): void => { woken.abort() }
    this.wake = wake
    try {
      await sleep(Math.max(0, ms), AbortSignal.any([signal, woken.signal]))
    } finally {
      // A stopped loop's last wait must not unset the wake of a loop started since.
      if (this.wake === wake) this.wake = undefined
    }
  }

  /**
   * Joined for `staggerMs` (the join exchange has brought what the peer we
   * joined through knows): one dial to one bootstrap peer that was never
   * dialed and is no member we know, so that clusters that formed apart
   * merge, as memberlist's `Join` of every address does (noteConnected has
   * marked the ones we know as members).
   */
  private async dialStranger (signal: AbortSignal): Promise<void> {
    if (this.joinedSince === undefined || Date.now() - this.joinedSince < this.stagger) return
    const stranger = this.addrs.find(a => a.status.state === 'untried')
    if (stranger !== undefined) await this.dial(stranger, signal)
  }

  /**
   * Record the addresses whose peer we are connected to and admitted, though
   * this loop did not dial them (the peer dialed us, or membership did): else
   * `mycel status` would say `untried` for a peer we are connected to. An
   * address never dialed whose peer is a member we know becomes `member`.
   */
  private noteConnected (): void {
    for (const a of this.addrs) {
      const peer = a.status.peerId
      if (peer === null || a.status.state === 'connected') continue
      if (a.status.state === 'untried' && this.init.isMember?.(peer) === true) {
        // We joined through another bootstrap peer, and this one is in the membership it brought.
        a.status.state = 'member'
        continue
      }
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
