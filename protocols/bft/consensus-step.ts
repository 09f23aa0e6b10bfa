/**
 * The algorithm on the open height: Tendermint's Algorithm 1 ("The latest
 * gossip on BFT consensus", Buchman, Kwon, Milosevic 2018; its line numbers
 * in brackets), as functions of a `StepContext`. They read and write only
 * `ctx.hs`, the open height's state, and act through the injected signer,
 * WAL and network; `Consensus` (consensus.ts) owns the input queue, the
 * timers and the height lifecycle, and calls in here.
 *
 * Every function runs inside the input queue, so none runs concurrently
 * with another; a function that may open the next height (`tryDecide`)
 * touches no height state afterwards.
 */
import { buildCertificate } from './certificate.js'
import { blockHash, bytesEqual, hex, proposalSignBytes, PROPOSAL_DOMAIN, voteSignBytes, VOTE_DOMAIN } from './crypto.js'
import { buildBlock, isValidBlock } from './block-rules.js'
import { screenProposal, screenVote, type IntakeView, type Rejection } from './intake.js'
import { PRECOMMIT, PREVOTE, type Block, type Certificate, type Proposal, type Vote, type VoteType } from './types.js'
import type { BftLogger, ConsensusInit, Evidence } from './consensus-types.js'
import type { CriticalState } from './critical-state.js'
import type { HeightState } from './height-state.js'
import type { Mempool } from './mempool.js'

/** Loop bound of `progress`: each pass changes the step or the round, so this is never reached in practice. */
const MAX_RULE_PASSES = 10_000
/** Pending entries re-sent per rebroadcast. */
const REBROADCAST_ENTRIES = 64

/** What the step functions act through (implemented by `Consensus`). */
export interface StepContext {
  readonly init: ConsensusInit
  readonly s: CriticalState
  readonly log: BftLogger
  readonly mempool: Mempool
  /** The open height's state; replaced whole when the height advances. */
  readonly hs: HeightState
  /** false once stopped or halted: take no further step. */
  readonly running: boolean
  isValidator: () => boolean
  /** Run `fn` through the input queue after `ms`, unless the height ends first. */
  schedule: (ms: number, fn: () => Promise<void>) => void
  scheduleRebroadcast: () => void
  reject: (reason: Rejection, detail: object) => void
  recordEvidence: (e: Evidence) => void
  /** A valid vote or proposal arrived from this validator (status: last vote seen). */
  heard: (validator: string) => void
  /** The committed chain moved on: open the next height. */
  followState: () => Promise<void>
}

function intakeView (ctx: StepContext): IntakeView {
  const hs = ctx.hs
  return { state: ctx.s, verify: ctx.init.verify, votes: hs.votes, height: hs.height, round: hs.round }
}

/** Start working on the open height (first entry or message). */
export async function wake (ctx: StepContext): Promise<void> {
  const hs = ctx.hs
  if (hs.active || !ctx.running || !ctx.isValidator()) return
  hs.active = true
  hs.activeSince = ctx.init.clock.now()
  ctx.scheduleRebroadcast()
  await startRound(ctx, hs.round)
}

export async function handleVote (ctx: StepContext, v: Vote): Promise<void> {
  const why = await screenVote(intakeView(ctx), v)
  if (why !== undefined) { ctx.reject(why, { validator: v.validator, round: v.round }); return }
  const hs = ctx.hs
  const res = hs.votes.add(v)
  if (res.kind === 'duplicate') return
  if (res.kind === 'equivocation') {
    ctx.recordEvidence({ kind: 'vote', validator: v.validator, height: v.height, round: v.round, first: res.first.blockHash, second: v.blockHash, at: ctx.init.clock.now() })
    if (!res.counted) return
  }
  ctx.heard(v.validator)
  await wake(ctx)
}

