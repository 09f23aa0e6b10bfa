/**
 * The election simulator shared by the engine tests, on the shared seeded
 * network harness (test/sim): one virtual clock for every node, installed as
 * the global timers and Date the engine uses (so "overlap" is measured
 * exactly); gossip and DHT puts are messages of the seeded network, delivered
 * only between nodes that are up and in the same partition group. A DHT put
 * only STORES the record, in the node's own store and on the peers it
 * reaches (as kad-dht does: a stored record reaches nobody's lease book
 * until someone reads it; a provisional put nobody took is undone, as the
 * libp2p transport does), and a DHT get reads the stores of this node and the
 * peers it reaches, naming the store each record came from.
 *
 * Seeds: ELECTION_SEED=<n> sets the seed of the keys, the engines' jitter and
 * the random crash/restart storm (default 42); ELECTION_SEEDS=<count> runs
 * every test over seeds 1..count. A failing test prints the network's last
 * events.
 */
import { strict as assert } from 'node:assert'
import { generateKeyPairFromSeed } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import pino from 'pino'
import {
  ElectionEngine, FencingStore, electionMetrics, electionTunables, pickHolder, decodeLease,
  type ElectionConfig, type LeaseTransport, type SignedLease, type LeaseSource, type ElectedDetail, type DemotedDetail
} from '../../../protocols/election/index.js'
import type { Member } from '../../../protocols/membership/types.js'
import { prng } from '../../helpers/prng.js'
import { VirtualClock } from '../../sim/clock.js'
import { SimNetwork } from '../../sim/network.js'

export const CFG: ElectionConfig = electionTunables.validate({
  leaseMs: 5_000, renewIntervalMs: 1_600, contactLapseMs: 5_000, maxClockSkewMs: 200, claimSettleMs: 300, learnPeriodMs: 1_800, viewSettleMs: 500, unsettledClaimMs: 10_000, handoverSettleMs: 1_000,
  dhtTimeoutMs: 3_000, dhtRefreshMs: 4_000, dhtPutIntervalMs: 12_000, jitter: 0.1
}, 'sim')
export const ROLES = ['network', 'monitoring']
const logger = pino({ level: 'silent' })
const NET_DELAY = 5
const START_MS = 1_700_000_000_000

/** ELECTION_SEEDS=<count> runs every test once per seed 1..count; otherwise ELECTION_SEED (default 42). */
export const SEEDS = process.env.ELECTION_SEEDS !== undefined
  ? Array.from({ length: Number(process.env.ELECTION_SEEDS) }, (_, i) => i + 1)
  : [Number(process.env.ELECTION_SEED ?? 42)]

/** What travels between nodes: a lease by gossip, or a DHT put reaching a peer's store. */
interface LeaseMsg { sl: SignedLease, source: 'gossip' | 'dht' }

export interface Interval { node: string, role: string, term: number, start: number, end?: number }

export class World {
  readonly nodes = new Map<string, SimNode>()
  readonly intervals: Interval[] = []
  readonly net: SimNetwork<LeaseMsg>
  constructor (readonly clock: VirtualClock, readonly rand: () => number, readonly config: ElectionConfig = CFG) {
    this.net = new SimNetwork<LeaseMsg>({
      clock,
      rand,
      faults: { latencyMs: [NET_DELAY, NET_DELAY] },
      describe: m => `${m.source} ${m.sl.lease.role} t${m.sl.lease.term} holder ${m.sl.lease.holder.slice(-6)}`,
      label: id => id.slice(-6)
    })
  }

  reachable (a: SimNode, b: SimNode): boolean { return this.net.reachable(a.id, b.id) }
  changed (): void { for (const n of this.nodes.values()) if (n.up) n.membership.dispatchEvent(new CustomEvent('member:update')) }
  acting (role: string): SimNode[] { return [...this.nodes.values()].filter(n => n.up && n.engine.isActing(role)) }
  /** Apply the nodes' `group` numbers as the network's partition. */
  repartition (): void {
    const groups = new Map<number, string[]>()
    for (const n of this.nodes.values()) groups.set(n.group, [...(groups.get(n.group) ?? []), n.id])
    this.net.partition(groups.values())
  }
}

export class SimNode {
  private partitionGroup = 0
  private isDeaf = false
  /** Peers this node wrongly believes dead (asymmetric views). */
  blind = new Set<string>()
  /**
   * Its gossip reaches nobody (publish reports 0 recipients) while DHT puts
   * still land: a node whose gossip mesh has not formed again after a heal.
   */
  mute = false
  /**
   * Its DHT puts reach no peer's store (they land in its own only, as
   * kad-dht's do): a node whose DHT routing has not formed yet.
   */
  unheard = false
  /** Knows no other member at all (a joiner whose join has not gone through); its membership lists only itself. */
  stranger = false
  /** Its engine was told to join others (bootstrap peers): `ElectionEngineInit.joins`, read at (re)boot. */
  joins = false
  puts = 0
  gets = 0
  readonly membership = new EventTarget() as EventTarget & { self: () => Member, members: () => Member[] }
  readonly store = new Map<string, Uint8Array[]>()
  engine!: ElectionEngine
  metrics!: ReturnType<typeof electionMetrics>
  fencing = new FencingStore()
  private onLease?: (sl: SignedLease, s: LeaseSource) => void

