/**
 * The validator state machine: Tendermint's algorithm ("The latest gossip on
 * BFT consensus", Buchman, Kwon, Milosevic 2018, Algorithm 1) for one height
 * at a time, with no I/O of its own. Time comes from an injected `Clock`,
 * messages leave through an injected `ConsensusNetwork`, votes go to an
 * injected `Wal` (durable before they are sent), and decisions go to the
 * `CriticalState`. The simulator and the daemon run this same code.
 *
 * Rules (line numbers of Algorithm 1 in brackets):
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
 * Deviations, each safe: a height only becomes active when there is work (an
 * entry or a message), so an idle network sends nothing; a fresh proposal
 * (validRound -1) whose entries have expired gets a nil prevote, while a
 * re-proposal after a polka is judged without the clock (see docs/bft.md).
 */
import { MAX_BUFFERED_FUTURE_MESSAGES, MAX_ENTRY_TTL_MS, SYNC_BATCH } from './constants.js'
import { buildCertificate } from './certificate.js'
import { blockHash, bytesEqual, entryId, hex, proposalSignBytes, PROPOSAL_DOMAIN, voteSignBytes, VOTE_DOMAIN } from './crypto.js'
import { Mempool } from './mempool.js'
import { buildBlock, isValidBlock } from './block-rules.js'
import { silentLogger, type BftLogger, type ConsensusInit, type ConsensusStatus, type Evidence, type Step } from './consensus-types.js'
import { HeightVotes } from './vote-set.js'
import { screenProposal, screenVote, type IntakeView, type Rejection } from './intake.js'
import { restoreHeight } from './wal-restore.js'
import { PRECOMMIT, PREVOTE, type BftMessage, type Block, type Certificate, type Entry, type Proposal, type Vote, type VoteType } from './types.js'
import type { CriticalState } from './critical-state.js'

export { silentLogger } from './consensus-types.js'
export type { Clock, ConsensusNetwork, BftLogger, Evidence, ConsensusInit, Step, ConsensusStatus } from './consensus-types.js'

const MAX_EVIDENCE_KEPT = 100
/** Per-peer rate-limit memory is dropped wholesale beyond this many peers. */
const MAX_TRACKED_PEERS = 4096

export class Consensus {
  private readonly s: CriticalState
  private readonly init: ConsensusInit
  private readonly log: BftLogger
  private readonly mempool = new Mempool()
  private queue: Promise<void> = Promise.resolve()
  private started = false
  private stopped = false

  private height = 1
  private round = 0
  private step: Step = 'propose'
  private active = false
  private activeSince = 0
  private lockedValue: Block | null = null
  private lockedRound = -1
  private validValue: Block | null = null
  private validRound = -1
  private votes = new HeightVotes()
  private proposals = new Map<number, Proposal>()
  private blocks = new Map<string, Block>()
  private validity = new Map<string, boolean>()
  private myVotes = new Map<string, Vote>()
  private myProposals = new Map<number, Proposal>()
  private prevoteWait = new Set<number>()
  private precommitWait = new Set<number>()
  private polkaSeen = new Set<number>()
  private timers = new Set<() => void>()
  private rebroadcastTimer?: () => void
  private future: Array<{ from: string, msg: BftMessage }> = []
  private readonly lastSyncAsk = new Map<string, number>()
  private readonly lastSyncServe = new Map<string, number>()
  /** Validator → when (our clock, ms) we last accepted a vote or proposal from it; only current validators are kept. */
  private readonly lastHeard = new Map<string, number>()
  private readonly evidence: Evidence[] = []
  private readonly onCommitEvent = (): void => { void this.run(async () => { await this.followState() }) }

  constructor (init: ConsensusInit) {
    this.init = init
    this.s = init.state
    this.log = init.logger ?? silentLogger
  }

  /** Restore from the WAL and resume the open height. */
  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    this.stopped = false
    this.height = this.s.height() + 1
    this.s.addEventListener('commit', this.onCommitEvent)
    await this.run(async () => {
      const r = restoreHeight(await this.init.wal.load(), this.height, this.init.signer.id)
      this.myVotes = r.myVotes
      this.myProposals = r.myProposals
      for (const [round, p] of r.myProposals) this.proposals.set(round, p)
      for (const v of r.votes) this.votes.add(v)
      this.blocks = r.blocks
      // Our own latest non-nil precommit is our lock.
      if (r.lock !== null) {
        this.lockedValue = r.lock.block; this.lockedRound = r.lock.round
        this.validValue = r.lock.block; this.validRound = r.lock.round
      }
      const maxRound = r.maxRound
      this.init.metrics?.height.set(this.s.height())
      if (maxRound >= 0) {
        this.round = maxRound
        this.log.info({ height: this.height, round: maxRound, votes: this.myVotes.size }, 'bft: resuming height from WAL')
        await this.wake()
      }
    })
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.stopped = true
    this.s.removeEventListener('commit', this.onCommitEvent)
    this.cancelTimers()
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

