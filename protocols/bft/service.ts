/**
 * The critical-config component of the daemon: committed state, the
 * consensus state machine (on every node; it signs only where this node is a
 * validator), the validator transport and gossip + catch-up of certificates.
 * Start order: state (replay block store) → transport → sync → consensus
 * (replay WAL); stop is the reverse. Peers of another network never reach
 * any of it: the admission protocol (protocols/admission) refuses them before
 * any stream opens.
 *
 * Files under <dataDir>/bft/: `genesis.hash` (genesis-mark.ts: the network this data dir
 * belongs to; a different genesis is refused at start), `bft-blocks.log`
 * (certified blocks) and `bft-wal.log` (this validator's votes).
 *
 * Proposals are signed with the agent's own identity key: the agent must be
 * listed as an admin (genesis `admins`, or a committed `bft/admins`).
 *
 * Fail-stop: a damaged block store or WAL makes start() throw
 * CorruptFileError; a failed write or fsync of either at runtime halts
 * consensus and is reported to `faults`. Either way the agent stops this
 * component and shows the file and the recovery step in /readyz.
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import type { Registry } from 'prom-client'
import type { PeerId } from '@libp2p/interface'
import { peerIdOf } from '../../wire/peer-ids.js'
import type { CommonComponents } from '../../lib/components.js'
import type { Startable } from '../../lib/lifecycle.js'
import { systemClock } from '../../lib/clock.js'
import { offenceSink } from '../../lib/peer-offences.js'
import type { RpcHost } from '../../wire/rpc.js'
import type { PubSubHost } from '../../wire/topic.js'
import type { PeerHost } from '../../wire/peers.js'
import { CorruptFileError } from '../../lib/errors.js'
import { BLOCKS_FORMAT, FileBlockStore } from './block-store.js'
import { bftTunables, MAX_ENTRY_TTL_MS, type BftProfile } from './constants.js'
import { Consensus, type BftLogger, type ConsensusStatus } from './consensus.js'
import { CriticalState, type CriticalConfig, type CriticalStateInit } from './critical-state.js'
import { ed25519Signer, ed25519Verifier, entryId, hex, signEntry, type BftSigner } from './crypto.js'
import { CommitTimeoutError, InvalidGenesisError, NotAdminError } from './errors.js'
import { genesisHash, type Genesis } from './genesis.js'
import { createBftMetrics, type BftMetrics } from './metrics.js'
import { CriticalSync } from './sync.js'
import { BftTransport } from './transport.js'
import { FileWal } from './wal.js'
import { GENESIS_MARK_FILE, readGenesisMark, writeGenesisMark } from './genesis-mark.js'
import type { Certificate, Entry } from './types.js'
import { describeValidatorView, validatorView, type ValidatorMemberState, type ValidatorView } from './validator-view.js'
import type { ProfileName } from '../../lib/tunables.js'
import type { MembershipView } from '../membership/types.js'

export interface CriticalServiceInit {
  genesis: Genesis
  profile: ProfileName
  /** Overrides of the profile's timings (tests, benchmarks). */
  overrides?: Partial<BftProfile>
  /** Format rules of keys owned above this layer (CriticalStateInit.keyRules). */
  keyRules?: CriticalStateInit['keyRules']
  /** Authorities besides the admin set (CriticalStateInit.authorities). */
  authorities?: CriticalStateInit['authorities']
}

export type CriticalServiceComponents = Pick<CommonComponents, 'peerId' | 'privateKey' | 'dataDir' | 'logger' | 'registry' | 'faults'> & {
  /** Consensus messages between validators and certificate catch-up. */
  rpc: RpcHost
  /** The certificate topic. */
  pubsub: PubSubHost
  /** Connections: a validator that connects is sent the open height at once; status shows who is connected. */
  peers: Pick<PeerHost, 'getConnections' | 'getPeers' | 'addEventListener' | 'removeEventListener'>
  /** Who is alive, for status and timeout reports (every validator reads as `unknown` without it). */
  membership?: Pick<MembershipView, 'get'>
}

export interface ProposeResult {
  id: string
  height: number
  certificate: Certificate
  latencyMs: number
}

