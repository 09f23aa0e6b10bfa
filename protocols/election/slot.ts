/**
 * One role's slot of the election engine (election.ts), as an explicit state
 * machine: a named state, one step function per state, and transitions that
 * are the only places a state is entered or left. etcd raft's `stepLeader` /
 * `stepCandidate` / `stepFollower` behind `r.step` are the model.
 *
 *   learning ──learn period over──▶ idle
 *   idle ──winner, no other lease in force, view settled, claim reached a peer──▶ claiming
 *   claiming ──claimSettleMs passed, no higher token, still winner──▶ holding   (role:elected)
 *   claiming ──higher token, not winner, or lease ran out──▶ idle
 *   holding ──lease lapsed | contact lost | not winner (same winner for handoverSettleMs, view still) | superseded | stopping──▶ idle   (role:demoted)
 *
 * The step of the current state runs on the slot's timer and whenever
 * something changed (step-loop.ts runs one step at a time); it returns the
 * delay before the next step. A step may await I/O (sign, gossip, DHT), and
 * three events change the state synchronously meanwhile: a higher token
 * observed (`observed`), the lapse timer and `halt` all demote a holding slot
 * at once, so the role stops before anything else happens. A step therefore
 * re-reads the state after each await.
 *
 * `held`, this node's latest statement for the role, is data beside the state,
 * not a state: it outlives acting (a claim that lost, a lease we stopped
 * acting on), and an idle slot that is no longer the winner releases it.
 */
import { compareTokens, leaseStatus, type Lease, type SignedLease } from './lease.js'
import type { LeaseStatements } from './lease-writer.js'
import { StepLoop } from './step-loop.js'
import type { DemoteReason, SlotHost, SlotState, SlotStateName } from './slot-host.js'

export type { DemoteReason, SlotHost, SlotState, SlotStateName } from './slot-host.js'

export class RoleSlot {
  private current: SlotState = { name: 'learning' }
  /** Our latest statement that reached a peer: a claim, a renewal or a release. */
  private last: SignedLease | undefined
  /** When this slot last read its role from the DHT before claiming a term. */
  private resolvedAt: number | undefined
  /**
   * The contact deadline of the current holding (`holdingContactEnd`),
   * latched: only contact stamped before it extends it, so a holder that
   * passed it (a paused process) stays past it whatever arrives afterwards.
   */
  private contactDeadline: number | undefined
  /** Who has been the winner in our view since when, while it is not us (`handoverIn`). */
  private winnerSince: { peer: string, at: number } | undefined
  private readonly loop: StepLoop
  private readonly steps: Record<SlotStateName, () => Promise<number | undefined>> = {
    learning: async () => await this.stepLearning(),
    idle: async () => await this.stepIdle(),
    claiming: async () => await this.stepClaiming(),
    holding: async () => await this.stepHolding()
  }

  constructor (readonly role: string, private readonly h: SlotHost, private readonly writer: LeaseStatements) {
    this.loop = new StepLoop({
      step: async () => await this.step(),
      defaultDelay: h.renewDelay,
      onError: (err) => { h.logger.warn({ err, role }, 'election step failed') }
    })
  }

  get state (): SlotStateName { return this.current.name }

  /** This node's latest statement for the role. */
  get held (): SignedLease | undefined { return this.last }

  /** True while this node may act for the role. */
  get acting (): boolean { return this.actingLease() !== undefined }

  // ---- events ----

  /** The first step comes after `delayMs` (the learn period). */
  start (delayMs: number): void { this.loop.after(delayMs) }

  /** Something changed (membership, another holder's lease): step soon. */
  wake (): void { this.loop.wake() }

  /** A lease of this role went into the book: a higher token than ours demotes at once. */
  observed (sl: SignedLease): void {
    const held = this.last
    if (this.current.name !== 'holding' || held === undefined || compareTokens(sl.lease, held.lease) <= 0) return
    const { region, role, term, holder } = sl.lease
    this.h.logger.warn({ region, role, term, holder, ourTerm: held.lease.term }, 'role superseded by a higher fencing token')
    this.demote('superseded')
  }

  /**
   * Stop: no step starts any more and a holder stops acting at once;
   * resolves when the step in progress has finished.
   */
  async halt (): Promise<void> {
    const stepped = this.loop.halt()
    this.demote('stopping')
    await stepped
  }

  /** Hand the role over if our last statement is still in force (after halt: a stopping node's last word). */
  async releaseIfHeld (): Promise<void> {
    if (this.last !== undefined && leaseStatus(this.last.lease, this.h.now(), 0) === 'active') await this.release()
  }

  // ---- steps: one per state ----

