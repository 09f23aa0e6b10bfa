/**
 * N membership nodes in one process: each is the daemon's own `Swim`
 * (protocols/membership, the factory the agent uses), with its own seeded
 * Ed25519 identity, state table, Lifeguard awareness, broadcast queue and
 * monitoring rings, over the fabric's simulated network on one virtual
 * clock. Time moves only when the cluster is run, so an hour of cluster
 * time costs what the protocol computes, not an hour.
 *
 * What each node is given instead of the daemon's: the fabric for streams
 * and connections (sim-host.ts), a pubsub that reaches nobody, a clock scope
 * that dies with the node, the cluster's seeded PRNG, and verify-once.ts for
 * signature checks. Signing is real (every record and claim a node makes is
 * Ed25519-signed with its key), and so are the encoded frames and their sizes.
 */
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { pino } from 'pino'
import { Registry } from 'prom-client'
import { VirtualClock } from '../sim/clock.js'
import { prng } from '../prng.js'
import { fastSigningKey } from '../../lib/ed25519-key.js'
import type { Timekeeper } from '../../lib/clock.js'
import { membership, type Membership, type MembershipConfig, type Member } from '../../protocols/membership/index.js'
import { Fabric, type NodeState } from './fabric.js'
import { SimHost } from './sim-host.js'
import { peerIdOf } from '../../wire/peer-ids.js'
import { verifyOnce, type VerifyOnce } from './verify-once.js'

export interface ClusterInit {
  n: number
  seed: number
  /** Resolved membership tunables (membershipConfig(profile, overrides)). */
  config: MembershipConfig
  /** One-way latency of a frame, virtual ms. @default [0.2, 1] (a LAN) */
  latencyMs?: readonly [number, number]
  /** Probability that a frame is lost. @default 0 */
  loss?: number
  /** Bootstrap nodes every joiner dials one of (at random). @default 3 */
  bootstraps?: number
  /** Joiners started per virtual second after the bootstraps. @default 100 */
  joinPerSecond?: number
}

export interface SimNode {
  id: string
  index: number
  host: SimHost
  swim: Membership
  /** Other members this node holds alive, kept from its member events (counting its table each check costs O(N)). */
  aliveCount: number
}

/** What an observer node saw about a subject, virtual ms since the cluster's epoch. */
export interface Sighting { observer: string, subject: string, at: number }

const EPOCH_MS = 1_700_000_000_000
const log = pino({ level: 'silent' })

export class SimCluster {
  readonly clock: VirtualClock
  readonly fabric: Fabric
  readonly nodes: SimNode[] = []
  readonly verifier: VerifyOnce
  /** Every suspicion and death any node recorded (the `member:suspect` / `member:dead` events). */
  readonly suspects: Sighting[] = []
  readonly deaths: Sighting[] = []
  readonly rand: () => number
  private readonly byId = new Map<string, SimNode>()

  private constructor (readonly init: ClusterInit) {
    this.clock = new VirtualClock(EPOCH_MS)
    this.rand = prng(init.seed)
    this.fabric = new Fabric({ clock: this.clock, rand: this.rand, latencyMs: init.latencyMs ?? [0.2, 1], loss: init.loss ?? 0 })
    this.verifier = verifyOnce()
  }

  /** Build N nodes (keys derived from the seed); none is started yet. */
  static async create (init: ClusterInit): Promise<SimCluster> {
    const c = new SimCluster(init)
    for (let i = 0; i < init.n; i++) await c.addNode(i)
    return c
  }

  /** Virtual ms since the cluster's epoch. */
  now (): number { return this.clock.now() - EPOCH_MS }

  node (id: string): SimNode { return this.byId.get(id) as SimNode }
  stateOf (id: string): NodeState { return this.fabric.stateOf(id) }
  upNodes (): SimNode[] { return this.nodes.filter(n => this.stateOf(n.id) === 'up') }