  /** Serialise every input: the state machine never runs two handlers at once. */
  private async run (fn: () => Promise<void>): Promise<void> {
    const next = this.queue.then(async () => { if (!this.stopped) await fn() })
    this.queue = next.catch(err => { this.log.error({ err }, 'bft: consensus step failed') })
    await this.queue
  }

  isValidator (): boolean { return this.s.validatorsAt(this.height).has(this.init.signer.id) }

  status (): ConsensusStatus {
    return {
      height: this.height,
      round: this.round,
      step: this.step,
      active: this.active,
      validator: this.isValidator(),
      lockedRound: this.lockedRound,
      validRound: this.validRound,
      pending: this.mempool.size,
      lastHeard: Object.fromEntries(this.lastHeard),
      evidence: [...this.evidence]
    }
  }

  /**
   * Add an admin-signed entry to the pending set and share it with the other
   * validators. Throws InvalidEntryError / NotAdminError when it is unusable.
   */
  async submit (e: Entry): Promise<string> {
    const id = entryId(this.s.chain, e)
    await this.s.validateEntry(e, this.s.height() + 1)
    this.checkExpiry(e)
    await this.run(async () => {
      if (this.mempool.add(id, e)) this.init.metrics?.pendingEntries.set(this.mempool.size)
      this.init.net.broadcast({ v: 1, kind: 'submit', entry: e })
      await this.wake()
      await this.progress()
    })
    return id
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
    if (e.expiresAt <= now) throw new RangeError('entry has expired')
    if (e.expiresAt > now + MAX_ENTRY_TTL_MS) throw new RangeError(`entry expiry is more than ${MAX_ENTRY_TTL_MS} ms ahead`)
  }

  private async handle (from: string, msg: BftMessage): Promise<void> {
    switch (msg.kind) {
      case 'sync': { this.serveSync(from, msg.from); return }
      case 'commit': { await this.handleCommit(from, msg.certificate); return }
      case 'submit': { await this.handleSubmit(msg.entry); return }
      default: break
    }
    const h = msg.kind === 'vote' ? msg.vote.height : msg.proposal.height
    if (h < this.height) {
      this.reject('stale_height', { height: h, from })
      this.serveSync(from, h)
      return
    }
    if (h > this.height) {
      this.reject('future_height', { height: h, from })
      if (h === this.height + 1 && this.future.length < MAX_BUFFERED_FUTURE_MESSAGES) this.future.push({ from, msg })
      this.askSync(from)
      return
    }
    if (msg.kind === 'vote') await this.handleVote(msg.vote)
    else await this.handleProposal(msg.proposal)
    await this.progress()
  }

  private async handleSubmit (e: Entry): Promise<void> {
    const id = entryId(this.s.chain, e)
    if (this.mempool.has(id) || this.s.isCommitted(id)) return
    try {
      await this.s.validateEntry(e, this.s.height() + 1)
      this.checkExpiry(e)
    } catch (err) {
      this.reject('invalid_entry', { err: (err as Error).message })
      return
    }
    if (this.mempool.add(id, e)) this.init.metrics?.pendingEntries.set(this.mempool.size)
    await this.wake()
    await this.progress()
  }

  private async handleCommit (from: string, cert: Certificate): Promise<void> {
    const h = cert.block.height
    if (h <= this.s.height()) return
    if (h > this.s.height() + 1) { this.askSync(from); return }
    try {
      if (await this.s.commit(cert)) this.init.metrics?.certificatesApplied.inc({ source: 'consensus' })
    } catch (err) {
      this.reject('invalid_certificate', { from, err: (err as Error).message })
      return
    }
    await this.followState()
  }

  private intakeView (): IntakeView {
    return { state: this.s, verify: this.init.verify, votes: this.votes, height: this.height, round: this.round }
  }

  private async handleVote (v: Vote): Promise<void> {
    const why = await screenVote(this.intakeView(), v)
    if (why !== undefined) { this.reject(why, { validator: v.validator, round: v.round }); return }
    const res = this.votes.add(v)
    if (res.kind === 'duplicate') return
    if (res.kind === 'equivocation') {
      this.recordEvidence({ kind: 'vote', validator: v.validator, height: v.height, round: v.round, first: res.first.blockHash, second: v.blockHash, at: this.init.clock.now() })
      if (!res.counted) return
    }
    this.lastHeard.set(v.validator, this.init.clock.now())
    await this.wake()
  }