  /** The step of the current state; resolves with the delay before the next (undefined: the renew interval). */
  async step (): Promise<number | undefined> {
    if (this.h.signal.aborted) return undefined
    return await this.steps[this.current.name]()
  }

  private async stepLearning (): Promise<number | undefined> {
    // Woken early, or the loop's timer fired a millisecond before the wall
    // clock reached the end (Node's timers run on a monotonic clock): step
    // again at the end, not a whole renew interval later.
    const left = this.h.learnUntil - this.h.now()
    if (left > 0) return left + 1
    this.current = { name: 'idle' }
    return await this.stepIdle()
  }

  private async stepIdle (): Promise<number | undefined> {
    const { config: cfg, region, self } = this.h
    const role = this.role
    const now = this.h.now()
    if (this.h.winner(role) !== self) {
      // A lease of ours from before this process started, still in force in
      // the book (lease sync brought it back: a restart before membership
      // declared the old run dead), is ours to release too, so the winner
      // does not wait up to a lease for it to lapse.
      const mine = this.h.book.get(region, role)
      if (this.last === undefined && mine?.lease.holder === self) this.last = mine
      await this.releaseIfHeld()
      return undefined
    }
    // Someone else's lease is in force: wait for its lapse or release (a
    // release or a membership change wakes us; a lapse due before the next
    // regular step is stepped to, so failover is not a renew interval late).
    if (this.otherInForce(now)) return this.untilLapse(now)
    // No member heard from for the contact lapse: a term we could not act
    // on. Membership's acks raise no event, so look again at the settle pace.
    if (now >= this.contactEnd()) return cfg.claimSettleMs
    // Do not start a new term on a view that is still moving (cold start,
    // flapping members); a role holderless for `unsettledClaimMs` claims anyway.
    const unsettled = cfg.viewSettleMs - (now - this.h.lastViewChange())
    if (unsettled > 0 && this.h.holderlessSeconds(role) * 1000 < cfg.unsettledClaimMs) return unsettled + 10
    // About to start a new term: learn the term history from the DHT first
    // (a lease gossiped before we joined), once per claim attempt series,
    // and again when the region's view changed since: members back from a
    // partition bring terms claimed while we were cut off, whose gossip
    // (a successor's release, say) may have passed before our mesh formed.
    if (this.resolvedAt === undefined || now - this.resolvedAt > cfg.leaseMs || this.resolvedAt < this.h.lastViewChange()) {
      // A connected member's book first: one request on a link we hold,
      // where the DHT walk dials. While a network forms, partial views make
      // many nodes the winner for a while, and most of them only lack the
      // holder's lease, which any member has (docs/performance.md,
      // eighteenth pass). The answer can only stop this claim, never make
      // one: the DHT is still read before any new term, and a read stopped
      // by the answer is not counted as done. Its own bound, so a starved
      // member cannot eat the DHT read's time.
      await this.h.askPeer(AbortSignal.any([this.h.signal, AbortSignal.timeout(cfg.claimSettleMs)]))
      if (this.h.signal.aborted) return undefined
      if (this.otherInForce(this.h.now())) return this.untilLapse(this.h.now())
      this.resolvedAt = this.h.now()
      const signal = AbortSignal.any([this.h.signal, AbortSignal.timeout(Math.min(cfg.dhtTimeoutMs, cfg.claimSettleMs * 3))])
      await this.h.resolve(role, signal).catch(() => undefined)
      if (this.h.signal.aborted || this.otherInForce(this.h.now())) return undefined
      // The read can outlast the contact lapse (a cut-off node's walk times out): judge contact again.
      if (this.h.now() >= this.contactEnd()) return cfg.claimSettleMs
    }
    // One above every term seen: the book, the persisted fence, our own last
    // statement. A claim that reached nobody went into none of them, so its
    // retry takes the same term: a cut-off node does not inflate terms.
    const term = 1 + Math.max(this.h.book.maxTerm(region, role), this.h.fencedTerm(role), this.last?.lease.term ?? 0)
    const signed = await this.h.sign(this.lease(term, now))
    if (!(await this.writer.publish(signed))) {
      this.h.unreachable(role, term, false)
      return undefined
    }
    this.stated(signed)
    // Stopping: the claim is released by the stop, never acted on.
    if (this.h.signal.aborted) return undefined
    // A new term: give a competing claim of the same or higher term time to arrive.
    this.current = { name: 'claiming', claim: signed, until: this.h.now() + cfg.claimSettleMs }
    return cfg.claimSettleMs
  }