export async function handleProposal (ctx: StepContext, p: Proposal): Promise<void> {
  const why = await screenProposal(intakeView(ctx), p)
  if (why !== undefined) { ctx.reject(why, { proposer: p.proposer, round: p.round }); return }
  const hs = ctx.hs
  const hash = blockHash(p.block)
  const have = hs.proposals.get(p.round)
  if (have !== undefined) {
    const haveHash = blockHash(have.block)
    if (!bytesEqual(haveHash, hash) || have.validRound !== p.validRound) {
      ctx.recordEvidence({ kind: 'proposal', validator: p.proposer, height: p.height, round: p.round, first: haveHash, second: hash, at: ctx.init.clock.now() })
    }
    return
  }
  hs.proposals.set(p.round, p)
  hs.blocks.set(hex(hash), p.block)
  hs.votes.noteSender(p.round, p.proposer)
  ctx.heard(p.proposer)
  await wake(ctx)
}

async function startRound (ctx: StepContext, r: number): Promise<void> {
  const hs = ctx.hs
  hs.round = r
  hs.step = 'propose'
  ctx.init.metrics?.round.set(r)
  const h = hs.height
  const t = ctx.init.timeouts
  ctx.schedule(t.proposeMs + r * t.proposeDeltaMs, async () => { await onTimeoutPropose(ctx, hs, r) })
  const proposer = ctx.s.validatorsAt(h).proposer(h, r)
  ctx.log.debug({ height: h, round: r, proposer, pending: ctx.mempool.size }, 'bft: round start')
  if (proposer !== ctx.init.signer.id) return
  let p = hs.myProposals.get(r)
  if (p === undefined) {
    const block = hs.validValue ?? await buildBlock(ctx.s, ctx.mempool, h, ctx.init.clock.now())
    if (block === undefined) return
    const validRound = hs.validValue !== null ? hs.validRound : -1
    const hash = blockHash(block)
    const signature = await ctx.init.signer.sign(PROPOSAL_DOMAIN, proposalSignBytes(ctx.s.chain, h, r, validRound, hash))
    p = { height: h, round: r, validRound, block, proposer: ctx.init.signer.id, signature }
    // Not fsynced: a proposer that loses it and re-proposes differently after a
    // power loss only looks like an equivocating proposer, which safety
    // tolerates (validators sign once per slot); votes are what must be durable.
    await ctx.init.wal.append({ kind: 'proposal', proposal: p })
    hs.myProposals.set(r, p)
  }
  ctx.init.net.broadcast({ v: 1, kind: 'proposal', proposal: p })
  sendPolka(ctx, p)
  await handleProposal(ctx, p)
}

/**
 * A re-proposal (validRound ≥ 0) is only accepted with 2f+1 prevotes of
 * that round; send them along, since a validator that missed them (lost
 * messages, restart) would otherwise prevote nil forever.
 */
function sendPolka (ctx: StepContext, p: Proposal): void {
  if (p.validRound < 0) return
  const hh = hex(blockHash(p.block))
  for (const v of ctx.hs.votes.get(p.validRound, PREVOTE).votesFor(hh)) ctx.init.net.broadcast({ v: 1, kind: 'vote', vote: v })
}

/** valid(v) of the paper: deterministic given the committed chain. Cached per block hash. */
async function valid (ctx: StepContext, hashHex: string): Promise<boolean> {
  const hs = ctx.hs
  const cached = hs.validity.get(hashHex)
  if (cached !== undefined) return cached
  const b = hs.blocks.get(hashHex)
  const ok = b !== undefined && await isValidBlock(ctx.s, b, hs.height)
  if (!ok) ctx.init.metrics?.messagesRejected.inc({ reason: 'invalid_block' })
  hs.validity.set(hashHex, ok)
  return ok
}

/** A fresh proposal must not carry expired entries (local clock). */
function fresh (ctx: StepContext, b: Block): boolean {
  const now = ctx.init.clock.now()
  return b.entries.every(e => e.expiresAt > now)
}

// ---- the upon-rules ----------------------------------------------------

/** Apply the upon-rules until none fires (or the height is decided). */
export async function progress (ctx: StepContext): Promise<void> {
  for (let guard = 0; guard < MAX_RULE_PASSES && ctx.running; guard++) {
    if (await tryDecide(ctx)) return
    if (!ctx.hs.active) return
    if (await tryRoundSkip(ctx)) continue
    if (await stepRules(ctx)) continue
    return
  }
}