/** Consensus status, its raw `lastHeard` folded into `validatorView` (one place for "last vote seen"). */
export interface CriticalStatus extends Omit<ConsensusStatus, 'lastHeard'> {
  networkId: string
  genesis: string
  committedHeight: number
  validators: string[]
  admins: string[]
  admin: boolean
  lastCommit: { height: number, round: number, hash: string, time: number, entries: number } | null
  /** Per validator of the open height: membership state, connection, last vote seen. */
  validatorView: ValidatorView
}

export function criticalService (init: CriticalServiceInit): (components: CriticalServiceComponents) => CriticalService {
  return (components) => new CriticalService(init, components)
}

export class CriticalService implements Startable {
  readonly state: CriticalState
  readonly metrics: BftMetrics
  readonly profile: BftProfile
  private readonly dir: string
  private readonly store: FileBlockStore
  private readonly signer: BftSigner
  /**
   * One verifier (and so one cache of checked signatures) for the state and
   * the consensus: a decided block's certificate is built from precommits
   * the consensus already checked, and its entries were checked when they
   * were submitted; with two caches every commit checked them all again
   * (in a CPU profile of the commit bench, ed25519 verification was the
   * largest single function).
   */
  private readonly verify = ed25519Verifier()
  private readonly log: BftLogger
  private wal?: FileWal
  private consensus?: Consensus
  private transport?: BftTransport
  private sync?: CriticalSync
  private started = false
  private nudgeTimer?: ReturnType<typeof setTimeout>
  /**
   * A validator just connected (we started, it restarted): re-send our open
   * height's votes and entries at once rather than at the next rebroadcast.
   * Debounced: connections come in bursts.
   */
  private readonly onConnect = (evt: CustomEvent<PeerId>): void => {
    const h = this.state.height()
    if (!this.state.validatorsAt(h + 1).has(evt.detail.toString())) return
    if (this.nudgeTimer !== undefined) return
    this.nudgeTimer = setTimeout(() => {
      this.nudgeTimer = undefined
      void this.consensus?.nudge()
    }, 50)
  }

  constructor (private readonly init: CriticalServiceInit, private readonly c: CriticalServiceComponents) {
    this.profile = bftTunables.create(init.profile, init.overrides)
    this.log = c.logger.child({ component: 'bft' })
    this.metrics = createBftMetrics(c.registry as Registry | undefined)
    this.dir = join(c.dataDir, 'bft')
    this.store = new FileBlockStore(this.dir, this.log)
    this.state = new CriticalState({ genesis: init.genesis, verify: this.verify, store: this.store, keyRules: init.keyRules, authorities: init.authorities, onStoreFailure: (err) => { this.fail(err) } })
    this.signer = ed25519Signer(c.privateKey, c.peerId)
  }

  /** Read view for other components (e.g. the config store's access policy). */
  get config (): CriticalConfig { return this.state }

  async start (): Promise<void> {
    if (this.started) return
    this.started = true
    const c = this.c
    await this.checkDataDir()
    try {
      await this.state.load()
    } catch (err) {
      // Checksums passed but a block does not verify: the file holds something we never wrote.
      if ((err as Error).name !== 'InvalidCertificateError') throw err
      throw new CorruptFileError(this.store.path, `${BLOCKS_FORMAT.name} holds a block that does not verify: ${(err as Error).message}`, BLOCKS_FORMAT.recovery)
    }
    this.metrics.height.set(this.state.height())
    this.state.addEventListener('commit', (evt) => {
      this.metrics.height.set(this.state.height())
      this.metrics.entriesCommitted.inc((evt as CustomEvent<Certificate>).detail.block.entries.length)
    })
    this.wal = new FileWal(this.dir, this.log)
    this.transport = new BftTransport({
      host: c.rpc,
      peers: c.peers,
      self: c.peerId,
      targets: () => {
        const h = this.state.height()
        return [...this.state.validatorsAt(h + 1).ids, ...this.state.validatorsAt(h + 2).ids]
      },
      deliver: async (from, msg) => { await this.consensus?.receive(from, msg) },
      timeoutMs: this.profile.streamTimeoutMs,
      logger: this.log,
      metrics: this.metrics
    })
    this.sync = new CriticalSync({
      host: c.rpc, peers: c.peers, pubsub: c.pubsub, state: this.state, intervalMs: this.profile.syncIntervalMs, timeoutMs: this.profile.streamTimeoutMs, logger: this.log, metrics: this.metrics
    })
    this.consensus = new Consensus({
      state: this.state,
      signer: this.signer,
      verify: this.verify,
      wal: this.wal,
      clock: systemClock,
      net: this.transport,
      timeouts: this.profile,
      metrics: this.metrics,
      logger: this.log,
      onDecide: (cert) => { if (this.isPublisher(cert)) void this.sync?.publish(cert) },
      onEvidence: (e) => { offenceSink(c.registry as Registry | undefined).record(e.validator, 'equivocation') },
      onHalt: (_fault, cause) => { this.fail(cause) }
    })
    c.peers.addEventListener('peer:connect', this.onConnect)
    await this.transport.start()
    await this.sync.start()
    await this.consensus.start()
    const h = this.state.height()
    this.log.info({
      network: this.init.genesis.networkId,
      genesis: hex(this.state.chain),
      height: h,
      validator: this.state.validatorsAt(h + 1).has(c.peerId),
      admin: this.state.adminsAt(h + 1).has(c.peerId)
    }, 'critical config started')
  }