  constructor (readonly world: World, readonly key: PrivateKey, readonly id: string, readonly region = 'eu') {
    // A perfect failure detector: a member is alive while reachable, and
    // last seen when it last was (membership's acks, as the engine reads them).
    const seenAt = new Map<string, number>()
    const member = (n: SimNode, state: Member['state']): Member => {
      if (state === 'alive') seenAt.set(n.id, Date.now())
      return { peerId: n.id, state, incarnation: 0, region: n.region, roles: ROLES, addrs: [], version: '1', lastSeen: seenAt.get(n.id) ?? 0 }
    }
    this.membership.self = () => member(this, 'alive')
    this.membership.members = () => this.stranger ? [member(this, 'alive')] : [...world.nodes.values()].map(n => member(n, n === this || (world.reachable(this, n) && !this.blind.has(n.id)) ? 'alive' : 'dead'))
    world.net.add(id, (_from, m) => {
      // A DHT put only stores the record on the peer; only gossip reaches its engine.
      if (m.source === 'dht') this.keep(m.sl)
      else this.onLease?.(m.sl, 'gossip')
    })
    this.boot()
  }

  /** Up: the network delivers to it and it can send; setting false is a crash of its host, true a restart. */
  get up (): boolean { return this.world.net.isUp(this.id) }
  set up (v: boolean) { if (v) this.world.net.restart(this.id); else this.world.net.crash(this.id) }

  /** Partition group: nodes reach each other only within one group. */
  get group (): number { return this.partitionGroup }
  set group (g: number) { this.partitionGroup = g; this.world.repartition() }

  /** Drops every gossip delivery (DHT puts still land): a node that missed renewals. */
  get deaf (): boolean { return this.isDeaf }
  set deaf (v: boolean) {
    this.isDeaf = v
    this.world.net.setNodeFaults(this.id, v ? { dropIn: 1, where: m => m.source === 'gossip' } : undefined)
  }

  boot (): void {
    const transport: LeaseTransport = {
      start: (cb) => { this.onLease = cb },
      stop: () => { this.onLease = undefined },
      gossip: async (sl) => this.mute ? 0 : this.world.net.broadcast(this.id, { sl, source: 'gossip' }),
      put: async (sl, _signal, opts) => {
        this.puts++
        const k = `${sl.lease.region}/${sl.lease.role}`
        const before = this.store.get(k)
        this.keep(sl)
        const acks = this.unheard ? 0 : this.world.net.broadcast(this.id, { sl, source: 'dht' })
        // As the libp2p transport does with kad-dht's own store: a provisional put nobody took is undone.
        if (acks === 0 && opts?.provisional === true) {
          if (before === undefined) this.store.delete(k)
          else this.store.set(k, before)
        }
        return acks
      },
      get: async (region, role) => {
        this.gets++
        const k = `${region}/${role}`
        // Like kad-dht: this node's own store answers too.
        const recs = [...this.world.nodes.values()].filter(n => n === this || this.world.reachable(this, n)).flatMap(n => (n.store.get(k) ?? []).map(r => ({ r, from: n.id })))
        return await Promise.all(recs.map(async ({ r, from }) => ({ ...await decodeLease(r, this.world.clock.now()), from })))
      }
    }
    this.metrics = electionMetrics()
    this.engine = new ElectionEngine({ config: this.world.config, eligible: ROLES, roles: ROLES, random: this.world.rand, joins: this.joins }, {
      peerId: this.id, privateKey: this.key, region: this.region, logger, membership: this.membership as any,
      transport, fencing: this.fencing, metrics: this.metrics
    })
    this.engine.addEventListener('role:elected', (e) => {
      const d = (e as CustomEvent<ElectedDetail>).detail
      this.world.intervals.push({ node: this.id, role: d.role, term: d.term, start: this.world.clock.now() })
    })
    this.engine.addEventListener('role:demoted', (e) => {
      const d = (e as CustomEvent<DemotedDetail>).detail
      const open = this.world.intervals.find(i => i.node === this.id && i.role === d.role && i.end === undefined)
      if (open !== undefined) open.end = this.world.clock.now()
    })
  }

  keep (sl: SignedLease): void {
    const k = `${sl.lease.region}/${sl.lease.role}`
    this.store.set(k, [...(this.store.get(k) ?? []), sl.record].slice(-4))
  }

  /** A crash: nothing leaves the node any more (what it sent is still delivered), its engine is gone. */
  async crash (): Promise<void> {
    this.up = false
    this.world.changed()
    // Close any acting interval at the crash instant: a dead process does not act.
    for (const i of this.world.intervals) if (i.node === this.id && i.end === undefined) i.end = this.world.clock.now()
    await this.engine.stop()
  }

  async restart (): Promise<void> {
    this.up = true
    this.boot()
    this.engine.start()
    this.world.changed()
  }
}

