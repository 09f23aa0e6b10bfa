/**
 * The validator state machine: Tendermint's algorithm ("The latest gossip on
 * BFT consensus", Buchman, Kwon, Milosevic 2018, Algorithm 1) for one height
 * at a time, with no I/O of its own. Time comes from an injected `Clock`,
 * messages leave through an injected `ConsensusNetwork`, votes go to an
 * injected `Wal` (durable before they are sent), and decisions go to the
 * `CriticalState`. The simulator and the daemon run this same code.
 *
 * Rules (line numbers of Algorithm 1 in brackets; consensus-step.ts):
 *  - a round's proposer proposes its `validValue` or a fresh block [14-19];
 *  - prevote the proposal if valid and not locked on something else [22-33];
 *  - on a polka (2f+1 prevotes for v in this round): lock on v, precommit v,
 *    remember v as the valid value [36-43]; on 2f+1 nil prevotes precommit nil [44-46];
 *  - on 2f+1 precommits for v in any round: decide v [49-54];
 *  - on f+1 messages from a higher round: jump to it [55-56];
 *  - timeouts grow linearly with the round [57-65].
 * A lock is released only by a polka in a later round (the validRound check
 * of rule 28), which is what makes two quorums of precommits for different
 * values at one height impossible with at most f faulty validators.
 *
 * This file is the shell around the algorithm: one input queue, the height
 * lifecycle (the open height's state lives in one `HeightState`, replaced
 * whole when the chain moves on; height-state.ts), timers, catch-up and
 * evidence. An error escaping a step halts the instance (`status().fault`).
 *
 * Deviations, each safe: a height only becomes active when there is work (an
 * entry or a message), so an idle network sends nothing; a fresh proposal
 * (validRound -1) whose entries have expired gets a nil prevote, while a
 * re-proposal after a polka is judged without the clock (see docs/bft.md).
 */
import { setTimer } from '../../lib/clock.js'
import { MAX_BUFFERED_FUTURE_MESSAGES, MAX_ENTRY_TTL_MS, SYNC_BATCH } from './constants.js'
import { entryId, hex } from './crypto.js'
import { ConsensusHaltedError, InvalidEntryError } from './errors.js'
import { Mempool } from './mempool.js'
import { silentLogger, type BftLogger, type ConsensusFault, type ConsensusInit, type ConsensusStatus, type Evidence } from './consensus-types.js'
import { handleProposal, handleVote, progress, resendAll, wake, type StepContext } from './consensus-step.js'
import { cancelHeightTimers, newHeightState, type HeightState } from './height-state.js'
import type { Rejection } from './intake.js'
import { restoreHeight } from './wal-restore.js'
import type { BftMessage, Certificate, Entry } from './types.js'
import type { CriticalState } from './critical-state.js'

export { silentLogger } from './consensus-types.js'
export type { ConsensusNetwork, BftLogger, Evidence, ConsensusInit, Step, ConsensusStatus, ConsensusFault } from './consensus-types.js'

/** Equivocation evidence kept for status, oldest dropped first. */
const MAX_EVIDENCE_KEPT = 100
/** Per-peer rate-limit memory is dropped wholesale beyond this many peers. */
const MAX_TRACKED_PEERS = 4096

/** Errors by which a network message (not this node) is at fault: the message is dropped, nothing halts. */
const BAD_ENTRY = new Set(['InvalidEntryError', 'NotAdminError'])
const BAD_CERTIFICATE = 'InvalidCertificateError'

export class Consensus {
  private readonly s: CriticalState
  private readonly init: ConsensusInit
  private readonly log: BftLogger
  private queue: Promise<void> = Promise.resolve()
  private started = false
  private stopped = false

  /** The open height: everything that belongs to it, replaced whole by `followState`. */
  private hs: HeightState

  // What outlives a height:
  /** Pending entries; pruned of committed and expired ones at each new height. */
  private readonly mempool = new Mempool()
  /** Per-peer rate limits of catch-up (they are about peers, not heights). */
  private readonly lastSyncAsk = new Map<string, number>()
  private readonly lastSyncServe = new Map<string, number>()
  /** Validator → when (our clock, ms) we last accepted a vote or proposal from it; only current validators are kept. */
  private readonly lastHeard = new Map<string, number>()
  private readonly evidence: Evidence[] = []
  /** Set once, by `halt`; kept across stop/start: a halted instance never resumes. */
  private fault: ConsensusFault | null = null
  /** The error that halted it, as thrown (a damaged WAL names its file and recovery step). */
  private haltCause: unknown