  /** Fail-stop at runtime: the agent stops this component and reports the file. */
  private fail (err: unknown): void {
    this.log.error({ err }, 'critical config: durable state failed; stopping')
    this.c.faults?.report('critical', err)
  }

  async stop (): Promise<void> {
    if (!this.started) return
    this.started = false
    this.c.peers.removeEventListener('peer:connect', this.onConnect)
    clearTimeout(this.nudgeTimer)
    await this.consensus?.stop()
    await this.sync?.stop()
    await this.transport?.stop()
    await this.wal?.close()
    await this.store.close()
  }

  /**
   * Two validators gossip each certificate, not all: the block's proposer of
   * the deciding round and the next in line (one may crash right after
   * deciding). Every gossiped copy is verified by every node, so n copies
   * would cost n × nodes signature checks per block; catch-up covers the rest.
   */
  private isPublisher (cert: Certificate): boolean {
    const set = this.state.validatorsAt(cert.block.height)
    const h = cert.block.height
    return set.proposer(h, cert.round) === this.c.peerId || set.proposer(h, cert.round + 1) === this.c.peerId
  }

  /** A data dir belongs to one network: starting it with another genesis is refused. */
  private async checkDataDir (): Promise<void> {
    const path = join(this.dir, GENESIS_MARK_FILE)
    const ours = hex(genesisHash(this.init.genesis))
    const have = await readGenesisMark(path)
    if (have !== undefined && have.hash !== ours) {
      throw new InvalidGenesisError(`data dir ${this.c.dataDir} belongs to the network with genesis ${have.hash}, not ${ours}; use another --data-dir`)
    }
    if (have === undefined || have.legacy) await writeGenesisMark(path, ours)
  }

  status (): CriticalStatus {
    const { lastHeard, ...cs } = this.consensus?.status() ?? {
      height: this.state.height() + 1, round: 0, step: 'propose', active: false, validator: false, lockedRound: -1, validRound: -1, pending: 0, lastHeard: {}, evidence: [], fault: null
    } satisfies ConsensusStatus
    const h = this.state.height()
    const last = this.state.certificate(h)
    return {
      ...cs,
      validatorView: this.validatorView(lastHeard),
      networkId: this.init.genesis.networkId,
      genesis: hex(this.state.chain),
      committedHeight: h,
      validators: [...this.state.validatorsAt(h + 1).ids],
      admins: [...this.state.adminsAt(h + 1)].sort(),
      admin: this.state.adminsAt(h + 1).has(this.c.peerId),
      lastCommit: last === undefined
        ? null
        : { height: h, round: last.round, hash: hex(this.state.hashAt(h) as Uint8Array), time: last.block.time, entries: last.block.entries.length }
    }
  }

  /**
   * Sign `key = value` with this agent's key, hand it to the validators and
   * wait until it is committed. On timeout nothing has been applied: the
   * entry carries an expiry; no fresh block may include it afterwards, and we
   * wait past the expiry (plus clock-skew slack) before reporting failure.
   */
  async propose (key: string, value: string | null, opts: { timeoutMs?: number, signal?: AbortSignal } = {}): Promise<ProposeResult> {
    if (this.consensus === undefined) throw new Error('critical config not started')
    if (!this.state.adminsAt(this.state.height() + 1).has(this.c.peerId)) {
      throw new NotAdminError(`this agent (${this.c.peerId}) is not an admin of network ${this.init.genesis.networkId}; list it in the genesis admins or commit it to bft/admins`)
    }
    return await this.proposeSigned(key, value, opts)
  }