/** [49-54] 2f+1 precommits for a valid block in any round: decide it. */
async function tryDecide (ctx: StepContext): Promise<boolean> {
  const hs = ctx.hs
  const q = ctx.s.validatorsAt(hs.height).quorum
  for (const r of hs.votes.allRounds()) {
    const pcs = hs.votes.get(r, PRECOMMIT)
    const maj = pcs.majority(q)
    if (maj === undefined || !hs.blocks.has(maj) || !await valid(ctx, maj)) continue
    const block = hs.blocks.get(maj) as Block
    const cert = buildCertificate(block, r, pcs.votesFor(maj))
    // A decided block that cannot be committed (the block store fails, or
    // the chain already holds another block here: more than f faulty) is an
    // internal error: it propagates and halts this instance.
    if (await ctx.s.commit(cert)) ctx.init.metrics?.certificatesApplied.inc({ source: 'decided' })
    ctx.log.debug({ height: hs.height, round: r, entries: block.entries.length }, 'bft: decided')
    // No commit broadcast here: every validator that saw the precommits
    // decides by itself; a validator that missed them gets the certificate
    // in reply to its stale votes, from the rebroadcast, or by catch-up.
    ctx.init.onDecide?.(cert)
    await ctx.followState()
    return true
  }
  return false
}

/** [55-56] f+1 validators heard from in a higher round: jump to it. */
async function tryRoundSkip (ctx: StepContext): Promise<boolean> {
  const hs = ctx.hs
  const f = ctx.s.validatorsAt(hs.height).f
  const above = hs.votes.roundsAbove(hs.round).filter(r => hs.votes.sendersIn(r) >= f + 1)
  if (above.length === 0) return false
  await startRound(ctx, above[above.length - 1])
  return true
}

/** The rules of the current round [22-48]; true when one changed the step or the locks. */
async function stepRules (ctx: StepContext): Promise<boolean> {
  const hs = ctx.hs
  const q = ctx.s.validatorsAt(hs.height).quorum
  const r = hs.round
  const prevotes = hs.votes.get(r, PREVOTE)
  if (hs.step === 'propose') {
    const p = hs.proposals.get(r)
    if (p !== undefined) {
      const hash = blockHash(p.block)
      const hh = hex(hash)
      const lockedHex = hs.lockedValue === null ? undefined : hex(blockHash(hs.lockedValue))
      if (p.validRound === -1) {
        // [22-27]
        const ok = await valid(ctx, hh) && fresh(ctx, p.block) && (hs.lockedRound === -1 || lockedHex === hh)
        await castVote(ctx, PREVOTE, ok ? hash : null)
        hs.step = 'prevote'
        return true
      }
      if (hs.votes.get(p.validRound, PREVOTE).count(hash) >= q) {
        // [28-33]
        const ok = await valid(ctx, hh) && (hs.lockedRound <= p.validRound || lockedHex === hh)
        await castVote(ctx, PREVOTE, ok ? hash : null)
        hs.step = 'prevote'
        return true
      }
    }
  }
  if (hs.step === 'prevote' && !hs.prevoteWait.has(r) && prevotes.total() >= q) {
    // [34-35]
    hs.prevoteWait.add(r)
    ctx.schedule(ctx.init.timeouts.prevoteMs + r * ctx.init.timeouts.prevoteDeltaMs, async () => { await onTimeoutPrevote(ctx, hs, r) })
  }
  if (hs.step !== 'propose' && !hs.polkaSeen.has(r)) {
    // [36-43]
    const maj = prevotes.majority(q)
    if (maj !== undefined && hs.blocks.has(maj) && await valid(ctx, maj)) {
      hs.polkaSeen.add(r)
      const block = hs.blocks.get(maj) as Block
      if (hs.step === 'prevote') {
        hs.lockedValue = block; hs.lockedRound = r
        await castVote(ctx, PRECOMMIT, blockHash(block))
        hs.step = 'precommit'
      }
      hs.validValue = block; hs.validRound = r
      return true
    }
  }
  if (hs.step === 'prevote' && prevotes.count(null) >= q) {
    // [44-46]
    await castVote(ctx, PRECOMMIT, null)
    hs.step = 'precommit'
    return true
  }
  if (!hs.precommitWait.has(r) && hs.votes.get(r, PRECOMMIT).total() >= q) {
    // [47-48]
    hs.precommitWait.add(r)
    ctx.schedule(ctx.init.timeouts.precommitMs + r * ctx.init.timeouts.precommitDeltaMs, async () => { await onTimeoutPrecommit(ctx, hs, r) })
  }
  return false
}