  private async stepClaiming (): Promise<number | undefined> {
    if (this.current.name !== 'claiming') return undefined
    const { claim, until } = this.current
    const now = this.h.now()
    // Woken early (a membership change, someone's lease): decide only once the settle time has passed.
    if (now < until) return until - now
    const best = this.h.book.get(this.h.region, this.role)
    if (best !== undefined && compareTokens(best.lease, claim.lease) > 0) {
      this.h.logger.info({ role: this.role, term: claim.lease.term, winner: best.lease.holder }, 'lost a concurrent claim')
      this.current = { name: 'idle' }
      return await this.stepIdle()
    }
    if (this.h.winner(this.role) !== this.h.self || leaseStatus(claim.lease, now, this.h.config.maxClockSkewMs, true) !== 'active' || now >= this.contactEnd()) {
      this.current = { name: 'idle' }
      return await this.stepIdle()
    }
    this.activate(claim)
    return this.renewDelayFrom(now)
  }

  private async stepHolding (): Promise<number | undefined> {
    // Checked on every step, not only by the lapse timer: a blocked event
    // loop must not keep a lapsed holder acting.
    const held = this.actingLease()
    if (held === undefined) return await this.demoteAndStep(this.lapseReason())
    const now = this.h.now()
    // No longer the winner: hand over once the same member has been the
    // winner for the handover settle time and the view is still, not on
    // every newly closer member of a view that is still moving (constants.ts
    // `handoverSettleMs`). Membership changes wake the slot; the step at the
    // deadline hands over if nothing moved.
    const handoverIn = this.handoverIn(now)
    if (handoverIn !== undefined && handoverIn <= 0) return await this.demoteAndStep('not-winner')
    // No step later than the handover.
    const cap = handoverIn === undefined ? Infinity : handoverIn + 1
    if (this.otherInForce(now)) return await this.demoteAndStep('superseded')
    // Woken before the renewal is due: every holder used to renew on every
    // membership change, and during a join of 40 that made the lease topic
    // three times its steady rate (docs/performance.md, sixth pass). A
    // newcomer learns the holder by lease sync at its start, not from a
    // renewal.
    const untilRenewal = this.renewDelayFrom(now)
    // Re-arm the lapse timer: the contact's end moves (a node that knew no
    // member has one now, say), and a step is when we look.
    if (this.current.name === 'holding') this.hold(held, this.current.renewAt)
    if (untilRenewal !== undefined && untilRenewal > 0) return Math.min(untilRenewal, cap)
    // Renew: the same term, a fresh expiry. It counts only if it reached a
    // peer, so a cut-off holder stops when its last lease lapses.
    const term = held.lease.term
    const signed = await this.h.sign(this.lease(term, now))
    if (!(await this.writer.publish(signed))) {
      this.h.unreachable(this.role, term, true)
      return undefined
    }
    this.stated(signed)
    // Demoted meanwhile (superseded, stopping): nothing to re-arm.
    if (this.current.name !== 'holding') return undefined
    const delay = this.h.renewDelay()
    this.hold(signed, this.h.now() + delay)
    return Math.min(delay, cap)
  }

  // ---- transitions ----

  /** claiming → holding. */
  private activate (claim: SignedLease): void {
    if (this.h.signal.aborted) return
    this.contactDeadline = undefined
    this.hold(claim, this.h.now() + this.h.renewDelay())
    this.h.elected(claim.lease)
  }

  /**
   * Enter (or renew) holding, with the lapse timer of `held` and the next
   * renewal at `renewAt`. The timer fires when the lease or the contact
   * runs out, whichever is first; while members keep answering, it finds
   * the contact renewed and arms again.
   */
  private hold (held: SignedLease, renewAt: number): void {
    if (this.current.name === 'holding') clearTimeout(this.current.lapse)
    const ms = Math.min(held.lease.expiresAt - this.h.config.maxClockSkewMs, this.holdingContactEnd()) - this.h.now()
    const lapse = setTimeout(() => {
      // Node's timers run on a monotonic millisecond clock, `now` is the wall
      // clock: about one timer in eight fires a millisecond before `now`
      // reaches the lapse. Arm again for the rest rather than leave the
      // demotion to a step, which may be awaiting a DHT put for seconds
      // while the role's duty still runs (its actions already refused).
      const still = this.actingLease()
      if (still !== undefined && this.current.name === 'holding') { this.hold(still, this.current.renewAt); return }
      this.demote(this.lapseReason())
      this.loop.wake()
    }, Math.max(0, ms))
    this.current = { name: 'holding', lapse, renewAt }
  }

  /** Until the renewal of the lease we hold is due (undefined when not holding: the loop's default). */
  private renewDelayFrom (now: number): number | undefined {
    return this.current.name === 'holding' ? Math.max(0, this.current.renewAt - now) : undefined
  }

  /** holding → idle; nothing in any other state. */
  private demote (reason: DemoteReason): void {
    if (this.current.name !== 'holding') return
    clearTimeout(this.current.lapse)
    this.current = { name: 'idle' }
    this.h.demoted(this.role, this.last?.lease.term ?? 0, reason)
  }

