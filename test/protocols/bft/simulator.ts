/**
 * Deterministic in-process simulator for the BFT protocol. It runs the real
 * Consensus / CriticalState code on the shared simulation harness (test/sim):
 * a virtual clock and a seeded random network that delays, drops, duplicates
 * and partitions messages, and crashes and restarts validators (keeping their
 * WAL and block store; a crash loses their timers and what was in flight to
 * them). Twins
 * (two instances sharing one validator key, each with its own WAL) and a
 * byzantine proposer that equivocates are optional. After the fault period
 * the network heals and every crashed node restarts; the run then continues
 * until the system is idle.
 *
 * Signatures use a cheap keyed hash instead of ed25519 (the simulator's only
 * fake); the unit tests check the real ed25519 path separately.
 */
import { createHash } from 'node:crypto'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { prng } from '../../helpers/prng.js'
import { VirtualClock } from '../../sim/clock.js'
import { SimNetwork } from '../../sim/network.js'
import { Consensus, type ConsensusNetwork } from '../../../protocols/bft/consensus.js'
import { CriticalState } from '../../../protocols/bft/critical-state.js'
import { createGenesis, type Genesis } from '../../../protocols/bft/genesis.js'
import { MemoryWal } from '../../../protocols/bft/wal.js'
import { MemoryBlockStore } from '../../../protocols/bft/block-store.js'
import { blockHash, ed25519Signer, ed25519Verifier, hex, signEntry, proposalSignBytes, voteSignBytes, PROPOSAL_DOMAIN, VOTE_DOMAIN, type BftSigner, type Verifier } from '../../../protocols/bft/crypto.js'
import { bftTunables } from '../../../protocols/bft/constants.js'
import type { BftMessage, Entry } from '../../../protocols/bft/types.js'

const ids: string[] = []
const keys = new Map<string, PrivateKey>()
/** Deterministic Ed25519 peer ids (valid ids are needed for genesis and validator-set entries). */
export async function simIds (count: number): Promise<string[]> {
  while (ids.length < count) {
    const seed = new Uint8Array(32).fill(ids.length + 1)
    const key = await generateKeyPairFromSeed('Ed25519', seed)
    const id = peerIdFromPrivateKey(key).toString()
    ids.push(id)
    keys.set(id, key)
  }
  return ids.slice(0, count)
}

function fakeSig (id: string, domain: string, payload: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(id).update('|').update(domain).update('|').update(payload).digest())
}
export function fakeSigner (id: string): BftSigner { return { id, sign: async (d, p) => fakeSig(id, d, p) } }
export const fakeVerify: Verifier = async (signer, domain, payload, sig) => Buffer.compare(fakeSig(signer, domain, payload), sig) === 0

export interface SimOptions {
  seed: number
  validators: number
  /** Validator identities run as two independent instances (Twins). */
  twins?: number
  /** Validator 0 equivocates: two proposals / two votes per slot, split across peers. */
  byzantine?: boolean
  /** Extra non-validator instances that only follow. */
  observers?: number
  entries: number
  dropRate: number
  dupRate: number
  maxDelayMs: number
  partitions: boolean
  crashes: boolean
  /** Also inject garbage: non-validator votes, bad signatures, replays, future heights. */
  attacker?: boolean
  faultUntilMs: number
  /** Hard stop of the virtual clock. */
  maxTimeMs: number
  /** Real ed25519 signatures instead of the keyed-hash stand-in (slower). */
  realCrypto?: boolean
  /** The first entry changes `bft/validators`: observer o0 joins the set. */
  validatorChange?: boolean
}

interface Instance {
  /** Network node name: unique, where twins share the validator `id`. */
  name: string
  id: string
  validator: boolean
  byzantine: boolean
  wal: MemoryWal
  store: MemoryBlockStore
  state?: CriticalState
  consensus?: Consensus
}