/**
 * One test's simulation, for the seed: registers the mocha hooks that make a
 * fresh virtual clock (installed as the global timers and Date) and PRNG
 * before each test, and afterwards stop every engine, print the network's
 * last events if the test failed, and put the real timers back.
 */
/** From start until every role has its first holder: the learn period, one renewal tick, the claim settle, and slack. */
export const ELECTED_MS = CFG.learnPeriodMs + CFG.renewIntervalMs + CFG.claimSettleMs + 500

export function useSimulation (seed: number, config: ElectionConfig = CFG): { makeWorld: (n: number, regions?: string[]) => Promise<World>, electedWorld: (n: number) => Promise<World> } {
  let clock: VirtualClock
  let rand: () => number
  let uninstall: () => void
  let world: World | undefined
  beforeEach(() => {
    rand = prng(seed)
    clock = new VirtualClock(START_MS)
    uninstall = clock.install()
  })
  afterEach(async function () {
    for (const n of world?.nodes.values() ?? []) if (n.up) { n.up = false; await n.engine.stop() }
    if (this.currentTest?.state === 'failed' && world !== undefined) {
      console.log(`last network events (ELECTION_SEED=${seed}):\n${world.net.formatTrace()}`)
    }
    world = undefined
    uninstall()
  })
  return {
    makeWorld: async (n, regions = ['eu']) => {
      world = new World(clock, rand, config)
      for (let i = 0; i < n; i++) {
        // Keys from the seeded PRNG too, so a seed replays the same holders and terms.
        const key = await generateKeyPairFromSeed('Ed25519', Uint8Array.from({ length: 32 }, () => Math.floor(rand() * 256)))
        const id = peerIdFromPrivateKey(key).toString()
        world.nodes.set(id, new SimNode(world, key, id, regions[i % regions.length]))
      }
      for (const node of world.nodes.values()) node.engine.start()
      return world
    },
    /** A world of n nodes in 'eu', run on the virtual clock until the first holders were elected (ELECTED_MS). */
    async electedWorld (n) {
      const world = await this.makeWorld(n)
      await world.clock.tickAsync(config.learnPeriodMs + config.renewIntervalMs + config.claimSettleMs + 500)
      return world
    }
  }
}

export function holderOf (world: World, role: string, region = 'eu'): string | undefined {
  const cands = [...world.nodes.values()].filter(n => n.up && n.region === region).map(n => ({ peerId: n.id, region: n.region, roles: ROLES }))
  return pickHolder(region, role, cands)
}

/** No two nodes act for the same role at the same instant (one clock for all). */
export function assertNoOverlap (world: World): void {
  for (const role of ROLES) {
    const iv = world.intervals.filter(i => i.role === role).map(i => ({ ...i, end: i.end ?? Infinity }))
    for (const a of iv) {
      for (const b of iv) {
        if (a === b || a.node === b.node) continue
        assert.ok(a.end <= b.start || b.end <= a.start, `overlap on ${role}: ${a.node.slice(-6)} t${a.term} [${a.start},${a.end}] vs ${b.node.slice(-6)} t${b.term} [${b.start},${b.end}]`)
      }
    }
  }
}

/** A fencing token (term, holder) is only ever activated by its holder: no term number shared by two holders either. */
export function assertUniqueTerms (world: World): void {
  for (const role of ROLES) {
    const byTerm = new Map<number, Set<string>>()
    for (const i of world.intervals.filter(i => i.role === role)) byTerm.set(i.term, (byTerm.get(i.term) ?? new Set()).add(i.node))
    for (const [term, holders] of byTerm) assert.equal(holders.size, 1, `term ${term} of ${role} acted by ${holders.size} holders`)
  }
}

/**
 * Forty rounds of a seeded storm: after a random pause below `maxPauseMs`, a
 * random node crashes (while more than two are up) or restarts; then every
 * node is restarted and the world runs until the roles settle. Asserts one
 * actor per role (the closest), no overlap, unique terms, and that the storm
 * caused at least six activations.
 */
export async function crashStorm (world: World, maxPauseMs: number): Promise<void> {
  const { clock, rand, config } = world
  const nodes = [...world.nodes.values()]
  for (let round = 0; round < 40; round++) {
    await clock.tickAsync(Math.floor(rand() * maxPauseMs))
    const n = nodes[Math.floor(rand() * nodes.length)]
    if (n.up && nodes.filter(x => x.up).length > 2) await n.crash()
    else if (!n.up) await n.restart()
  }
  for (const n of nodes) if (!n.up) await n.restart()
  await clock.tickAsync(config.learnPeriodMs + 2 * config.leaseMs + 2 * config.renewIntervalMs)
  for (const role of ROLES) {
    const acting = world.acting(role)
    assert.equal(acting.length, 1, `${role} has ${acting.length} actors after the storm`)
    assert.equal(acting[0].id, holderOf(world, role))
  }
  assertNoOverlap(world)
  assertUniqueTerms(world)
  assert.ok(world.intervals.length >= 6, `the storm caused only ${world.intervals.length} activations`)
}