  /** Demote, then take the step as idle (which hands over or waits). */
  private async demoteAndStep (reason: DemoteReason): Promise<number | undefined> {
    this.demote(reason)
    return await this.stepIdle()
  }

  // ---- helpers ----

  /**
   * Our lease while we act: holding, unexpired by our clock minus the skew
   * margin, and some member heard from within the contact lapse (minus the
   * same margin).
   */
  private actingLease (): SignedLease | undefined {
    const held = this.last
    if (this.current.name !== 'holding' || held === undefined) return undefined
    const now = this.h.now()
    return leaseStatus(held.lease, now, this.h.config.maxClockSkewMs, true) === 'active' && now < this.holdingContactEnd() ? held : undefined
  }

  /**
   * How long before a holder that is not the winner hands over (≤ 0: now);
   * undefined while it is the winner. The same member must have been the
   * winner for `handoverSettleMs` (a newly closer member restarts the wait,
   * other members coming and going do not, so a region whose view never
   * rests still hands over), and the view must be still for `viewSettleMs`,
   * so the winner, whose view is much the same, claims at once instead of
   * leaving the role without a holder while it waits for a still view.
   */
  private handoverIn (now: number): number | undefined {
    const winner = this.h.winner(this.role)
    if (winner === this.h.self || winner === undefined) {
      this.winnerSince = undefined
      return undefined
    }
    if (this.winnerSince?.peer !== winner) this.winnerSince = { peer: winner, at: now }
    const { handoverSettleMs, viewSettleMs } = this.h.config
    return Math.max(handoverSettleMs - (now - this.winnerSince.at), viewSettleMs - (now - this.h.lastViewChange()))
  }

  /** Until when the latest contact would let us act (Infinity when we know no other member): for a new claim. */
  private contactEnd (): number {
    const at = this.h.lastContact()
    return at === undefined ? Infinity : at + this.h.config.contactLapseMs - this.h.config.maxClockSkewMs
  }

  /**
   * `contactEnd` for the holding in progress, latched (`contactDeadline`).
   * A holder that knew no other member (a one-node cluster, Infinity) and
   * now knows some gets a whole contact lapse from that moment to hear from
   * one: none of them could have declared it gone before they knew it.
   */
  private holdingContactEnd (): number {
    const at = this.h.lastContact()
    if (at === undefined) return (this.contactDeadline = Infinity)
    const { contactLapseMs, maxClockSkewMs } = this.h.config
    if (this.contactDeadline === undefined) this.contactDeadline = this.contactEnd()
    else if (this.contactDeadline === Infinity) this.contactDeadline = Math.max(this.contactEnd(), this.h.now() + contactLapseMs - maxClockSkewMs)
    else if (at < this.contactDeadline) this.contactDeadline = Math.max(this.contactDeadline, this.contactEnd())
    return this.contactDeadline
  }

  /** Why `actingLease` no longer gives a lease: its expiry, or no member heard from. */
  private lapseReason (): DemoteReason {
    const held = this.last
    return held !== undefined && leaseStatus(held.lease, this.h.now(), this.h.config.maxClockSkewMs, true) === 'active' ? 'contact-lost' : 'lease-lapsed'
  }

  /**
   * The delay until another holder's lease in force lapses, when that is
   * due before the next regular step (failover is then not a renew
   * interval late); a release or a membership change wakes us earlier.
   */
  private untilLapse (now: number): number | undefined {
    const lapse = this.h.inForceUntil(this.h.book.get(this.h.region, this.role)!.lease) - now
    return lapse < this.h.config.renewIntervalMs ? lapse + 1 : undefined
  }

  private otherInForce (now: number): boolean {
    const best = this.h.book.get(this.h.region, this.role)
    return best !== undefined && best.lease.holder !== this.h.self && now < this.h.inForceUntil(best.lease)
  }

  private lease (term: number, now: number): Lease {
    return { v: 1, region: this.h.region, role: this.role, holder: this.h.self, term, issuedAt: now, expiresAt: now + this.h.config.leaseMs }
  }

  /** A statement of ours reached a peer: it is our latest word, and the book takes it. */
  private stated (signed: SignedLease): void {
    this.last = signed
    this.h.observe(signed)
  }

  private async release (): Promise<void> {
    const held = this.last
    if (held === undefined) return
    const now = Math.max(this.h.now(), held.lease.issuedAt + 1)
    const signed = await this.h.sign({ ...held.lease, issuedAt: now, expiresAt: now })
    this.stated(signed)
    await this.writer.release(signed)
    this.h.logger.info({ role: this.role, term: signed.lease.term }, 'lease released')
  }
}