  private async handleProposal (p: Proposal): Promise<void> {
    const why = await screenProposal(this.intakeView(), p)
    if (why !== undefined) { this.reject(why, { proposer: p.proposer, round: p.round }); return }
    const hash = blockHash(p.block)
    const have = this.proposals.get(p.round)
    if (have !== undefined) {
      const haveHash = blockHash(have.block)
      if (!bytesEqual(haveHash, hash) || have.validRound !== p.validRound) {
        this.recordEvidence({ kind: 'proposal', validator: p.proposer, height: p.height, round: p.round, first: haveHash, second: hash, at: this.init.clock.now() })
      }
      return
    }
    this.proposals.set(p.round, p)
    this.blocks.set(hex(hash), p.block)
    this.votes.noteSender(p.round, p.proposer)
    this.lastHeard.set(p.proposer, this.init.clock.now())
    await this.wake()
  }

  private recordEvidence (e: Evidence): void {
    this.init.metrics?.equivocations.inc()
    this.init.metrics?.messagesRejected.inc({ reason: 'equivocation' })
    this.evidence.push(e)
    if (this.evidence.length > MAX_EVIDENCE_KEPT) this.evidence.shift()
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

  /** The state moved on (our decision, gossip or catch-up): open the next height. */
  private async followState (): Promise<void> {
    if (this.s.height() < this.height) return
    const decidedRound = this.round
    if (this.active) {
      this.init.metrics?.commitLatency.observe((this.init.clock.now() - this.activeSince) / 1000)
      this.init.metrics?.roundsPerHeight.observe(decidedRound + 1)
    }
    this.cancelTimers()
    this.height = this.s.height() + 1
    this.round = 0
    this.step = 'propose'
    this.active = false
    this.lockedValue = null; this.lockedRound = -1
    this.validValue = null; this.validRound = -1
    this.votes = new HeightVotes()
    this.proposals = new Map(); this.blocks = new Map(); this.validity = new Map()
    this.myVotes = new Map(); this.myProposals = new Map()
    this.prevoteWait = new Set(); this.precommitWait = new Set(); this.polkaSeen = new Set()
    const set = this.s.validatorsAt(this.height)
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
    if (this.init.wal.wantsPrune(this.height)) {
      await this.s.flush()
      await this.init.wal.prune(this.height)
    }
    const buffered = this.future
    this.future = []
    if (this.mempool.size > 0) await this.wake()
    for (const { from, msg } of buffered) await this.handle(from, msg)
  }

  /** Start working on the open height (first entry or message). */
  private async wake (): Promise<void> {
    if (this.active || this.stopped || !this.isValidator()) return
    this.active = true
    this.activeSince = this.init.clock.now()
    this.scheduleRebroadcast()
    await this.startRound(this.round)
  }

  private async startRound (r: number): Promise<void> {
    this.round = r
    this.step = 'propose'
    this.init.metrics?.round.set(r)
    const h = this.height
    const t = this.init.timeouts
    this.schedule(t.proposeMs + r * t.proposeDeltaMs, async () => { await this.onTimeoutPropose(h, r) })
    const proposer = this.s.validatorsAt(h).proposer(h, r)
    this.log.debug({ height: h, round: r, proposer, pending: this.mempool.size }, 'bft: round start')
    if (proposer !== this.init.signer.id) return
    let p = this.myProposals.get(r)
    if (p === undefined) {
      const block = this.validValue ?? await this.buildBlock()
      if (block === undefined) return
      const validRound = this.validValue !== null ? this.validRound : -1
      const hash = blockHash(block)
      const signature = await this.init.signer.sign(PROPOSAL_DOMAIN, proposalSignBytes(this.s.chain, h, r, validRound, hash))
      p = { height: h, round: r, validRound, block, proposer: this.init.signer.id, signature }
      // Not fsynced: a proposer that loses it and re-proposes differently after a
      // power loss only looks like an equivocating proposer, which safety
      // tolerates (validators sign once per slot); votes are what must be durable.
      await this.init.wal.append({ kind: 'proposal', proposal: p })
      this.myProposals.set(r, p)
    }
    this.init.net.broadcast({ v: 1, kind: 'proposal', proposal: p })
    this.sendPolka(p)
    await this.handleProposal(p)
  }

  /**
   * A re-proposal (validRound ≥ 0) is only accepted with 2f+1 prevotes of
   * that round; send them along, since a validator that missed them (lost
   * messages, restart) would otherwise prevote nil forever.
   */
  private sendPolka (p: Proposal): void {
    if (p.validRound < 0) return
    const hh = hex(blockHash(p.block))
    for (const v of this.votes.get(p.validRound, PREVOTE).votesFor(hh)) this.init.net.broadcast({ v: 1, kind: 'vote', vote: v })
  }

  private async buildBlock (): Promise<Block | undefined> {
    return await buildBlock(this.s, this.mempool, this.height, this.init.clock.now())
  }

  /** valid(v) of the paper: deterministic given the committed chain. Cached per block hash. */
  private async valid (hashHex: string): Promise<boolean> {
    const cached = this.validity.get(hashHex)
    if (cached !== undefined) return cached
    const b = this.blocks.get(hashHex)
    const ok = b !== undefined && await isValidBlock(this.s, b, this.height)
    if (!ok) this.init.metrics?.messagesRejected.inc({ reason: 'invalid_block' })
    this.validity.set(hashHex, ok)
    return ok
  }

  /** A fresh proposal must not carry expired entries (local clock). */
  private fresh (b: Block): boolean {
    const now = this.init.clock.now()
    return b.entries.every(e => e.expiresAt > now)
  }

  // ---- the upon-rules ----------------------------------------------------

  private async progress (): Promise<void> {
    for (let guard = 0; guard < 10_000 && !this.stopped; guard++) {
      if (await this.tryDecide()) return
      if (!this.active) return
      if (await this.tryRoundSkip()) continue
      if (await this.stepRules()) continue
      return
    }
  }

  private async tryDecide (): Promise<boolean> {
    const q = this.s.validatorsAt(this.height).quorum
    for (const r of this.votes.allRounds()) {
      const pcs = this.votes.get(r, PRECOMMIT)
      const maj = pcs.majority(q)
      if (maj === undefined || !this.blocks.has(maj) || !await this.valid(maj)) continue
      const block = this.blocks.get(maj) as Block
      const cert = buildCertificate(block, r, pcs.votesFor(maj))
      try {
        if (await this.s.commit(cert)) this.init.metrics?.certificatesApplied.inc({ source: 'decided' })
      } catch (err) {
        this.log.error({ err, height: this.height }, 'bft: could not commit decided block')
        return false
      }
      this.log.debug({ height: this.height, round: r, entries: block.entries.length }, 'bft: decided')
      // No commit broadcast here: every validator that saw the precommits
      // decides by itself; a validator that missed them gets the certificate
      // in reply to its stale votes, from the rebroadcast, or by catch-up.
      this.init.onDecide?.(cert)
      await this.followState()
      return true
    }
    return false
  }

  private async tryRoundSkip (): Promise<boolean> {
    const f = this.s.validatorsAt(this.height).f
    const above = this.votes.roundsAbove(this.round).filter(r => this.votes.sendersIn(r) >= f + 1)
    if (above.length === 0) return false
    await this.startRound(above[above.length - 1])
    return true
  }

  private async stepRules (): Promise<boolean> {
    const q = this.s.validatorsAt(this.height).quorum
    const r = this.round
    const prevotes = this.votes.get(r, PREVOTE)
    if (this.step === 'propose') {
      const p = this.proposals.get(r)
      if (p !== undefined) {
        const hash = blockHash(p.block)
        const hh = hex(hash)
        const lockedHex = this.lockedValue === null ? undefined : hex(blockHash(this.lockedValue))
        if (p.validRound === -1) {
          const ok = await this.valid(hh) && this.fresh(p.block) && (this.lockedRound === -1 || lockedHex === hh)
          await this.castVote(PREVOTE, ok ? hash : null)
          this.step = 'prevote'
          return true
        }
        if (this.votes.get(p.validRound, PREVOTE).count(hash) >= q) {
          const ok = await this.valid(hh) && (this.lockedRound <= p.validRound || lockedHex === hh)
          await this.castVote(PREVOTE, ok ? hash : null)
          this.step = 'prevote'
          return true
        }
      }
    }
    if (this.step === 'prevote' && !this.prevoteWait.has(r) && prevotes.total() >= q) {
      this.prevoteWait.add(r)
      const h = this.height
      this.schedule(this.init.timeouts.prevoteMs + r * this.init.timeouts.prevoteDeltaMs, async () => { await this.onTimeoutPrevote(h, r) })
    }
    if (this.step !== 'propose' && !this.polkaSeen.has(r)) {
      const maj = prevotes.majority(q)
      if (maj !== undefined && this.blocks.has(maj) && await this.valid(maj)) {
        this.polkaSeen.add(r)
        const block = this.blocks.get(maj) as Block
        if (this.step === 'prevote') {
          this.lockedValue = block; this.lockedRound = r
          await this.castVote(PRECOMMIT, blockHash(block))
          this.step = 'precommit'
        }
        this.validValue = block; this.validRound = r
        return true
      }
    }
    if (this.step === 'prevote' && prevotes.count(null) >= q) {
      await this.castVote(PRECOMMIT, null)
      this.step = 'precommit'
      return true
    }
    if (!this.precommitWait.has(r) && this.votes.get(r, PRECOMMIT).total() >= q) {
      this.precommitWait.add(r)
      const h = this.height
      this.schedule(this.init.timeouts.precommitMs + r * this.init.timeouts.precommitDeltaMs, async () => { await this.onTimeoutPrecommit(h, r) })
    }
    return false
  }

  private async onTimeoutPropose (h: number, r: number): Promise<void> {
    if (h !== this.height || r !== this.round || this.step !== 'propose') return
    await this.castVote(PREVOTE, null)
    this.step = 'prevote'
    await this.progress()
  }

  private async onTimeoutPrevote (h: number, r: number): Promise<void> {
    if (h !== this.height || r !== this.round || this.step !== 'prevote') return
    await this.castVote(PRECOMMIT, null)
    this.step = 'precommit'
    await this.progress()
  }

  private async onTimeoutPrecommit (h: number, r: number): Promise<void> {
    if (h !== this.height || r !== this.round) return
    await this.startRound(r + 1)
    await this.progress()
  }

  /**
   * Sign, log (fsync), then send. If the WAL already holds our vote for this
   * slot (we crashed after logging it), that vote is re-sent instead: we
   * never sign two different votes for one (height, round, type).
   */
  private async castVote (type: VoteType, hash: Uint8Array | null): Promise<void> {
    const key = `${this.round}/${type}`
    let vote = this.myVotes.get(key)
    if (vote !== undefined) {
      if (!bytesEqual(vote.blockHash, hash)) {
        this.log.warn({ height: this.height, round: this.round, type }, 'bft: WAL holds a different vote for this slot; re-sending it')
      }
    } else {
      const h = this.height
      const signature = await this.init.signer.sign(VOTE_DOMAIN, voteSignBytes(this.s.chain, type, h, this.round, hash))
      vote = { type, height: h, round: this.round, blockHash: hash, validator: this.init.signer.id, signature }
      const block = type === PRECOMMIT && hash !== null ? this.blocks.get(hex(hash)) ?? null : null
      const polka = block !== null ? this.votes.get(this.round, PREVOTE).votesFor(hex(hash as Uint8Array)) : []
      await this.init.wal.append({ kind: 'vote', vote, block, polka })
      this.myVotes.set(key, vote)
    }
    this.init.net.broadcast({ v: 1, kind: 'vote', vote })
    this.votes.add(vote)
  }

  // ---- timers ------------------------------------------------------------

  private schedule (ms: number, fn: () => Promise<void>): void {
    const cancel = this.init.clock.setTimer(ms, () => {
      this.timers.delete(cancel)
      void this.run(fn)
    })
    this.timers.add(cancel)
  }

  /** Lost messages are re-sent while a height is open: our votes and proposal, pending entries. */
  private scheduleRebroadcast (): void {
    this.rebroadcastTimer?.()
    this.rebroadcastTimer = this.init.clock.setTimer(this.init.timeouts.rebroadcastMs, () => {
      this.rebroadcastTimer = undefined
      void this.run(async () => {
        if (!this.active) return
        this.resendAll()
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
    await this.run(async () => { if (this.active) this.resendAll() })
  }

  private resendAll (): void {
    const rounds = new Set([this.round, this.round - 1, this.lockedRound, this.validRound])
    for (const v of this.myVotes.values()) if (rounds.has(v.round)) this.init.net.broadcast({ v: 1, kind: 'vote', vote: v })
    const p = this.myProposals.get(this.round)
    if (p !== undefined) {
      this.init.net.broadcast({ v: 1, kind: 'proposal', proposal: p })
      this.sendPolka(p)
    }
    const now = this.init.clock.now()
    this.mempool.prune((id, e) => e.expiresAt > now && !this.s.isCommitted(id))
    for (const [, e] of this.mempool.list().slice(0, 64)) this.init.net.broadcast({ v: 1, kind: 'submit', entry: e })
    if (this.s.height() > 0) this.init.net.broadcast({ v: 1, kind: 'commit', certificate: this.s.certificate(this.s.height()) as Certificate })
  }

  private cancelTimers (): void {
    for (const c of this.timers) c()
    this.timers.clear()
    this.rebroadcastTimer?.()
    this.rebroadcastTimer = undefined
  }
}