export interface SimResult {
  heights: number[]
  committedEntries: number
  submitted: number
  agreement: boolean
  violations: string[]
  terminated: boolean
  timeMs: number
  events: number
  equivocationsSeen: number
  /** Evidence handed to `onEvidence` (the daemon counts it as the validator's offence). */
  evidenceReported: number
  /** Size of the validator set once every committed change is in force (height + 2). */
  finalValidators: number
  /** Some certificate carries a precommit from observer o0 (it became a validator). */
  observerSigned: boolean
  /** Instances whose consensus halted on an internal error (a bug, in the simulator). */
  halts: string[]
  /** The network's last events, when the run broke agreement, validity or termination. */
  trace?: string
}

/** A message as the trace shows it, e.g. `vote pv h3 r1 …a1b2c3 by …x9`. */
function describeMessage (m: BftMessage): string {
  switch (m.kind) {
    case 'proposal': return `proposal h${m.proposal.height} r${m.proposal.round} vr${m.proposal.validRound} ${hex(blockHash(m.proposal.block)).slice(0, 6)} by …${m.proposal.proposer.slice(-4)}`
    case 'vote': return `vote ${m.vote.type === 1 ? 'pv' : 'pc'} h${m.vote.height} r${m.vote.round} ${m.vote.blockHash === null ? 'nil' : hex(m.vote.blockHash).slice(0, 6)} by …${m.vote.validator.slice(-4)}`
    case 'commit': return `commit h${m.certificate.block.height} ${hex(blockHash(m.certificate.block)).slice(0, 6)}`
    case 'submit': return `submit ${hex(m.entry.nonce).slice(0, 6)}`
    case 'sync': return `sync from h${m.from}`
  }
}