  private async addNode (index: number): Promise<void> {
    const seed = new Uint8Array(32)
    new DataView(seed.buffer).setUint32(0, this.init.seed >>> 0)
    new DataView(seed.buffer).setUint32(4, index)
    const privateKey = fastSigningKey(await generateKeyPairFromSeed('Ed25519', seed))
    const id = peerIdFromPrivateKey(privateKey).toString()
    const host = new SimHost(this.fabric, id, index)
    const scope = this.fabric.net.clockOf(id)
    // Wall time in whole ms as Date.now gives it (signed records carry it as an integer); durations exact.
    const clock: Timekeeper = { now: () => Math.floor(scope.now()), setTimeout: scope.setTimeout, clearTimeout: scope.clearTimeout, monotonic: scope.now }
    const swim = membership({ config: this.init.config, region: 'sim', version: 'sim', verifyUpdate: this.verifier.verify })({
      transport: host.transport,
      peers: host,
      pubsub: host.pubsub,
      clock,
      random: this.rand,
      peerId: id,
      privateKey,
      region: 'sim',
      logger: log,
      registry: new Registry()
    })
    const node: SimNode = { id, index, host, swim, aliveCount: 0 }
    const record = (list: Sighting[]) => (evt: CustomEvent<Member>): void => {
      list.push({ observer: id, subject: evt.detail.peerId, at: this.now() })
    }
    swim.addEventListener('member:suspect', record(this.suspects))
    swim.addEventListener('member:dead', record(this.deaths))
    // Every change of a member's state is a member:update, except a first join and an eviction.
    const states = new Map<string, string>()
    const track = (evt: CustomEvent<Member>): void => {
      const m = evt.detail
      const was = states.get(m.peerId)
      if (was === m.state) return
      if (was === 'alive') node.aliveCount--
      if (m.state === 'alive') node.aliveCount++
      states.set(m.peerId, m.state)
    }
    for (const e of ['member:join', 'member:update', 'member:dead'] as const) swim.addEventListener(e, track)
    this.nodes.push(node)
    this.byId.set(id, node)
  }

  /**
   * Start every node: the bootstraps first, then the rest at
   * `joinPerSecond`, each dialing a random bootstrap (its first connection
   * triggers the join push-pull, as in the daemon). Returns once all started.
   */
  async start (): Promise<void> {
    const boots = Math.min(this.init.bootstraps ?? 3, this.nodes.length)
    const gap = 1000 / (this.init.joinPerSecond ?? 100)
    for (const [i, n] of this.nodes.entries()) {
      await n.swim.start()
      if (i > 0) {
        const target = this.nodes[i < boots ? 0 : Math.floor(this.rand() * boots)]
        void n.host.dial(peerIdOf(target.id)).catch(() => {})
      }
      if (i >= boots - 1) await this.run(gap)
    }
  }

  /** Move virtual time forward by `ms`, firing every event due (each one's promise chains settle first). */
  async run (ms: number): Promise<void> {
    // The clock's default settle (one real macrotask) lets every promise
    // chain an event started run to its end before the next event fires.
    await this.clock.run({ until: this.clock.now() + ms })
  }

  /** Run until `done()` holds (checked every `stepMs`) or `maxMs` passed; returns the virtual ms it took, or undefined. */
  async runUntil (done: () => boolean, maxMs: number, stepMs = 1_000, onStep?: (elapsedMs: number) => void): Promise<number | undefined> {
    const start = this.now()
    while (this.now() - start < maxMs) {
      if (done()) return this.now() - start
      await this.run(stepMs)
      onStep?.(this.now() - start)
    }
    return done() ? this.now() - start : undefined
  }

  /** True when every running node sees every other running node alive, and nothing else. */
  converged (): boolean {
    const up = this.upNodes()
    if (!up.every(n => n.aliveCount === up.length - 1)) return false
    const upIds = new Set(up.map(n => n.id))
    for (const n of up) {
      const alive = n.swim.alivePeers()
      if (alive.length !== up.length - 1 || !alive.every(m => upIds.has(m.peerId))) return false
    }
    return true
  }

  /** Kill nodes: `crash` (the process dies, its host answers) or `silent` (the host is lost). */
  kill (ids: string[], how: 'crash' | 'silent'): void {
    for (const id of ids) {
      if (how === 'crash') this.fabric.crash(id)
      else this.fabric.silence(id)
    }
  }
}