  /**
   * Like propose(), for an entry an authority other than the admin set
   * allows this agent to make (CriticalStateInit.authorities): its own key
   * hand-over, its own revocation. The validators' entry check decides.
   */
  async proposeOwn (key: string, value: string | null, opts: { timeoutMs?: number, signal?: AbortSignal } = {}): Promise<ProposeResult> {
    if (this.consensus === undefined) throw new Error('critical config not started')
    return await this.proposeSigned(key, value, opts)
  }

  /** Sign an entry with this agent's key (e.g. a join-token redemption carrying `grant`); nothing is submitted. */
  async signOwnEntry (key: string, value: string | null, expiresAt: number, grant?: Uint8Array): Promise<Entry> {
    return await signEntry(this.signer, this.state.chain, { key, value, nonce: new Uint8Array(randomBytes(16)), expiresAt, ...(grant !== undefined ? { grant } : {}) })
  }

  /**
   * Check an entry signed elsewhere (a joining peer's token redemption) as
   * the validators will, and hand it to them. Throws InvalidEntryError /
   * NotAdminError when it is unusable; resolves once it is queued.
   */
  async relay (entry: Entry): Promise<string> {
    if (this.consensus === undefined) throw new Error('critical config not started')
    return await this.consensus.submit(entry)
  }

  /** When a catch-up exchange with a peer last completed (sync.ts); undefined until one has. */
  get caughtUpAt (): number | undefined { return this.sync?.caughtUpAt }

  /** Fetch certified blocks from `peer` now (admission catching up before it judges the peer). */
  async syncFrom (peer: PeerId): Promise<number> {
    return await (this.sync?.syncWith(peer) ?? Promise.resolve(0))
  }

  private async proposeSigned (key: string, value: string | null, opts: { timeoutMs?: number, signal?: AbortSignal }): Promise<ProposeResult> {
    const consensus = this.consensus
    if (consensus === undefined) throw new Error('critical config not started')
    const wait = Math.min(opts.timeoutMs ?? this.profile.proposeWaitMs, MAX_ENTRY_TTL_MS - this.profile.clockSkewMs)
    const started = Date.now()
    const expiresAt = started + wait
    const entry = await this.signOwnEntry(key, value, expiresAt)
    const id = entryId(this.state.chain, entry)
    let resolve!: (c: Certificate) => void
    let reject!: (err: Error) => void
    const promise = new Promise<Certificate>((res, rej) => { resolve = res; reject = rej })
    const onCommit = (evt: Event): void => {
      const cert = (evt as CustomEvent<Certificate>).detail
      if (cert.block.entries.some(e => entryId(this.state.chain, e) === id)) resolve(cert)
    }
    this.state.addEventListener('commit', onCommit)
    const timer = setTimeout(() => {
      const view = this.validatorView(this.consensus?.status().lastHeard ?? {})
      reject(new CommitTimeoutError(`${key} not committed within ${wait} ms: ${describeValidatorView(view, Date.now())}; ` +
        'the proposal expired and will not be applied'))
    }, wait + this.profile.clockSkewMs)
    const onAbort = (): void => { reject(new CommitTimeoutError(`${key}: request aborted before commit; the proposal expires at ${new Date(expiresAt).toISOString()}`)) }
    opts.signal?.addEventListener('abort', onAbort)
    try {
      await consensus.submit(entry)
      const cert = await promise
      const latencyMs = Date.now() - started
      this.metrics.proposeLatency.observe(latencyMs / 1000)
      return { id, height: cert.block.height, certificate: cert, latencyMs }
    } finally {
      clearTimeout(timer)
      this.state.removeEventListener('commit', onCommit)
      opts.signal?.removeEventListener('abort', onAbort)
    }
  }

  private validatorView (lastHeard: Record<string, number>): ValidatorView {
    const set = this.state.validatorsAt(this.state.height() + 1)
    const peers = this.c.peers
    return validatorView({
      ids: set.ids,
      quorum: set.quorum,
      self: this.c.peerId,
      lastHeard,
      memberState: (id) => (this.c.membership?.get(id)?.state ?? 'unknown') as ValidatorMemberState,
      isConnected: (id) => {
        try { return peers.getConnections(peerIdOf(id)).length > 0 } catch { return false }
      }
    })
  }
}