  /** What the step functions (consensus-step.ts) act through. */
  private readonly ctx: StepContext
  private readonly onCommitEvent = (): void => { void this.run(async () => { await this.followState() }) }

  constructor (init: ConsensusInit) {
    this.init = init
    this.s = init.state
    this.log = init.logger ?? silentLogger
    this.hs = newHeightState(this.s.height() + 1)
    // `hs` and `running` are getters, not copies: the step functions must
    // always see the open height, which `followState` replaces.
    const self = this
    this.ctx = {
      init,
      s: init.state,
      log: this.log,
      mempool: this.mempool,
      get hs () { return self.hs },
      get running () { return self.running },
      isValidator: () => this.isValidator(),
      schedule: (ms, fn) => { this.schedule(ms, fn) },
      scheduleRebroadcast: () => { this.scheduleRebroadcast() },
      reject: (reason, detail) => { this.reject(reason, detail) },
      recordEvidence: (e) => { this.recordEvidence(e) },
      heard: (validator) => { this.lastHeard.set(validator, init.clock.now()) },
      followState: async () => { await this.followState() }
    }
  }

  /** Restore from the WAL and resume the open height. */
  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    this.stopped = false
    this.s.addEventListener('commit', this.onCommitEvent)
    await this.run(async () => {
      const height = this.s.height() + 1
      const restored = restoreHeight(await this.init.wal.load(), height, this.init.signer.id)
      cancelHeightTimers(this.hs)
      this.hs = newHeightState(height, restored)
      this.init.metrics?.height.set(this.s.height())
      if (restored.maxRound >= 0) {
        this.log.info({ height, round: restored.maxRound, votes: this.hs.myVotes.size }, 'bft: resuming height from WAL')
        await wake(this.ctx)
      }
    })
    // A WAL that cannot be read stops the start: never vote without it.
    if (this.fault !== null) throw this.haltCause
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.stopped = true
    this.s.removeEventListener('commit', this.onCommitEvent)
    cancelHeightTimers(this.hs)
    await this.queue
  }

  /** Resolves once no input is being processed (tests, shutdown). */
  async settled (): Promise<void> {
    let q: Promise<void>
    do {
      q = this.queue
      await q
    } while (q !== this.queue)
  }

  private get running (): boolean { return !this.stopped && this.fault === null }

  /**
   * Serialise every input: the state machine never runs two handlers at
   * once. An error escaping a handler is internal (network input is screened
   * and dropped before it can throw) and halts the instance.
   */
  private async run (fn: () => Promise<void>): Promise<void> {
    const next = this.queue.then(async () => { if (this.running) await fn() })
    this.queue = next.catch(err => { this.halt(err) })
    await this.queue
  }

  /**
   * Stop for good: cancel the height's timers, record why, tell the owner.
   * The step that failed may have stopped half-way (a vote signed but not
   * logged, a block decided but not applied), so no further step is safe.
   * A restart resumes from the WAL, which holds only completed steps.
   */
  private halt (err: unknown): void {
    const e = err instanceof Error ? err : new Error(String(err))
    const hs = this.hs
    this.fault = { name: e.name, error: e.message, height: hs.height, round: hs.round, at: this.init.clock.now() }
    this.haltCause = err
    cancelHeightTimers(hs)
    this.init.metrics?.halted.set(1)
    this.log.error({ err: e, height: hs.height, round: hs.round }, 'bft: consensus halted on an internal error; this node no longer votes or proposes until restarted')
    try {
      this.init.onHalt?.(this.fault, err)
    } catch (cbErr) {
      this.log.error({ err: cbErr }, 'bft: onHalt callback failed')
    }
  }

  isValidator (): boolean { return this.s.validatorsAt(this.hs.height).has(this.init.signer.id) }

  status (): ConsensusStatus {
    const hs = this.hs
    return {
      height: hs.height,
      round: hs.round,
      step: hs.step,
      active: hs.active,
      validator: this.isValidator(),
      lockedRound: hs.lockedRound,
      validRound: hs.validRound,
      pending: this.mempool.size,
      lastHeard: Object.fromEntries(this.lastHeard),
      evidence: [...this.evidence],
      fault: this.fault === null ? null : { ...this.fault }
    }
  }

  /**
   * Add an admin-signed entry to the pending set and share it with the other
   * validators. Throws InvalidEntryError / NotAdminError when it is unusable,
   * ConsensusHaltedError when this instance has halted.
   */
  async submit (e: Entry): Promise<string> {
    this.assertRunning()
    const id = entryId(this.s.chain, e)
    await this.s.validateEntry(e, this.s.height() + 1)
    this.checkExpiry(e)
    await this.run(async () => {
      if (this.mempool.add(id, e)) this.init.metrics?.pendingEntries.set(this.mempool.size)
      this.init.net.broadcast({ v: 1, kind: 'submit', entry: e })
      await wake(this.ctx)
      await progress(this.ctx)
    })
    return id
  }

  private assertRunning (): void {
    const f = this.fault
    if (f !== null) throw new ConsensusHaltedError(`consensus halted at height ${f.height} round ${f.round}: ${f.name}: ${f.error}`)
  }

  /** Network input. Never throws: bad input is counted and dropped. */
  async receive (from: string, msg: BftMessage): Promise<void> {
    this.init.metrics?.messagesReceived.inc({ kind: msg.kind })
    await this.run(async () => { await this.handle(from, msg) })
  }

  private reject (reason: Rejection, detail: object): void {
    this.init.metrics?.messagesRejected.inc({ reason })
    this.log.debug({ reason, ...detail }, 'bft: message rejected')
  }

  private checkExpiry (e: Entry): void {
    const now = this.init.clock.now()
    if (e.expiresAt <= now) throw new InvalidEntryError('entry has expired')
    if (e.expiresAt > now + MAX_ENTRY_TTL_MS) throw new InvalidEntryError(`entry expiry is more than ${MAX_ENTRY_TTL_MS} ms ahead`)
  }

  private async handle (from: string, msg: BftMessage): Promise<void> {
    switch (msg.kind) {
      case 'sync': { this.serveSync(from, msg.from); return }
      case 'commit': { await this.handleCommit(from, msg.certificate); return }
      case 'submit': { await this.handleSubmit(msg.entry); return }
      default: break
    }
    const hs = this.hs
    const h = msg.kind === 'vote' ? msg.vote.height : msg.proposal.height
    if (h < hs.height) {
      this.reject('stale_height', { height: h, from })
      this.serveSync(from, h)
      return
    }
    if (h > hs.height) {
      this.reject('future_height', { height: h, from })
      if (h === hs.height + 1 && hs.future.length < MAX_BUFFERED_FUTURE_MESSAGES) hs.future.push({ from, msg })
      this.askSync(from)
      return
    }
    if (msg.kind === 'vote') await handleVote(this.ctx, msg.vote)
    else await handleProposal(this.ctx, msg.proposal)
    await progress(this.ctx)
  }

  private async handleSubmit (e: Entry): Promise<void> {
    const id = entryId(this.s.chain, e)
    if (this.mempool.has(id) || this.s.isCommitted(id)) return
    try {
      await this.s.validateEntry(e, this.s.height() + 1)
      this.checkExpiry(e)
    } catch (err) {
      if (!BAD_ENTRY.has((err as Error).name)) throw err
      this.reject('invalid_entry', { err: (err as Error).message })
      return
    }
    if (this.mempool.add(id, e)) this.init.metrics?.pendingEntries.set(this.mempool.size)
    await wake(this.ctx)
    await progress(this.ctx)
  }

  private async handleCommit (from: string, cert: Certificate): Promise<void> {
    const h = cert.block.height
    if (h <= this.s.height()) return
    if (h > this.s.height() + 1) { this.askSync(from); return }
    try {
      if (await this.s.commit(cert)) this.init.metrics?.certificatesApplied.inc({ source: 'consensus' })
    } catch (err) {
      // A certificate that does not verify is the sender's fault; anything
      // else (the block store failed) is ours.
      if ((err as Error).name !== BAD_CERTIFICATE) throw err
      this.reject('invalid_certificate', { from, err: (err as Error).message })
      return
    }
    await this.followState()
  }

  private recordEvidence (e: Evidence): void {
    this.init.metrics?.equivocations.inc()
    this.init.metrics?.messagesRejected.inc({ reason: 'equivocation' })
    this.evidence.push(e)
    if (this.evidence.length > MAX_EVIDENCE_KEPT) this.evidence.shift()
    this.init.onEvidence?.(e)
    this.log.warn({
      validator: e.validator, height: e.height, round: e.round, kind: e.kind,
      first: e.first === null ? 'nil' : hex(e.first), second: e.second === null ? 'nil' : hex(e.second)
    }, 'bft: equivocation detected')
  }

  /** Ask `peer` for the certificates we lack (rate-limited per peer). */
  private askSync (peer: string): void {
    const now = this.init.clock.now()
    if (now - (this.lastSyncAsk.get(peer) ?? -Infinity) < this.init.timeouts.syncRetryMs) return
    if (this.lastSyncAsk.size > MAX_TRACKED_PEERS) this.lastSyncAsk.clear()
    this.lastSyncAsk.set(peer, now)
    this.init.net.send(peer, { v: 1, kind: 'sync', from: this.s.height() + 1 })
  }

  /** A peer is behind: send it certificates from `from` (rate-limited per peer). */
  private serveSync (peer: string, from: number): void {
    if (from > this.s.height()) return
    const now = this.init.clock.now()
    if (now - (this.lastSyncServe.get(peer) ?? -Infinity) < this.init.timeouts.syncRetryMs / 2) return
    if (this.lastSyncServe.size > MAX_TRACKED_PEERS) this.lastSyncServe.clear()
    this.lastSyncServe.set(peer, now)
    for (let h = from; h <= Math.min(this.s.height(), from + SYNC_BATCH - 1); h++) {
      const c = this.s.certificate(h)
      if (c !== undefined) this.init.net.send(peer, { v: 1, kind: 'commit', certificate: c })
    }
  }

  // ---- height lifecycle --------------------------------------------------

  /**
   * The state moved on (our decision, gossip or catch-up): replace the height
   * state with a fresh one for the next height. Nothing of the old object
   * survives except its buffer of messages for the new height.
   */
  private async followState (): Promise<void> {
    const old = this.hs
    if (this.s.height() < old.height) return
    if (old.active) {
      this.init.metrics?.commitLatency.observe((this.init.clock.now() - old.activeSince) / 1000)
      this.init.metrics?.roundsPerHeight.observe(old.round + 1)
    }
    cancelHeightTimers(old)
    const hs = newHeightState(this.s.height() + 1)
    this.hs = hs
    const set = this.s.validatorsAt(hs.height)
    for (const v of this.lastHeard.keys()) if (!set.has(v)) this.lastHeard.delete(v)
    const now = this.init.clock.now()
    this.mempool.prune((id, e) => !this.s.isCommitted(id) && e.expiresAt > now)
    this.init.metrics?.pendingEntries.set(this.mempool.size)
    this.init.metrics?.height.set(this.s.height())
    this.init.metrics?.round.set(0)
    // Forget our votes of decided heights only once their blocks are durable
    // here: otherwise a crash could bring us back to such a height with no
    // memory of how we voted. Done in batches: stale records are ignored on
    // replay, and every rewrite costs fsyncs.
    if (this.init.wal.wantsPrune(hs.height)) {
      await this.s.flush()
      await this.init.wal.prune(hs.height)
    }
    if (this.mempool.size > 0) await wake(this.ctx)
    for (const { from, msg } of old.future) await this.handle(from, msg)
  }

  // ---- timers ------------------------------------------------------------

  /** A timer of the open height: cancelled with it, run through the input queue. */
  private schedule (ms: number, fn: () => Promise<void>): void {
    const hs = this.hs
    const cancel = setTimer(this.init.clock, ms, () => {
      hs.timers.delete(cancel)
      void this.run(fn)
    })
    hs.timers.add(cancel)
  }

  /** Lost messages are re-sent while a height is open: our votes and proposal, pending entries. */
  private scheduleRebroadcast (): void {
    const hs = this.hs
    hs.rebroadcast?.()
    hs.rebroadcast = setTimer(this.init.clock, this.init.timeouts.rebroadcastMs, () => {
      hs.rebroadcast = undefined
      void this.run(async () => {
        if (hs !== this.hs || !hs.active) return
        resendAll(this.ctx)
        this.scheduleRebroadcast()
      })
    })
  }

  /**
   * Re-send what a peer needs to catch up with this height now, e.g. when a
   * connection to a validator opens (start-up, a restarted validator) instead
   * of waiting for the next rebroadcast.
   */
  async nudge (): Promise<void> {
    await this.run(async () => { if (this.hs.active) resendAll(this.ctx) })
  }
}