// ---- timeouts [57-65]: each applies only to the height and round it was set in

async function onTimeoutPropose (ctx: StepContext, hs: HeightState, r: number): Promise<void> {
  if (hs !== ctx.hs || r !== hs.round || hs.step !== 'propose') return
  await castVote(ctx, PREVOTE, null)
  hs.step = 'prevote'
  await progress(ctx)
}

async function onTimeoutPrevote (ctx: StepContext, hs: HeightState, r: number): Promise<void> {
  if (hs !== ctx.hs || r !== hs.round || hs.step !== 'prevote') return
  await castVote(ctx, PRECOMMIT, null)
  hs.step = 'precommit'
  await progress(ctx)
}

async function onTimeoutPrecommit (ctx: StepContext, hs: HeightState, r: number): Promise<void> {
  if (hs !== ctx.hs || r !== hs.round) return
  await startRound(ctx, r + 1)
  await progress(ctx)
}

/**
 * Sign, log (fsync), then send. If the WAL already holds our vote for this
 * slot (we crashed after logging it), that vote is re-sent instead: we
 * never sign two different votes for one (height, round, type). A failing
 * WAL append propagates: the vote is never sent, and the instance halts.
 */
async function castVote (ctx: StepContext, type: VoteType, hash: Uint8Array | null): Promise<void> {
  const hs = ctx.hs
  const key = `${hs.round}/${type}`
  let vote = hs.myVotes.get(key)
  if (vote !== undefined) {
    if (!bytesEqual(vote.blockHash, hash)) {
      ctx.log.warn({ height: hs.height, round: hs.round, type }, 'bft: WAL holds a different vote for this slot; re-sending it')
    }
  } else {
    const h = hs.height
    const signature = await ctx.init.signer.sign(VOTE_DOMAIN, voteSignBytes(ctx.s.chain, type, h, hs.round, hash))
    vote = { type, height: h, round: hs.round, blockHash: hash, validator: ctx.init.signer.id, signature }
    const block = type === PRECOMMIT && hash !== null ? hs.blocks.get(hex(hash)) ?? null : null
    const polka = block !== null ? hs.votes.get(hs.round, PREVOTE).votesFor(hex(hash as Uint8Array)) : []
    await ctx.init.wal.append({ kind: 'vote', vote, block, polka })
    hs.myVotes.set(key, vote)
  }
  ctx.init.net.broadcast({ v: 1, kind: 'vote', vote })
  hs.votes.add(vote)
}

/** Re-send what a peer needs to catch up with the open height: our votes and proposal, pending entries, the last certificate. */
export function resendAll (ctx: StepContext): void {
  const hs = ctx.hs
  const rounds = new Set([hs.round, hs.round - 1, hs.lockedRound, hs.validRound])
  for (const v of hs.myVotes.values()) if (rounds.has(v.round)) ctx.init.net.broadcast({ v: 1, kind: 'vote', vote: v })
  const p = hs.myProposals.get(hs.round)
  if (p !== undefined) {
    ctx.init.net.broadcast({ v: 1, kind: 'proposal', proposal: p })
    sendPolka(ctx, p)
  }
  const now = ctx.init.clock.now()
  ctx.mempool.prune((id, e) => e.expiresAt > now && !ctx.s.isCommitted(id))
  for (const [, e] of ctx.mempool.list().slice(0, REBROADCAST_ENTRIES)) ctx.init.net.broadcast({ v: 1, kind: 'submit', entry: e })
  if (ctx.s.height() > 0) ctx.init.net.broadcast({ v: 1, kind: 'commit', certificate: ctx.s.certificate(ctx.s.height()) as Certificate })
}
