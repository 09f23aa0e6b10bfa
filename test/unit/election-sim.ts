/**
 * The election simulator shared by the engine tests: an in-memory network
 * with one fake clock for every node (so "overlap" is measured exactly),
 * gossip delivered only between nodes that are up and in the same partition
 * group, and a DHT whose puts only STORE the record on reachable peers (as
 * kad-dht does: a stored record reaches nobody's lease book until someone
 * reads it).
 */
import { strict as assert } from 'node:assert'
import type FakeTimers from '@sinonjs/fake-timers'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import pino from 'pino'
import {
  ElectionEngine, FencingStore, electionMetrics, pickHolder, decodeLease,
  type ElectionConfig, type LeaseTransport, type SignedLease, type LeaseSource, type ElectedDetail, type DemotedDetail
} from '../../protocols/election/index.js'
import type { Member } from '../../protocols/membership/types.js'

export const CFG: ElectionConfig = {
  leaseMs: 5_000, renewIntervalMs: 1_600, maxClockSkewMs: 200, claimSettleMs: 300, learnPeriodMs: 1_800, viewSettleMs: 500,
  dhtTimeoutMs: 3_000, dhtRefreshMs: 4_000, dhtPutIntervalMs: 12_000, provideIntervalMs: 60_000, provideSpreadMs: 1_000, jitter: 0.1
}
export const ROLES = ['network', 'monitoring']
const logger = pino({ level: 'silent' })
const NET_DELAY = 5

export interface Interval { node: string, role: string, term: number, start: number, end?: number }

export class World {
  readonly nodes = new Map<string, SimNode>()
  readonly intervals: Interval[] = []
  constructor (readonly clock: ReturnType<typeof FakeTimers.install>) {}
  reachable (a: SimNode, b: SimNode): boolean { return a !== b && a.up && b.up && a.group === b.group }
  changed (): void { for (const n of this.nodes.values()) if (n.up) n.membership.dispatchEvent(new CustomEvent('member:update')) }
  acting (role: string): SimNode[] { return [...this.nodes.values()].filter(n => n.up && n.engine.isActing(role)) }
}

let seed = 1
export function reseed (s: number): void { seed = s }
export function rand (): number { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 }

export class SimNode {
  up = true
  group = 0
  /** Peers this node wrongly believes dead (asymmetric views). */
  blind = new Set<string>()
  /** Drops every gossip delivery (DHT still works): a node that missed renewals. */
  deaf = false
  /**
   * Its gossip reaches nobody (publish reports 0 recipients) while DHT puts
   * still land: a node whose gossip mesh has not formed again after a heal.
   */
  mute = false
  puts = 0
  gets = 0
  readonly membership = new EventTarget() as EventTarget & { self: () => Member, members: () => Member[] }
  readonly store = new Map<string, Uint8Array[]>()
  engine!: ElectionEngine
  metrics!: ReturnType<typeof electionMetrics>
  fencing = new FencingStore()
  private onLease?: (sl: SignedLease, s: LeaseSource) => void

  constructor (readonly world: World, readonly key: PrivateKey, readonly id: string, readonly region = 'eu') {
    const member = (n: SimNode, state: Member['state']): Member => ({ peerId: n.id, state, incarnation: 0, region: n.region, roles: ROLES, addrs: [], version: '1', lastSeen: 0 })
    this.membership.self = () => member(this, 'alive')
    this.membership.members = () => [...world.nodes.values()].map(n => member(n, n === this || (world.reachable(this, n) && !this.blind.has(n.id)) ? 'alive' : 'dead'))
    this.boot()
  }

  boot (): void {
    const transport: LeaseTransport = {
      start: (cb) => { this.onLease = cb },
      stop: () => { this.onLease = undefined },
      gossip: async (sl) => this.send(sl),
      put: async (sl) => {
        this.puts++
        this.keep(sl)
        return this.send(sl, true)
      },
      get: async (region, role) => {
        this.gets++
        const k = `${region}/${role}`
        // Like kad-dht: this node's own store answers too.
        const recs = [...this.world.nodes.values()].filter(n => n === this || this.world.reachable(this, n)).flatMap(n => (n.store.get(k) ?? []).map(r => ({ r, from: n.id })))
        return await Promise.all(recs.map(async ({ r, from }) => ({ ...await decodeLease(r, this.world.clock.now), from })))
      },
      provide: async () => {},
      findProviders: async () => []
    }
    this.metrics = electionMetrics()
    this.engine = new ElectionEngine({ config: CFG, eligible: ROLES, roles: ROLES, random: rand }, {
      peerId: this.id, privateKey: this.key, region: this.region, logger, membership: this.membership as any,
      transport, fencing: this.fencing, metrics: this.metrics
    })
    this.engine.addEventListener('role:elected', (e) => {
      const d = (e as CustomEvent<ElectedDetail>).detail
      this.world.intervals.push({ node: this.id, role: d.role, term: d.term, start: this.world.clock.now })
    })
    this.engine.addEventListener('role:demoted', (e) => {
      const d = (e as CustomEvent<DemotedDetail>).detail
      const open = this.world.intervals.find(i => i.node === this.id && i.role === d.role && i.end === undefined)
      if (open !== undefined) open.end = this.world.clock.now
    })
  }

  keep (sl: SignedLease): void {
    const k = `${sl.lease.region}/${sl.lease.role}`
    this.store.set(k, [...(this.store.get(k) ?? []), sl.record].slice(-4))
  }

  /** Gossip (to every reachable peer's engine) or a DHT put (into their stores only; the count is the acks). */
  private send (sl: SignedLease, store = false): number {
    if (!store && this.mute) return 0
    let n = 0
    for (const peer of this.world.nodes.values()) {
      if (!this.world.reachable(this, peer)) continue
      n++
      setTimeout(() => {
        // Already in flight: delivered even if the sender died meanwhile.
        if (!peer.up || peer.group !== this.group) return
        if (store) peer.keep(sl)
        else if (!peer.deaf) peer.onLease?.(sl, 'gossip')
      }, NET_DELAY)
    }
    return n
  }

  /** A crash: nothing leaves the node any more, its engine is gone. */
  async crash (): Promise<void> {
    this.up = false
    this.world.changed()
    // Close any acting interval at the crash instant: a dead process does not act.
    for (const i of this.world.intervals) if (i.node === this.id && i.end === undefined) i.end = this.world.clock.now
    await this.engine.stop()
  }

  async restart (): Promise<void> {
    this.up = true
    this.boot()
    this.engine.start()
    this.world.changed()
  }
}

export async function makeWorld (clock: ReturnType<typeof FakeTimers.install>, n: number, regions: string[] = ['eu']): Promise<World> {
  const world = new World(clock)
  for (let i = 0; i < n; i++) {
    const key = await generateKeyPair('Ed25519')
    const id = peerIdFromPrivateKey(key).toString()
    world.nodes.set(id, new SimNode(world, key, id, regions[i % regions.length]))
  }
  for (const node of world.nodes.values()) node.engine.start()
  return world
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