export async function simulate (o: SimOptions): Promise<SimResult> {
  const rand = prng(o.seed)
  const all = await simIds(o.validators + (o.observers ?? 0) + 2)
  const validatorIds = all.slice(0, o.validators)
  const admin = all[all.length - 1]
  const outsider = all[all.length - 2]
  const genesis: Genesis = createGenesis({ networkId: 'sim', validators: validatorIds, admins: [admin], createdAt: new Date(0) })
  const t = { ...bftTunables.defaults('test') }
  const verify = o.realCrypto === true ? ed25519Verifier() : fakeVerify
  const signerOf = (id: string): BftSigner => o.realCrypto === true ? ed25519Signer(keys.get(id) as PrivateKey, id) : fakeSigner(id)

  const clock = new VirtualClock()
  const now = clock.now
  /** Run `fn` at virtual time `at` (not before now). */
  const schedule = (at: number, fn: () => unknown): void => { clock.setTimeout(fn, at - now()) }
  // Loss and duplicates until faultUntilMs (cleared there), latency throughout.
  const net = new SimNetwork<BftMessage>({ clock, rand, faults: { drop: o.dropRate, duplicate: o.dupRate, latencyMs: [1, o.maxDelayMs] }, describe: describeMessage })
  const history: Array<{ to: Instance, msg: BftMessage, from: string }> = []
  let equivocationsSeen = 0
  let evidenceReported = 0

  const instances: Instance[] = []
  const byName = new Map<string, Instance>()
  const mk = (name: string, id: string, validator: boolean, byzantine = false): void => {
    const inst: Instance = { name, id, validator, byzantine, wal: new MemoryWal(), store: new MemoryBlockStore() }
    instances.push(inst)
    byName.set(name, inst)
    net.add(name, async (from, msg) => {
      if (inst.consensus === undefined) return
      if (o.attacker === true && history.length < 2000 && rand() < 0.05) history.push({ to: inst, msg, from: (byName.get(from) as Instance).id })
      await inst.consensus.receive((byName.get(from) as Instance).id, msg)
    })
  }
  const up = (inst: Instance): boolean => net.isUp(inst.name)
  const deliver = (from: Instance, to: Instance, msg: BftMessage): void => { net.send(from.name, to.name, msg) }
  validatorIds.forEach((id, i) => {
    mk(`v${i}`, id, true, o.byzantine === true && i === 0)
    if (i < (o.twins ?? 0)) mk(`v${i}-twin`, id, true)
  })
  for (let i = 0; i < (o.observers ?? 0); i++) mk(`o${i}`, all[o.validators + i], false)

  const netFor = (self: Instance): ConsensusNetwork => {
    const targets = (): Instance[] => instances.filter(i => i !== self)
    if (!self.byzantine) {
      return {
        broadcast: (msg) => { for (const i of targets()) deliver(self, i, msg) },
        send: (to, msg) => { for (const i of instances) if (i.id === to) deliver(self, i, msg) }
      }
    }
    // Equivocating validator: half the peers see a second, conflicting message.
    return {
      broadcast: (msg) => {
        let alt: BftMessage | undefined
        if (msg.kind === 'proposal') {
          const p = msg.proposal
          const block = { ...p.block, time: p.block.time + 1 }
          const sig = fakeSig(self.id, PROPOSAL_DOMAIN, proposalSignBytes(p.block.chain, p.height, p.round, p.validRound, blockHash(block)))
          alt = { v: 1, kind: 'proposal', proposal: { ...p, block, signature: sig } }
        } else if (msg.kind === 'vote') {
          const v = msg.vote
          const other = v.blockHash === null ? new Uint8Array(32).fill(7) : null
          const sig = fakeSig(self.id, VOTE_DOMAIN, voteSignBytes(stateChain, v.type, v.height, v.round, other))
          alt = { v: 1, kind: 'vote', vote: { ...v, blockHash: other, signature: sig } }
        }
        targets().forEach((i, k) => { deliver(self, i, alt !== undefined && k % 2 === 1 ? alt : msg) })
      },
      send: (to, msg) => { for (const i of instances) if (i.id === to) deliver(self, i, msg) }
    }
  }

  let stateChain: Uint8Array = new Uint8Array()
  const halts: string[] = []
  const boot = async (inst: Instance): Promise<void> => {
    net.restart(inst.name)
    const state = new CriticalState({ genesis, verify, store: inst.store })
    await state.load()
    stateChain = state.chain
    inst.state = state
    inst.consensus = new Consensus({
      state, signer: signerOf(inst.id), verify, wal: inst.wal, clock: net.clockOf(inst.name), net: netFor(inst), timeouts: t,
      onEvidence: () => { evidenceReported++ },
      onHalt: (f) => { halts.push(`${inst.name} at ${f.height}/${f.round}: ${f.name}: ${f.error}`) }
    })
    await inst.consensus.start()
  }
  const crash = async (inst: Instance): Promise<void> => {
    if (!up(inst)) return
    net.crash(inst.name)
    await inst.consensus?.stop()
    inst.consensus = undefined
  }

  for (const i of instances) await boot(i)

  // Client submissions, signed by the admin.
  const adminSigner = signerOf(admin)
  const submitted = new Set<string>()
  for (let k = 0; k < o.entries; k++) {
    const at = Math.floor(rand() * Math.max(1, o.faultUntilMs))
    const nonce = new Uint8Array(16); for (let b = 0; b < 16; b++) nonce[b] = Math.floor(rand() * 256)
    let key = `k${Math.floor(rand() * 4)}`
    let value = `value-${k}`
    if (k === 0 && o.validatorChange === true) {
      key = 'bft/validators'
      value = JSON.stringify([...validatorIds, all[o.validators]])
    }
    schedule(at, async () => {
      const e: Entry = await signEntry(adminSigner, stateChain, { key, value, nonce, expiresAt: now() + 300_000 })
      submitted.add(hex(e.nonce))
      // A client: submit to one or two validators; if the entry is not
      // committed a while later (the validator holding it crashed before
      // sharing it: mempools are not durable), submit it again elsewhere.
      const attempt = async (): Promise<void> => {
        const ups = instances.filter(i => up(i) && i.consensus?.isValidator() === true && !i.byzantine)
        const copies = rand() < 0.2 ? 2 : 1
        for (let c = 0; c < copies && ups.length > 0; c++) {
          const target = ups[Math.floor(rand() * ups.length)]
          await target.consensus?.submit(e).catch(() => {})
        }
        schedule(now() + 3_000, async () => {
          const committed = instances.some(i => i.store.certs.some(cert => cert.block.entries.some(x => hex(x.nonce) === hex(e.nonce))))
          if (!committed) await attempt()
        })
      }
      await attempt()
    })
  }

  // Faults: partitions and crashes during [0, faultUntil).
  if (o.partitions) {
    for (let at = 0; at < o.faultUntilMs; at += 500 + Math.floor(rand() * 1500)) {
      schedule(at, () => {
        if (rand() < 0.5) { net.heal(); return }
        net.partitionRandomly(2, Math.min(o.faultUntilMs, now() + 300 + Math.floor(rand() * 2000)) - now())
      })
    }
  }
  if (o.crashes) {
    for (let at = 200; at < o.faultUntilMs; at += 400 + Math.floor(rand() * 1200)) {
      schedule(at, async () => {
        const inst = instances[Math.floor(rand() * instances.length)]
        await crash(inst)
        schedule(Math.min(o.faultUntilMs, now() + 100 + Math.floor(rand() * 1500)), async () => { if (!up(inst)) await boot(inst) })
      })
    }
  }
  if (o.attacker === true) {
    // The attacker is outside the network: its garbage reaches a node's receive() directly.
    const attackerSigner = signerOf(outsider)
    for (let at = 50; at < o.faultUntilMs; at += 100 + Math.floor(rand() * 300)) {
      schedule(at, async () => {
        const target = instances[Math.floor(rand() * instances.length)]
        if (!up(target) || target.consensus === undefined) return
        const h = (target.state?.height() ?? 0) + 1
        const r = rand()
        let msg: BftMessage
        if (r < 0.25) {
          // A well-signed vote from a key outside the validator set.
          const sig = await attackerSigner.sign(VOTE_DOMAIN, voteSignBytes(stateChain, 1, h, 0, null))
          msg = { v: 1, kind: 'vote', vote: { type: 1, height: h, round: 0, blockHash: null, validator: outsider, signature: sig } }
        } else if (r < 0.5) {
          // A validator's name with a forged signature.
          msg = { v: 1, kind: 'vote', vote: { type: 2, height: h, round: 0, blockHash: new Uint8Array(32).fill(9), validator: validatorIds[0], signature: new Uint8Array(32).fill(1) } }
        } else if (r < 0.75 && history.length > 0) {
          const old = history[Math.floor(rand() * history.length)]
          msg = old.msg
        } else {
          msg = { v: 1, kind: 'vote', vote: { type: 1, height: h + 5, round: 3, blockHash: null, validator: validatorIds[1], signature: new Uint8Array(32) } }
        }
        net.note(`attacker -> ${target.name} ${describeMessage(msg)}`)
        await target.consensus.receive(outsider, msg)
      })
    }
  }

  // End of faults: heal, stop losing and duplicating, restart everything.
  schedule(o.faultUntilMs, async () => {
    net.heal()
    net.setFaults({ latencyMs: [1, o.maxDelayMs] })
    for (const i of instances) if (!up(i)) await boot(i)
  })

  // Catch-up as the daemon's sync loop does it: now and then ask a random peer
  // for the blocks after ours (the service uses /mycel/bft-sync for this).
  const syncTick = (inst: Instance): void => {
    schedule(now() + t.syncIntervalMs + Math.floor(rand() * 100), () => {
      if (up(inst) && inst.state !== undefined) {
        const others = instances.filter(i => i !== inst)
        const peer = others[Math.floor(rand() * others.length)]
        deliver(inst, peer, { v: 1, kind: 'sync', from: inst.state.height() + 1 })
      }
      syncTick(inst)
    })
  }
  for (const i of instances) syncTick(i)

  const done = (): boolean => {
    if (now() < o.faultUntilMs) return false
    const hs = instances.map(i => i.state?.height() ?? 0)
    if (!hs.every(h => h === hs[0])) return false
    const committed = new Set<string>()
    for (const c of instances[0].store.certs) for (const e of c.block.entries) committed.add(hex(e.nonce))
    return [...submitted].every(n => committed.has(n)) && instances.every(i => i.consensus?.status().pending === 0)
  }

  // Run until idle (checked every 500 virtual ms) or the hard stop; after
  // each event every live node finishes what it started.
  let nextCheck = 0
  const events = await clock.run({
    until: o.maxTimeMs,
    settle: async () => { for (const i of instances) if (up(i)) await i.consensus?.settled() },
    stopBefore: (at) => {
      if (at < nextCheck) return false
      nextCheck = at + 500
      return done()
    }
  })

  // ---- checks -------------------------------------------------------------
  const violations: string[] = []
  const byHeight = new Map<number, string>()
  for (const i of instances) {
    const seenNonces = new Set<string>()
    for (const c of i.store.certs) {
      const h = c.block.height
      const hh = hex(blockHash(c.block))
      const other = byHeight.get(h)
      if (other === undefined) byHeight.set(h, hh)
      else if (other !== hh) violations.push(`agreement: ${i.name} committed ${hh.slice(0, 12)} at height ${h}, another node ${other.slice(0, 12)}`)
      for (const e of c.block.entries) {
        const n = hex(e.nonce)
        if (!submitted.has(n)) violations.push(`validity: ${i.name} committed an entry nobody submitted at height ${h}`)
        if (seenNonces.has(n)) violations.push(`validity: ${i.name} committed one entry twice`)
        seenNonces.add(n)
      }
    }
  }
  const heights = instances.map(i => i.state?.height() ?? 0)
  const committed = new Set<string>()
  for (const i of instances) for (const c of i.store.certs) for (const e of c.block.entries) committed.add(hex(e.nonce))
  const maxH = Math.max(...heights)
  const terminated = heights.every(h => h === maxH) && [...submitted].every(n => committed.has(n)) &&
    instances.every(i => i.store.certs.reduce((s, c) => s + c.block.entries.length, 0) === committed.size)
  if (process.env.BFT_SIM_DEBUG !== undefined) {
    for (const i of instances) {
      console.log(i.name, up(i), JSON.stringify({ ...i.consensus?.status(), evidence: undefined, lastHeard: undefined }), i.wal.records.length)
      const c = (i.consensus as any)?.hs
      if (c === undefined) continue
      for (const r of c.votes.allRounds()) {
        const pv = c.votes.get(r, 1); const pc = c.votes.get(r, 2)
        const p = c.proposals.get(r)
        console.log('  r', r, 'prop', p === undefined ? '-' : hex(blockHash(p.block)).slice(0, 6) + '/vr' + p.validRound, 'pv', [...pv.byValidator.values()].flat().map((v: any) => v.validator.slice(-3) + ':' + (v.blockHash === null ? 'nil' : hex(v.blockHash).slice(0, 6))).join(','), 'pc', [...pc.byValidator.values()].flat().map((v: any) => v.validator.slice(-3) + ':' + (v.blockHash === null ? 'nil' : hex(v.blockHash).slice(0, 6))).join(','))
      }
      if (c.lockedValue) console.log('  locked', hex(blockHash(c.lockedValue)).slice(0, 6), 'valid', c.validValue && hex(blockHash(c.validValue)).slice(0, 6))
      console.log('  proposers', [0,1,2,3,4,5,6,7,8,9].map(r => i.state?.validatorsAt(1).proposer(1, r).slice(-3)).join(','), 'me', i.id.slice(-3))
    }
  }
  for (const i of instances) {
    equivocationsSeen += i.consensus?.status().evidence.length ?? 0
    await i.consensus?.stop()
  }
  const s0 = instances[0].state
  const finalValidators = s0 === undefined ? 0 : s0.validatorsAt(s0.height() + 2).n
  const observerSigned = instances[0].store.certs.some(c => c.precommits.some(p => p.validator === all[o.validators]))
  const trace = violations.length > 0 || !terminated || halts.length > 0 ? net.formatTrace(60) : undefined
  return { halts, finalValidators, observerSigned, heights, committedEntries: committed.size, submitted: submitted.size, agreement: violations.length === 0, violations, terminated, timeMs: now(), events, equivocationsSeen, evidenceReported, trace }
}
